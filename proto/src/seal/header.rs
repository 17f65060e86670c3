//! The sealed-file header: encoding, structural decoding (no key), and verification (with K).

use std::fmt;

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{
    CHUNK_SIZE, CHUNK_SIZE_OFFSET, HEADER_LEN, KEY_CHECK_OFFSET, MAC_OFFSET, MAGIC,
    MAX_MEDIA_TYPE_LEN, MAX_NAME_LEN, MAX_PLAINTEXT_LEN, METADATA_LEN, METADATA_OFFSET, Metadata,
    SALT_LEN, SALT_OFFSET, SUITE_OFFSET, Suite, TAG_LEN, VERSION, VERSION_OFFSET,
    cipher::{ChunkAead, FileKeys, SuiteAead, key_check},
};
use crate::{
    error::{Error, Result},
    key::FileKey,
};

/// Length of the header hash used as associated data of every chunk (SHA-256).
pub const HEADER_HASH_LEN: usize = 32;

/// A structurally valid header: magic, version, suite and chunk size checked, not yet
/// authenticated. Call [`SealedHeader::open_metadata`] with K to authenticate it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedHeader {
    bytes: Box<[u8; HEADER_LEN]>,
    suite: Suite,
}

/// What a verified header gives the reader.
pub(crate) struct VerifiedHeader {
    pub(crate) metadata: Metadata,
    pub(crate) chunks: ChunkAead,
    pub(crate) hash: [u8; HEADER_HASH_LEN],
}

