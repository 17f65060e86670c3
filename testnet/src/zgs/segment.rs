//! Checking an uploaded segment the way the real node does (`0g-protocol.md` §3.3): the
//! same checks a client makes on download, with the node's error texts.

use zgvault_client::storage::{SegmentWithProof, decode_segment_data, verify_segment};
use zgvault_client::zg::FileLayout;

use super::error::RpcError;

/// Decodes a segment's payload (bounded before decoding).
pub(crate) fn decode_data(seg: &SegmentWithProof) -> Result<Vec<u8>, RpcError> {
    decode_segment_data(seg).map_err(RpcError::params)
}

/// Index, size and proof of an uploaded segment against the file's layout and root.
pub(crate) fn verify(
    layout: &FileLayout,
    seg: &SegmentWithProof,
    data: &[u8],
) -> Result<(), RpcError> {
    verify_segment(layout, &seg.root, seg, data).map_err(|e| match e {
        zgvault_client::Error::SegmentOutOfRange { index, segments } => RpcError::params(format!(
            "segment index {index} out of range: the file has {segments} segments"
        )),
        zgvault_client::Error::SegmentLength {
            index,
            expected,
            got,
            ..
        } => RpcError::params(format!(
            "invalid data length: segment {index} must be {expected} bytes, got {got}"
        )),
        other => RpcError::params(format!("invalid proof: {other}")),
    })
}
