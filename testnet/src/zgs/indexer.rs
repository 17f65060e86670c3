//! A minimal 0G indexer: the node list and file locations (`0g-protocol.md` §3.6).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::B256;
use alloy::transports::http::reqwest;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::error::RpcError;
use crate::error::{Error, Result};
use zgvault_client::storage::{FileInfo, ShardConfig, ShardedNode, ShardedNodes};

/// Largest request the indexer reads.
const MAX_INDEXER_REQUEST: usize = 64 << 10;
/// How long the indexer waits for one storage node.
const NODE_TIMEOUT: Duration = Duration::from_secs(5);

/// A storage node the indexer knows.
#[derive(Debug, Clone)]
pub struct IndexerNode {
    pub url: String,
    pub config: ShardConfig,
}

#[derive(Debug)]
struct IndexerState {
    nodes: Vec<IndexerNode>,
    since: u64,
    http: reqwest::Client,
}

/// Serves `indexer_getShardedNodes` and `indexer_getFileLocations` until `shutdown`.
pub async fn run_indexer(
    listener: TcpListener,
    nodes: Vec<IndexerNode>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(NODE_TIMEOUT)
        .build()
        .map_err(|e| Error::Internal {
            what: "making the indexer's HTTP client",
            message: e.to_string(),
        })?;
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let state = Arc::new(IndexerState { nodes, since, http });
    let router = Router::new()
        .route("/", post(handle))
        .layer(DefaultBodyLimit::max(MAX_INDEXER_REQUEST))
        .with_state(state);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Storage {
            what: "the indexer".to_owned(),
            message: e.to_string(),
        })
}

async fn handle(State(state): State<Arc<IndexerState>>, body: Bytes) -> axum::Json<Value> {
    let call: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return axum::Json(reply(Value::Null, Err(RpcError::Parse(e.to_string())))),
    };
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let method = call.get("method").and_then(Value::as_str).unwrap_or("");
    let params = call.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "indexer_getShardedNodes" => Ok(json!(ShardedNodes {
            trusted: state
                .nodes
                .iter()
                .map(|n| sharded(n, state.since))
                .collect(),
            discovered: Vec::new(),
        })),
        "indexer_getFileLocations" => locations(&state, &params).await,
        "" => Err(RpcError::InvalidRequest("no method".into())),
        other => Err(RpcError::MethodNotFound(other.to_owned())),
    };
    axum::Json(reply(id, result))
}

fn reply(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()}),
    }
}

fn sharded(n: &IndexerNode, since: u64) -> ShardedNode {
    ShardedNode {
        url: n.url.clone(),
        config: n.config,
        latency: 0,
        since,
    }
}

/// The nodes that hold the file finalized; "file not found" when none does, as the Go
/// indexer answers.
async fn locations(state: &IndexerState, params: &Value) -> Result<Value, RpcError> {
    let root: B256 = params
        .get(0)
        .cloned()
        .ok_or_else(|| RpcError::params("missing parameter root"))
        .and_then(|v| {
            serde_json::from_value(v).map_err(|e| RpcError::params(format!("root: {e}")))
        })?;
    let mut found = Vec::new();
    for node in &state.nodes {
        let call =
            json!({"jsonrpc": "2.0", "id": 1, "method": "zgs_getFileInfo", "params": [root, true]});
        let Ok(resp) = state.http.post(&node.url).json_body(&call).send().await else {
            continue; // a dead node simply holds nothing
        };
        let Ok(body) = resp.bytes().await else {
            continue;
        };
        let info = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("result").cloned())
            .and_then(|r| serde_json::from_value::<Option<FileInfo>>(r).ok())
            .flatten();
        if info.is_some_and(|i| i.finalized) {
            found.push(sharded(node, state.since));
        }
    }
    if found.is_empty() {
        return Err(RpcError::params("file not found"));
    }
    Ok(json!(found))
}

/// reqwest's `json` feature is not enabled in our build; post JSON by hand.
trait JsonBody {
    fn json_body(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(v.to_string())
    }
}
