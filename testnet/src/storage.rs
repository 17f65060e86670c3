//! Starting the devnet's 0G storage side: `zgs-dev` nodes (sharded or replicated) and an
//! indexer over them, as separate processes like the real thing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::manifest::Process;
use crate::process::{self, READY_TIMEOUT, Spawned};
use crate::zgs::ShardConfig;

/// Storage nodes started by default: two, each holding half of every file.
pub const DEFAULT_STORAGE_NODES: usize = 2;
/// Upper bound on `--storage-nodes`.
pub const MAX_STORAGE_NODES: usize = 16;
const READY_MARKER: &str = "zgs-dev listening on ";

/// How the storage nodes share the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageLayout {
    /// Node i of n keeps shard i of n (n rounded up to a power of two): one copy in all.
    Sharded,
    /// Every node keeps everything: n copies.
    Replicated,
}

impl std::str::FromStr for StorageLayout {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "sharded" => Ok(StorageLayout::Sharded),
            "replicated" => Ok(StorageLayout::Replicated),
            other => Err(format!(
                "{other:?} is not a storage layout: use sharded or replicated"
            )),
        }
    }
}

/// The storage side of a running devnet, as recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StorageInfo {
    pub layout: StorageLayout,
    pub nodes: Vec<StorageNodeInfo>,
    /// The indexer's JSON-RPC URL.
    pub indexer: String,
}

/// One dev storage node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StorageNodeInfo {
    pub url: String,
    pub shard_id: u64,
    pub num_shard: u64,
    pub data_dir: PathBuf,
}

impl StorageNodeInfo {
    pub fn shard(&self) -> ShardConfig {
        ShardConfig {
            shard_id: self.shard_id,
            num_shard: self.num_shard,
        }
    }
}

/// Options for one `zgs-dev node` process.
#[derive(Debug, Clone)]
pub struct StorageNodeOptions {
    pub name: String,
    pub data_dir: PathBuf,
    pub shard: ShardConfig,
    /// `127.0.0.1:0` for a fresh node; a node's old address to restart it in place.
    pub listen: String,
    /// Fault injection: serve every segment with one bit flipped.
    pub corrupt_downloads: bool,
}

/// Finds the `zgs-dev` binary: `$ZGVAULT_ZGS_DEV`, beside the running executable (or its
/// parent, for test binaries in `target/*/deps`), then `PATH`.
pub fn find_zgs_dev() -> Result<PathBuf> {
    process::find_workspace_binary("zgs-dev", "ZGVAULT_ZGS_DEV", "zgvault-testnet")
}

/// Starts one storage node following `flow` on `rpc_url`; returns the process and its URL.
pub(crate) fn start_node(
    zgs_dev: &Path,
    state_dir: &Path,
    rpc_url: &str,
    flow: alloy::primitives::Address,
    start_block: u64,
    opts: &StorageNodeOptions,
    detached: bool,
) -> Result<(Spawned, String)> {
    let log = state_dir.join(format!("{}.log", opts.name));
    let mut args = vec![
        "node".to_owned(),
        "--listen".to_owned(),
        opts.listen.clone(),
        "--data-dir".to_owned(),
        opts.data_dir.display().to_string(),
        "--rpc-url".to_owned(),
        rpc_url.to_owned(),
        "--flow".to_owned(),
        flow.to_string(),
        "--start-block".to_owned(),
        start_block.to_string(),
        "--shard-id".to_owned(),
        opts.shard.shard_id.to_string(),
        "--num-shard".to_owned(),
        opts.shard.num_shard.to_string(),
    ];
    if opts.corrupt_downloads {
        args.push("--corrupt-downloads".to_owned());
    }
    let mut proc = Spawned::start("zgs-dev", zgs_dev, &args, &log, detached)?;
    let addr = proc.wait_for_line(READY_MARKER, READY_TIMEOUT)?;
    Ok((proc, format!("http://{addr}")))
}

/// Starts the indexer over `nodes`.
pub(crate) fn start_indexer(
    zgs_dev: &Path,
    state_dir: &Path,
    nodes: &[StorageNodeInfo],
    detached: bool,
) -> Result<(Spawned, String)> {
    let log = state_dir.join("indexer.log");
    let mut args = vec![
        "indexer".to_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
    ];
    for n in nodes {
        args.push("--node".to_owned());
        args.push(format!("{}@{}/{}", n.url, n.shard_id, n.num_shard));
    }
    let mut proc = Spawned::start("zgs-dev", zgs_dev, &args, &log, detached)?;
    let addr = proc.wait_for_line(READY_MARKER, READY_TIMEOUT)?;
    Ok((proc, format!("http://{addr}")))
}

/// Shard of node `i` of `n` under `layout`.
pub(crate) fn shard_of(layout: StorageLayout, i: usize, n: usize) -> ShardConfig {
    match layout {
        StorageLayout::Replicated => ShardConfig::ALL,
        StorageLayout::Sharded => ShardConfig {
            shard_id: i as u64,
            num_shard: (n.max(1) as u64).next_power_of_two(),
        },
    }
}

/// The manifest record of a started process.
pub(crate) fn record(name: &str, proc: &Spawned) -> Process {
    Process {
        name: name.to_owned(),
        tool: proc.tool.to_owned(),
        pid: proc.pid(),
        log: proc.log.clone(),
    }
}
