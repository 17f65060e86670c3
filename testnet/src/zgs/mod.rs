//! `zgs-dev`: a 0G-compatible storage node for the devnet.
//!
//! It speaks the `zgs_*` JSON-RPC subset that clients use (`0g-protocol.md` §3), follows
//! the devnet Flow's `Submit` events, checks every uploaded segment (size, proof, shard),
//! keeps data on disk across restarts and finalizes a file once this node's share of its
//! segments is present. A minimal indexer (`indexer_*`) lists the nodes and finds files.

mod error;
mod indexer;
mod rpc;
mod segment;
mod store;
mod sync;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use tokio::net::TcpListener;

pub use error::{
    INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RpcError,
};
pub use indexer::{IndexerNode, run_indexer};
pub use rpc::{
    MAX_BATCH_CALLS, MAX_CONCURRENT_UPLOADS, MAX_QUEUED_UPLOADS, MAX_REQUEST_BYTES,
    MAX_SEGMENTS_PER_CALL,
};
pub use store::{MAX_CACHE_BYTES, MAX_CACHE_FILE_SIZE, MAX_DOWNLOAD_CHUNKS, Store, SyncProgress};
pub use sync::{MAX_BLOCK_RANGE, RETRY_AFTER};
pub use zgvault_client::storage::{
    FileInfo, NetworkIdentity, SegmentWithProof, ShardConfig, ShardedNode, ShardedNodes, Status,
    Transaction,
};

use crate::error::{Error, Result};

/// How often the node asks the chain for new blocks.
pub const DEFAULT_POLL: Duration = Duration::from_millis(200);

/// How to run one dev storage node.
#[derive(Debug, Clone)]
pub struct ZgsConfig {
    pub data_dir: PathBuf,
    /// The chain's JSON-RPC URL.
    pub rpc_url: String,
    /// The Flow contract to follow.
    pub flow: Address,
    /// First block to scan for `Submit` events (the Flow's deployment block).
    pub start_block: u64,
    pub shard: ShardConfig,
    pub poll: Duration,
    /// Fault injection: serve every segment with one bit flipped.
    pub corrupt_downloads: bool,
}

/// Serves the node on `listener` until `shutdown` completes; the chain follower stops
/// with it. Tests bind port 0 and pass the listener in.
pub async fn run(
    listener: TcpListener,
    config: ZgsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    config
        .shard
        .validate()
        .map_err(|message| Error::Option { message })?;
    let url = crate::devnet::parse_url(&config.rpc_url)?.expose().clone();
    let chain_id = ProviderBuilder::new()
        .connect_http(url.clone())
        .get_chain_id()
        .await
        .map_err(|e| Error::chain(&config.rpc_url, "eth_chainId", e))?;
    let dir = config.data_dir.clone();
    let shard = config.shard;
    let store = tokio::task::spawn_blocking(move || Store::open(&dir, shard))
        .await
        .map_err(|e| Error::Storage {
            what: format!("opening the store in {}", config.data_dir.display()),
            message: e.to_string(),
        })?
        .map_err(|e| Error::Storage {
            what: format!("opening the store in {}", config.data_dir.display()),
            message: e.to_string(),
        })?;
    let store = Arc::new(store);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(sync::follow(
        store.clone(),
        url,
        config.flow,
        config.start_block,
        config.poll,
        stop_rx,
    ));
    let state = Arc::new(rpc::NodeState::new(
        store,
        chain_id,
        config.flow,
        config.corrupt_downloads,
    ));
    let addr = listener.local_addr().ok();
    axum::serve(listener, rpc::router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await
        .map_err(|e| Error::Storage {
            what: match addr {
                Some(a) => format!("the storage node on {a}"),
                None => "the storage node".to_owned(),
            },
            message: e.to_string(),
        })?;
    let _ = follower.await;
    Ok(())
}
