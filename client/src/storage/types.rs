//! The JSON shapes of the `zgs_*` RPC, as the real storage node and the official clients
//! use them (`0g-protocol.md` §3.2). Field names are camelCase on the wire.

use crate::zg::SegmentProof;
use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// A file as the node learnt it from the Flow's `Submit` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// Always empty on a storage node (KV stream ids).
    pub stream_ids: Vec<B256>,
    /// Always empty on a storage node; the Rust node serialises it as a number array.
    pub data: Vec<u8>,
    pub data_merkle_root: B256,
    /// `[depth, root]` pairs where depth = height + 1.
    pub merkle_nodes: Vec<(u64, B256)>,
    /// Flow position (in chunks) of the file's first chunk.
    pub start_entry_index: u64,
    /// File size in bytes.
    pub size: u64,
    /// The submission index (txSeq).
    pub seq: u64,
}

/// What `zgs_getFileInfo*` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    pub tx: Transaction,
    pub finalized: bool,
    pub is_cached: bool,
    pub uploaded_seg_num: u64,
    pub pruned: bool,
}

/// One segment with its proof, in both directions of the RPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentWithProof {
    /// The file root.
    pub root: B256,
    /// Standard base64 with padding.
    pub data: String,
    /// File-local segment index.
    pub index: u64,
    pub proof: SegmentProof,
    pub file_size: u64,
}

/// `zgs_getShardConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardConfig {
    pub shard_id: u64,
    /// A power of two.
    pub num_shard: u64,
}

impl ShardConfig {
    /// The whole flow on one node.
    pub const ALL: ShardConfig = ShardConfig {
        shard_id: 0,
        num_shard: 1,
    };

    /// Whether this node keeps flow segment `global_index`.
    pub fn owns(&self, global_index: u64) -> bool {
        self.num_shard <= 1 || global_index % self.num_shard == self.shard_id
    }

    /// Checks `num_shard` is a power of two and `shard_id` is below it.
    pub fn validate(&self) -> Result<(), String> {
        if !self.num_shard.is_power_of_two() {
            return Err(format!("numShard {} is not a power of two", self.num_shard));
        }
        if self.shard_id >= self.num_shard {
            return Err(format!(
                "shardId {} must be below numShard {}",
                self.shard_id, self.num_shard
            ));
        }
        Ok(())
    }
}

/// `zgs_getStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub connected_peers: u64,
    pub log_sync_height: u64,
    pub log_sync_block: B256,
    pub next_tx_seq: u64,
    pub network_identity: NetworkIdentity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkIdentity {
    pub chain_id: u64,
    pub flow_address: Address,
    pub p2p_protocol_version: ProtocolVersion,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolVersion {
    pub major: u64,
    pub minor: u64,
    pub build: u64,
}

/// One entry of the indexer's `indexer_getShardedNodes` / `indexer_getFileLocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardedNode {
    pub url: String,
    pub config: ShardConfig,
    pub latency: u64,
    pub since: u64,
}

/// `indexer_getShardedNodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardedNodes {
    pub trusted: Vec<ShardedNode>,
    pub discovered: Vec<ShardedNode>,
}
