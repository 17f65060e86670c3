//! Checking a segment against a file root: what a storage node does on upload and what a
//! client does on download (`0g-protocol.md` §1.5, §3.3).

use alloy::primitives::B256;
use base64::Engine;

use super::types::SegmentWithProof;
use crate::error::Error;
use crate::zg::{FileLayout, SEGMENT_SIZE, segment_root};

/// Decodes a segment's base64 payload, refusing anything longer than a segment could be
/// before decoding it.
pub fn decode_segment_data(seg: &SegmentWithProof) -> Result<Vec<u8>, String> {
    let max_b64 = SEGMENT_SIZE.div_ceil(3) * 4;
    if seg.data.len() > max_b64 {
        return Err(format!(
            "segment {} data is {} base64 characters, more than a segment can be",
            seg.index,
            seg.data.len()
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(seg.data.as_bytes())
        .map_err(|e| format!("segment {} data is not base64: {e}", seg.index))
}

/// Checks that `data` is segment `seg.index` of the file `root` of `layout.size()` bytes:
/// length (whole chunks of real data), and the proof of its re-padded root.
pub fn verify_segment(
    layout: &FileLayout,
    root: &B256,
    seg: &SegmentWithProof,
    data: &[u8],
) -> Result<(), Error> {
    let range = layout.upload_range(seg.index)?;
    let expected = range.end - range.start;
    if data.len() as u64 != expected {
        return Err(Error::SegmentLength {
            index: seg.index,
            file_size: layout.size(),
            expected,
            got: data.len() as u64,
        });
    }
    let leaf = segment_root(data, layout.segment_chunks(seg.index)?);
    seg.proof
        .verify(root, &leaf, seg.index, layout.segments_in_tree())
}
