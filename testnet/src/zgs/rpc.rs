//! The `zgs_*` JSON-RPC server: parsing, limits, and one function per method.

use std::sync::Arc;

use alloy::primitives::{Address, B256};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::error::RpcError;
use super::segment;
use super::store::Store;
use zgvault_client::storage::{NetworkIdentity, ProtocolVersion, SegmentWithProof, Status};

/// Largest request body: a batch of 10 segments in base64 is about 3.5 MiB.
pub const MAX_REQUEST_BYTES: usize = 32 << 20;
/// Calls in one JSON-RPC batch.
pub const MAX_BATCH_CALLS: usize = 64;
/// Segments in one `zgs_uploadSegments*` call.
pub const MAX_SEGMENTS_PER_CALL: usize = 64;
/// Upload calls processed at once; more wait their turn.
pub const MAX_CONCURRENT_UPLOADS: usize = 16;
/// Upload calls allowed to wait for a turn; past this callers get `too many data writing`
/// and retry. The official TS SDK sends every segment of a file at once (256 calls for
/// 64 MiB), and the real node queues them rather than refusing, so the queue is deep.
pub const MAX_QUEUED_UPLOADS: usize = 4096;

/// What every method handler can reach.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) store: Arc<Store>,
    pub(crate) chain_id: u64,
    pub(crate) flow: Address,
    /// Fault injection for tests: flip a bit in every segment this node serves.
    pub(crate) corrupt_downloads: bool,
    uploads: Arc<Semaphore>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
}

impl NodeState {
    pub(crate) fn new(
        store: Arc<Store>,
        chain_id: u64,
        flow: Address,
        corrupt_downloads: bool,
    ) -> Self {
        NodeState {
            store,
            chain_id,
            flow,
            corrupt_downloads,
            uploads: Arc::new(Semaphore::new(MAX_CONCURRENT_UPLOADS)),
            queued: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }
}

/// The HTTP router: JSON-RPC 2.0 on `POST /`.
pub(crate) fn router(state: Arc<NodeState>) -> Router {
    Router::new()
        .route("/", post(handle))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

async fn handle(State(node): State<Arc<NodeState>>, body: Bytes) -> axum::Json<Value> {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return axum::Json(error_reply(Value::Null, &RpcError::Parse(e.to_string()))),
    };
    let reply = match request {
        Value::Array(calls) if calls.is_empty() || calls.len() > MAX_BATCH_CALLS => error_reply(
            Value::Null,
            &RpcError::InvalidRequest(format!(
                "a batch must hold 1 to {MAX_BATCH_CALLS} calls, got {}",
                calls.len()
            )),
        ),
        Value::Array(calls) => {
            let mut out = Vec::with_capacity(calls.len());
            for call in calls {
                out.push(call_one(&node, call).await);
            }
            Value::Array(out)
        }
        call => call_one(&node, call).await,
    };
    axum::Json(reply)
}

async fn call_one(node: &Arc<NodeState>, call: Value) -> Value {
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = call.get("method").and_then(Value::as_str) else {
        return error_reply(id, &RpcError::InvalidRequest("no method".into()));
    };
    let params = match call.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(p)) => p.clone(),
        Some(_) => {
            return error_reply(
                id,
                &RpcError::InvalidRequest("params must be an array".into()),
            );
        }
    };
    match dispatch(node, method, params).await {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => {
            tracing::debug!(method, "rpc error: {e}");
            error_reply(id, &e)
        }
    }
}

fn error_reply(id: Value, e: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()})
}

fn param<T: DeserializeOwned>(params: &[Value], i: usize, name: &str) -> Result<T, RpcError> {
    let v = params
        .get(i)
        .ok_or_else(|| RpcError::params(format!("missing parameter {name}")))?;
    serde_json::from_value(v.clone()).map_err(|e| RpcError::params(format!("{name}: {e}")))
}

/// Runs a blocking store operation off the event loop.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RpcError> + Send + 'static,
) -> Result<T, RpcError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RpcError::internal(format!("worker failed: {e}")))?
}

