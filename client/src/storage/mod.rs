//! 0G Storage over the network: JSON-RPC clients for storage nodes and the indexer, and
//! verified, resumable upload and download (`0g-protocol.md` §3).

mod download;
mod rpc;
mod types;
mod upload;
mod verify;

pub use download::{
    DEFAULT_PARALLEL, DownloadOptions, DownloadReport, download_file, locate_nodes,
};
pub use rpc::{IndexerClient, MAX_RESPONSE_BYTES, NODE_TIMEOUT, NodeClient};
pub use types::{
    FileInfo, NetworkIdentity, ProtocolVersion, SegmentWithProof, ShardConfig, ShardedNode,
    ShardedNodes, Status, Transaction,
};
pub use upload::{
    DEFAULT_BATCH, DEFAULT_IN_FLIGHT, DEFAULT_RETRIES, FIRST_BACKOFF, MAX_BACKOFF, UploadOptions,
    UploadReceipt, upload_file,
};
pub use verify::{decode_segment_data, verify_segment};
