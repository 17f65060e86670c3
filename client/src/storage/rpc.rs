//! JSON-RPC clients for 0G storage nodes (`zgs_*`) and the indexer (`indexer_*`).

use std::time::Duration;

use alloy::primitives::B256;
use alloy::transports::http::reqwest;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::types::{FileInfo, SegmentWithProof, ShardConfig, ShardedNodes, Status};
use crate::error::Error;

/// How long one storage-node call may take (a 10-segment batch is about 3.5 MiB).
pub const NODE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from a node: one segment with proof in base64 is about 350 KiB.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// A client for one storage node.
#[derive(Debug, Clone)]
pub struct NodeClient {
    url: String,
    http: reqwest::Client,
}

impl NodeClient {
    /// A client for the node at `url` (e.g. `http://127.0.0.1:5678`).
    pub fn new(url: impl Into<String>) -> Result<Self, Error> {
        Ok(NodeClient {
            url: url.into(),
            http: http_client()?,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn status(&self) -> Result<Status, Error> {
        self.call("zgs_getStatus", json!([])).await
    }

    pub async fn shard_config(&self) -> Result<ShardConfig, Error> {
        self.call("zgs_getShardConfig", json!([])).await
    }

    pub async fn file_info(
        &self,
        root: B256,
        need_available: bool,
    ) -> Result<Option<FileInfo>, Error> {
        self.call("zgs_getFileInfo", json!([root, need_available]))
            .await
    }

    pub async fn file_info_by_tx_seq(&self, seq: u64) -> Result<Option<FileInfo>, Error> {
        self.call("zgs_getFileInfoByTxSeq", json!([seq])).await
    }

    pub async fn upload_segments_by_tx_seq(
        &self,
        segments: &[SegmentWithProof],
        seq: u64,
    ) -> Result<(), Error> {
        let _: Value = self
            .call("zgs_uploadSegmentsByTxSeq", json!([segments, seq]))
            .await?;
        Ok(())
    }

    pub async fn download_segment_with_proof_by_tx_seq(
        &self,
        seq: u64,
        index: u64,
    ) -> Result<Option<SegmentWithProof>, Error> {
        self.call("zgs_downloadSegmentWithProofByTxSeq", json!([seq, index]))
            .await
    }

    async fn call<P: Serialize, T: DeserializeOwned>(
        &self,
        method: &'static str,
        params: P,
    ) -> Result<T, Error> {
        call(&self.http, &self.url, method, params).await
    }
}

/// A client for a 0G indexer.
#[derive(Debug, Clone)]
pub struct IndexerClient {
    url: String,
    http: reqwest::Client,
}

impl IndexerClient {
    pub fn new(url: impl Into<String>) -> Result<Self, Error> {
        Ok(IndexerClient {
            url: url.into(),
            http: http_client()?,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every node the indexer trusts or discovered.
    pub async fn sharded_nodes(&self) -> Result<ShardedNodes, Error> {
        call(&self.http, &self.url, "indexer_getShardedNodes", json!([])).await
    }

    /// The nodes holding `root`; empty when none does.
    pub async fn file_locations(&self, root: B256) -> Result<Vec<super::ShardedNode>, Error> {
        match call::<_, Option<Vec<super::ShardedNode>>>(
            &self.http,
            &self.url,
            "indexer_getFileLocations",
            json!([root]),
        )
        .await
        {
            Ok(nodes) => Ok(nodes.unwrap_or_default()),
            Err(Error::NodeRejected { data, message, .. })
                if data
                    .as_deref()
                    .unwrap_or(&message)
                    .contains("file not found") =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }
}

fn http_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(NODE_TIMEOUT)
        .build()
        .map_err(|e| Error::Internal {
            what: if e.is_builder() {
                "HTTP client configuration"
            } else {
                "HTTP client"
            },
        })
}

async fn call<P: Serialize, T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    method: &'static str,
    params: P,
) -> Result<T, Error> {
    let unreachable = |message: String| Error::NodeUnreachable {
        url: url.to_owned(),
        method,
        message,
    };
    let malformed = |message: String| Error::NodeMalformed {
        url: url.to_owned(),
        method,
        message,
    };
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut resp = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(unreachable(format!("HTTP {}", resp.status())));
    }
    // Read with a cap: a node must not make us buffer without bound.
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(e.to_string()))? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(malformed(format!(
                "answer larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    let reply: Value =
        serde_json::from_slice(&bytes).map_err(|e| malformed(format!("not JSON: {e}")))?;
    if let Some(err) = reply.get("error") {
        return Err(Error::NodeRejected {
            url: url.to_owned(),
            method,
            code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_owned(),
            data: err.get("data").map(|d| match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
        });
    }
    let result = reply.get("result").cloned().unwrap_or(Value::Null);
    serde_json::from_value(result).map_err(|e| malformed(e.to_string()))
}

impl Error {
    /// Whether a node refused because it is busy (`too many data writing`): retry later.
    pub fn is_node_busy(&self) -> bool {
        matches!(self, Error::NodeRejected { message, data, .. }
            if message.contains("too many data writing")
                || data.as_deref().is_some_and(|d| d.contains("too many data writing")))
    }

    /// Whether a node says the file is complete already (clients treat it as success).
    pub fn is_already_finalized(&self) -> bool {
        matches!(self, Error::NodeRejected { message, data, .. }
            if message.contains("already uploaded and finalized")
                || data.as_deref().is_some_and(|d| d.contains("already uploaded and finalized")))
    }
}