impl SealedHeader {
    /// Decodes the header at the start of `bytes` (extra bytes after [`HEADER_LEN`] are
    /// ignored: they are the body). Checks, in order: magic, version, suite, chunk size, length.
    /// Never panics, whatever the input.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let magic_len = bytes.len().min(MAGIC.len());
        let (found, expected) = (bytes.get(..magic_len), MAGIC.get(..magic_len));
        if found != expected {
            return Err(Error::NotSealedFile {
                found_hex: hex::encode(found.unwrap_or(&[])),
            });
        }
        let truncated = || Error::TruncatedHeader {
            expected: HEADER_LEN,
            got: bytes.len(),
        };
        let version = *bytes.get(VERSION_OFFSET).ok_or_else(truncated)?;
        if version == 1 {
            return Err(Error::RetiredFormat { got: version });
        }
        if version != VERSION {
            return Err(Error::UnsupportedVersion {
                got: version,
                supported: VERSION,
            });
        }
        let suite = Suite::from_id(*bytes.get(SUITE_OFFSET).ok_or_else(truncated)?)?;
        let chunk_size = bytes
            .get(CHUNK_SIZE_OFFSET..SALT_OFFSET)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(truncated)?;
        if chunk_size as usize != CHUNK_SIZE {
            return Err(Error::UnsupportedChunkSize {
                got: chunk_size,
                expected: CHUNK_SIZE as u32,
            });
        }
        let header = bytes
            .get(..HEADER_LEN)
            .and_then(|b| <[u8; HEADER_LEN]>::try_from(b).ok())
            .ok_or_else(truncated)?;
        Ok(Self {
            bytes: Box::new(header),
            suite,
        })
    }

    /// The raw header bytes.
    pub fn as_bytes(&self) -> &[u8; HEADER_LEN] {
        &self.bytes
    }

    /// The cipher suite named by the header.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The per-file salt.
    pub fn salt(&self) -> [u8; SALT_LEN] {
        let mut salt = [0; SALT_LEN];
        if let Some(src) = self.bytes.get(SALT_OFFSET..METADATA_OFFSET) {
            salt.copy_from_slice(src);
        }
        salt
    }

    /// SHA-256 of the whole header: the associated data of every chunk.
    pub fn hash(&self) -> [u8; HEADER_HASH_LEN] {
        Sha256::digest(self.bytes.as_slice()).into()
    }

    /// Authenticates the header under `key` and decrypts its metadata, without touching the
    /// body (for example to show name and size after downloading only the first bytes).
    pub fn open_metadata(&self, key: &FileKey) -> Result<Metadata> {
        Ok(self.verify(key)?.metadata)
    }

    /// Builds and encodes the header for a new file.
    pub(crate) fn seal(
        key: &FileKey,
        suite: Suite,
        salt: &[u8; SALT_LEN],
        metadata: &Metadata,
    ) -> Result<(Self, VerifiedHeader)> {
        metadata.validate()?;
        let keys = FileKeys::derive(key, salt, suite)?;
        let mut bytes = Box::new([0u8; HEADER_LEN]);
        let (prefix, rest) = bytes.split_at_mut(METADATA_OFFSET);
        prefix[..VERSION_OFFSET].copy_from_slice(&MAGIC);
        prefix[VERSION_OFFSET] = VERSION;
        prefix[SUITE_OFFSET] = suite.id();
        prefix[CHUNK_SIZE_OFFSET..SALT_OFFSET].copy_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
        prefix[SALT_OFFSET..].copy_from_slice(salt);

        let (meta_ct, _) = rest.split_at_mut(MAC_OFFSET - METADATA_OFFSET);
        let (meta_body, meta_tag) = meta_ct.split_at_mut(METADATA_LEN);
        meta_body.copy_from_slice(encode_metadata(metadata).as_slice());
        let tag = SuiteAead::new(suite, &keys.metadata)
            .seal_in_place(metadata_nonce(suite), prefix, meta_body)
            .map_err(|()| Error::Internal {
                what: "metadata encryption",
            })?;
        meta_tag.copy_from_slice(&tag);

        let mac = keys.header_mac(&bytes[..MAC_OFFSET])?;
        bytes[MAC_OFFSET..KEY_CHECK_OFFSET].copy_from_slice(&mac);
        bytes[KEY_CHECK_OFFSET..].copy_from_slice(&key_check(key)?);

        let header = Self { bytes, suite };
        let hash = header.hash();
        let chunks = ChunkAead::new(suite, &keys);
        Ok((
            header,
            VerifiedHeader {
                metadata: metadata.clone(),
                chunks,
                hash,
            },
        ))
    }

    /// Checks the key check and the MAC, then decrypts and decodes the metadata.
    pub(crate) fn verify(&self, key: &FileKey) -> Result<VerifiedHeader> {
        let bytes = self.bytes.as_slice();
        let (macced, after) = bytes.split_at(MAC_OFFSET);
        let (mac, stored_check) = after.split_at(KEY_CHECK_OFFSET - MAC_OFFSET);
        let check_ok: bool = key_check(key)?.ct_eq(stored_check).into();
        let keys = FileKeys::derive(key, &self.salt(), self.suite)?;
        let mac_ok = keys.verify_header_mac(macced, mac)?;
        // The key check is outside the MAC, so the two results together tell a wrong key
        // apart from a modified header (see README, "Verification order").
        match (check_ok, mac_ok) {
            (true, true) => {}
            (true, false) => return Err(Error::HeaderTampered),
            (false, true) => return Err(Error::KeyCheckTampered),
            (false, false) => return Err(Error::WrongKey),
        }

        let (prefix, meta_ct) = macced.split_at(METADATA_OFFSET);
        let (meta_body, meta_tag) = meta_ct.split_at(METADATA_LEN);
        let mut plain = Zeroizing::new([0u8; METADATA_LEN]);
        plain.copy_from_slice(meta_body);
        SuiteAead::new(self.suite, &keys.metadata)
            .open_in_place(
                metadata_nonce(self.suite),
                prefix,
                plain.as_mut_slice(),
                meta_tag,
            )
            .map_err(|()| Error::MetadataMalformed {
                reason: "it does not decrypt",
            })?;
        let metadata = decode_metadata(plain.as_slice())?;
        Ok(VerifiedHeader {
            metadata,
            chunks: ChunkAead::new(self.suite, &keys),
            hash: self.hash(),
        })
    }
}

impl fmt::Debug for SealedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedHeader")
            .field("suite", &self.suite)
            .field("salt", &hex::encode(self.salt()))
            .finish_non_exhaustive()
    }
}

/// A fresh random salt from the OS RNG.
pub(crate) fn random_salt() -> Result<[u8; SALT_LEN]> {
    let mut salt = [0; SALT_LEN];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|source| Error::Rng { source })?;
    Ok(salt)
}

/// The metadata key is used for exactly one encryption (it is derived from a fresh salt), so a
/// fixed all-zero nonce is safe.
fn metadata_nonce(suite: Suite) -> &'static [u8] {
    const ZEROS: [u8; 24] = [0; 24];
    ZEROS.get(..suite.nonce_len()).unwrap_or(&ZEROS)
}

/// Fuzzing hook: the metadata block decoder, reachable without forging a header MAC.
#[doc(hidden)]
pub fn decode_metadata_block_for_fuzzing(block: &[u8]) -> Result<Metadata> {
    decode_metadata(block)
}

