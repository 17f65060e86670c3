//! Following the Flow contract's `Submit` events, as the real node's log sync does.

use std::sync::Arc;
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use tokio::sync::watch;
use zgvault_client::zg::{Submission, SubmissionNode};
use zgvault_contracts::Flow;

use super::store::{Store, SyncProgress};
use zgvault_client::storage::Transaction;

/// Blocks scanned per `eth_getLogs` call.
pub const MAX_BLOCK_RANGE: u64 = 1_000;
/// Wait after a failed chain call before trying again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Polls the chain for `Submit` events until `shutdown` turns true. Chain errors are
/// logged and retried: a node whose chain is briefly away keeps serving what it has.
pub(crate) async fn follow(
    store: Arc<Store>,
    rpc_url: alloy::transports::http::reqwest::Url,
    flow: Address,
    start_block: u64,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let provider = ProviderBuilder::new().connect_http(rpc_url);
    loop {
        let wait = match sync_once(&provider, &store, flow, start_block).await {
            Ok(true) => Duration::ZERO, // more blocks waiting: go on at once
            Ok(false) => poll,
            Err(e) => {
                tracing::warn!("chain sync failed, retrying: {e}");
                RETRY_AFTER
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Scans the next range of blocks. Returns whether more blocks are already waiting.
async fn sync_once(
    provider: &impl Provider,
    store: &Arc<Store>,
    flow: Address,
    start_block: u64,
) -> Result<bool, String> {
    let head = provider
        .get_block_number()
        .await
        .map_err(|e| format!("eth_blockNumber: {e}"))?;
    let from = store.sync_progress().next_block.max(start_block);
    if from > head {
        return Ok(false);
    }
    let to = head.min(from + MAX_BLOCK_RANGE - 1);
    let filter = Filter::new()
        .address(flow)
        .event_signature(Flow::Submit::SIGNATURE_HASH)
        .from_block(from)
        .to_block(to);
    let logs = provider
        .get_logs(&filter)
        .await
        .map_err(|e| format!("eth_getLogs {from}..={to}: {e}"))?;
    for log in logs {
        let event = log
            .log_decode::<Flow::Submit>()
            .map_err(|e| format!("undecodable Submit event in block {from}..={to}: {e}"))?;
        let tx = transaction_of(&event.inner.data)?;
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.add_tx(tx))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let hash = provider
        .get_block_by_number(BlockNumberOrTag::Number(to))
        .await
        .map_err(|e| format!("eth_getBlockByNumber {to}: {e}"))?
        .map(|b| b.header.hash)
        .unwrap_or(B256::ZERO);
    let progress = SyncProgress {
        next_block: to + 1,
        last_block_hash: hash,
    };
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.set_sync_progress(progress))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(to < head)
}

/// The node's view of a submission (§2.4): root = right fold of the node roots, depth =
/// height + 1.
fn transaction_of(e: &Flow::Submit) -> Result<Transaction, String> {
    let small = |v: U256, what: &str| -> Result<u64, String> {
        u64::try_from(v).map_err(|_| format!("Submit event {what} {v} does not fit in 64 bits"))
    };
    let nodes = e
        .submission
        .nodes
        .iter()
        .map(|n| {
            Ok(SubmissionNode {
                root: n.root,
                height: small(n.height, "height")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let submission = Submission {
        length: small(e.submission.length, "length")?,
        tags: e.submission.tags.clone(),
        nodes,
    };
    let root = submission
        .root()
        .ok_or_else(|| "Submit event without nodes".to_owned())?;
    Ok(Transaction {
        stream_ids: Vec::new(),
        data: Vec::new(),
        data_merkle_root: root,
        merkle_nodes: submission
            .nodes
            .iter()
            .map(|n| (n.height + 1, n.root))
            .collect(),
        start_entry_index: small(e.startPos, "startPos")?,
        size: submission.length,
        seq: small(e.submissionIndex, "submissionIndex")?,
    })
}
