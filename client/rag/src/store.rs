//! The stored form of one ingested file: its plaintext source (to rebuild chunks, the keyword
//! index and tables on open), each chunk's hash and its vector (so opening never re-embeds).
//! Always written through `AtRest`, never in the clear.
//!
//! Layout: `MAGIC ‖ u64 LE header length ‖ header (JSON) ‖ vectors (f32 LE, n × dim)`.

use serde::{Deserialize, Serialize};

use crate::chunk::FileKind;

const MAGIC: &[u8; 8] = b"ZGRAGF01";

/// Everything about a file except its vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHeader {
    pub(crate) file_id: String,
    pub(crate) name: String,
    pub(crate) kind: FileKind,
    /// The embedding model of the vectors.
    pub(crate) model: String,
    pub(crate) dim: usize,
    /// SHA-256 (hex) of each chunk's text, in chunk order; one vector each.
    pub(crate) hashes: Vec<String>,
    pub(crate) source: String,
}

pub(crate) fn encode(header: &FileHeader, vectors: &[f32]) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap_or_default();
    let mut out = Vec::with_capacity(16 + json.len() + vectors.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for v in vectors {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

pub(crate) fn decode(bytes: &[u8]) -> Result<(FileHeader, Vec<f32>), String> {
    let rest = bytes.strip_prefix(MAGIC).ok_or("not a RAG file record")?;
    let (len, rest) = rest.split_at_checked(8).ok_or("truncated")?;
    let len = u64::from_le_bytes(len.try_into().map_err(|_| "length")?);
    let len = usize::try_from(len).map_err(|_| "length")?;
    let (json, vecs) = rest.split_at_checked(len).ok_or("truncated header")?;
    let header: FileHeader = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    if vecs.len() % 4 != 0 || vecs.len() / 4 != header.hashes.len() * header.dim {
        return Err("vector block does not match the chunk count".into());
    }
    let vectors = vecs
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((header, vectors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_mismatch() {
        let h = FileHeader {
            file_id: "f".into(),
            name: "a.txt".into(),
            kind: FileKind::Text,
            model: "m".into(),
            dim: 2,
            hashes: vec!["00".into(), "11".into()],
            source: "hello".into(),
        };
        let bytes = encode(&h, &[1.0, 2.0, 3.0, -4.5]);
        let (back, v) = decode(&bytes).expect("decode");
        assert_eq!(back.hashes, h.hashes);
        assert_eq!(v, vec![1.0, 2.0, 3.0, -4.5]);
        assert!(decode(&bytes[..bytes.len() - 4]).is_err());
        assert!(decode(b"nonsense").is_err());
    }
}