/// `size u64 BE ‖ name_len u8 ‖ name ‖ type_len u8 ‖ type ‖ zeros` to [`METADATA_LEN`].
/// The caller has validated the lengths.
fn encode_metadata(metadata: &Metadata) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(METADATA_LEN));
    out.extend_from_slice(&metadata.size.to_be_bytes());
    for field in [metadata.name.as_bytes(), metadata.media_type.as_bytes()] {
        // Validated to be <= 255 bytes, so the length fits the u8 prefix.
        out.push(u8::try_from(field.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(field);
    }
    out.resize(METADATA_LEN, 0);
    out
}

/// Inverse of [`encode_metadata`], with every length and the padding checked.
fn decode_metadata(plain: &[u8]) -> Result<Metadata> {
    let malformed = |reason| Error::MetadataMalformed { reason };
    let size = plain
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or(malformed("block too short"))?;
    if size > MAX_PLAINTEXT_LEN {
        return Err(malformed("plaintext size above the format maximum"));
    }
    let mut pos = 8;
    let mut field = |max: usize, what: &'static str| -> Result<String> {
        let len = usize::from(*plain.get(pos).ok_or(malformed("block too short"))?);
        if len > max {
            return Err(malformed(what));
        }
        let bytes = plain
            .get(pos + 1..pos + 1 + len)
            .ok_or(malformed("block too short"))?;
        pos += 1 + len;
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("a text field is not UTF-8"))
    };
    let name = field(MAX_NAME_LEN, "file name too long")?;
    let media_type = field(MAX_MEDIA_TYPE_LEN, "media type too long")?;
    let padding = plain.get(pos..).ok_or(malformed("block too short"))?;
    if padding.iter().any(|&b| b != 0) {
        return Err(malformed("non-zero padding"));
    }
    Ok(Metadata {
        name,
        media_type,
        size,
    })
}

/// Size check for the tag so the constants stay in sync with the AEADs.
const _: () = assert!(TAG_LEN == 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_rejects_bad_padding() {
        let meta = Metadata::new("data.csv", "text/csv", 12345);
        let enc = encode_metadata(&meta);
        assert_eq!(enc.len(), METADATA_LEN);
        assert_eq!(decode_metadata(&enc).unwrap(), meta);
        let mut bad = enc.to_vec();
        bad[METADATA_LEN - 1] = 1;
        assert!(matches!(
            decode_metadata(&bad),
            Err(Error::MetadataMalformed { .. })
        ));
        let mut bad = enc.to_vec();
        bad[9] = 0xff; // invalid UTF-8 in the name
        assert!(matches!(
            decode_metadata(&bad),
            Err(Error::MetadataMalformed { .. })
        ));
    }

    #[test]
    fn decode_reports_fields_in_order() {
        let key = FileKey::from_slice(&[7; 32]).unwrap();
        let (header, _) =
            SealedHeader::seal(&key, Suite::Aes256Gcm, &[1; SALT_LEN], &Metadata::default())
                .unwrap();
        let bytes = header.as_bytes().to_vec();
        assert_eq!(SealedHeader::decode(&bytes).unwrap(), header);
        assert!(matches!(
            SealedHeader::decode(b"ZGV"),
            Err(Error::TruncatedHeader { got: 3, .. })
        ));
        assert!(matches!(
            SealedHeader::decode(b"PK\x03\x04"),
            Err(Error::NotSealedFile { .. })
        ));
        let mut v = bytes.clone();
        v[VERSION_OFFSET] = 3;
        assert!(matches!(
            SealedHeader::decode(&v),
            Err(Error::UnsupportedVersion { got: 3, .. })
        ));
        v[VERSION_OFFSET] = 1;
        assert!(matches!(
            SealedHeader::decode(&v),
            Err(Error::RetiredFormat { got: 1 })
        ));
        let mut v = bytes.clone();
        v[SUITE_OFFSET] = 9;
        assert!(matches!(
            SealedHeader::decode(&v),
            Err(Error::UnknownSuite { got: 9 })
        ));
        let mut v = bytes.clone();
        v[CHUNK_SIZE_OFFSET + 3] = 1;
        assert!(matches!(
            SealedHeader::decode(&v),
            Err(Error::UnsupportedChunkSize { .. })
        ));
        assert!(matches!(
            SealedHeader::decode(&bytes[..HEADER_LEN - 1]),
            Err(Error::TruncatedHeader { got, .. }) if got == HEADER_LEN - 1
        ));
        assert_eq!(header.open_metadata(&key).unwrap(), Metadata::default());
    }
}