async fn dispatch(node: &Arc<NodeState>, method: &str, p: Vec<Value>) -> Result<Value, RpcError> {
    let store = node.store.clone();
    match method {
        "zgs_getStatus" => {
            let sync = store.sync_progress();
            Ok(to_json(&Status {
                connected_peers: 0,
                log_sync_height: sync.next_block.saturating_sub(1),
                log_sync_block: sync.last_block_hash,
                next_tx_seq: store.next_tx_seq(),
                network_identity: NetworkIdentity {
                    chain_id: node.chain_id,
                    flow_address: node.flow,
                    p2p_protocol_version: ProtocolVersion {
                        major: 0,
                        minor: 4,
                        build: 0,
                    },
                },
            }))
        }
        "zgs_getShardConfig" => Ok(to_json(&store.shard())),
        "zgs_getFileInfo" => {
            let root: B256 = param(&p, 0, "root")?;
            let need_available: bool = param(&p, 1, "needAvailable").unwrap_or(false);
            Ok(to_json(&store.file_info_by_root(&root, need_available)))
        }
        "zgs_getFileInfoByTxSeq" => {
            let seq: u64 = param(&p, 0, "txSeq")?;
            Ok(to_json(&store.file_info_by_seq(seq)))
        }
        "zgs_checkFileFinalized" => {
            let info = match p.first() {
                Some(Value::String(_)) => {
                    store.file_info_by_root(&param::<B256>(&p, 0, "txSeqOrRoot")?, true)
                }
                _ => store.file_info_by_seq(param(&p, 0, "txSeqOrRoot")?),
            };
            Ok(to_json(&info.map(|i| i.finalized)))
        }
        "zgs_uploadSegment" => upload(node, vec![param(&p, 0, "segment")?], None).await,
        "zgs_uploadSegmentByTxSeq" => {
            upload(
                node,
                vec![param(&p, 0, "segment")?],
                Some(param(&p, 1, "txSeq")?),
            )
            .await
        }
        "zgs_uploadSegments" => upload(node, param(&p, 0, "segments")?, None).await,
        "zgs_uploadSegmentsByTxSeq" => {
            upload(
                node,
                param(&p, 0, "segments")?,
                Some(param(&p, 1, "txSeq")?),
            )
            .await
        }
        "zgs_downloadSegment" => {
            let seq = seq_for_root(&store, &param(&p, 0, "root")?);
            download(
                node,
                seq,
                param(&p, 1, "startIndex")?,
                param(&p, 2, "endIndex")?,
            )
            .await
        }
        "zgs_downloadSegmentByTxSeq" => {
            let seq = Some(param(&p, 0, "txSeq")?);
            download(
                node,
                seq,
                param(&p, 1, "startIndex")?,
                param(&p, 2, "endIndex")?,
            )
            .await
        }
        "zgs_downloadSegmentWithProof" => {
            let seq = seq_for_root(&store, &param(&p, 0, "root")?);
            download_with_proof(node, seq, param(&p, 1, "index")?).await
        }
        "zgs_downloadSegmentWithProofByTxSeq" => {
            let seq = Some(param(&p, 0, "txSeq")?);
            download_with_proof(node, seq, param(&p, 1, "index")?).await
        }
        other => Err(RpcError::MethodNotFound(other.to_owned())),
    }
}

/// Serialises a result; our result types always serialise.
fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn seq_for_root(store: &Store, root: &B256) -> Option<u64> {
    let seqs = store.seqs_of(root);
    seqs.iter()
        .copied()
        .find(|s| store.file_info_by_seq(*s).is_some_and(|i| i.finalized))
        .or(seqs.first().copied())
}

async fn upload(
    node: &Arc<NodeState>,
    segments: Vec<SegmentWithProof>,
    seq: Option<u64>,
) -> Result<Value, RpcError> {
    if segments.len() > MAX_SEGMENTS_PER_CALL {
        return Err(RpcError::params(format!(
            "too many segments in one call: {} > {MAX_SEGMENTS_PER_CALL}",
            segments.len()
        )));
    }
    let _permit = {
        use std::sync::atomic::Ordering;
        let waiting = node.queued.fetch_add(1, Ordering::SeqCst);
        let permit = if waiting >= MAX_QUEUED_UPLOADS {
            None
        } else {
            node.uploads.clone().acquire_owned().await.ok()
        };
        node.queued.fetch_sub(1, Ordering::SeqCst);
        permit.ok_or_else(|| RpcError::params("too many data writing"))?
    };
    let store = node.store.clone();
    blocking(move || {
        for seg in &segments {
            let data = segment::decode_data(seg)?;
            match store.put_segment(seq, seg, &data) {
                Ok(()) => {}
                // Several segments of a batch may finish the file; the rest are no-ops.
                Err(RpcError::AlreadyFinalized) if segments.len() > 1 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Value::Null)
    })
    .await
}

async fn download(
    node: &Arc<NodeState>,
    seq: Option<u64>,
    start: u64,
    end: u64,
) -> Result<Value, RpcError> {
    let Some(seq) = seq else {
        return Ok(Value::Null);
    };
    let store = node.store.clone();
    let corrupt = node.corrupt_downloads;
    let data = blocking(move || store.read_chunks(seq, start, end)).await?;
    Ok(match data {
        Some(mut d) => {
            if corrupt {
                flip_a_bit(&mut d);
            }
            Value::String(base64::engine::general_purpose::STANDARD.encode(d))
        }
        None => Value::Null,
    })
}

async fn download_with_proof(
    node: &Arc<NodeState>,
    seq: Option<u64>,
    index: u64,
) -> Result<Value, RpcError> {
    let Some(seq) = seq else {
        return Ok(Value::Null);
    };
    let store = node.store.clone();
    let corrupt = node.corrupt_downloads;
    let found = blocking(move || store.segment_with_proof(seq, index)).await?;
    let Some((tx, proof, mut data)) = found else {
        return Ok(Value::Null);
    };
    if corrupt {
        flip_a_bit(&mut data);
    }
    let seg = SegmentWithProof {
        root: tx.data_merkle_root,
        data: base64::engine::general_purpose::STANDARD.encode(&data),
        index,
        proof,
        file_size: tx.size,
    };
    serde_json::to_value(seg).map_err(|e| RpcError::internal(e.to_string()))
}

fn flip_a_bit(data: &mut [u8]) {
    if let Some(b) = data.first_mut() {
        *b ^= 0x01;
    }
}
