//! Uploading a file to 0G Storage: pay for it once on the Flow contract, then send every
//! segment, with its proof, to the nodes whose shards own it.
//!
//! Resumable and idempotent: a file a node already has finalized is not paid for again; an
//! upload whose transaction exists continues on it; with a journal, segments a node already
//! acknowledged are not sent again after an interruption.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolEvent};
use base64::Engine;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::rpc::NodeClient;
use super::types::{SegmentWithProof, ShardConfig};
use crate::error::{Error, io};
use crate::zg::{FileRoot, SEGMENT_CHUNKS, SegmentTree, abi};

/// Segments per upload call (the Go client's batch).
pub const DEFAULT_BATCH: usize = 10;
/// Upload calls in flight at once, over all nodes.
pub const DEFAULT_IN_FLIGHT: usize = 8;
/// Attempts of one batch while nodes answer `too many data writing` or time out.
pub const DEFAULT_RETRIES: u32 = 20;
/// First wait before a retry; doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How to upload.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Segments per `zgs_uploadSegmentsByTxSeq` call.
    pub batch: usize,
    /// Calls in flight at once.
    pub in_flight: usize,
    /// Attempts per batch on retryable errors.
    pub retries: u32,
    /// How often to ask nodes whether they have seen the transaction / finalized.
    pub poll: Duration,
    /// How long nodes may take to see the transaction, and to finalize.
    pub wait_timeout: Duration,
    /// Wait until every node reports the file finalized.
    pub finality: bool,
    /// A file recording acknowledged segments, so a restarted upload skips them.
    pub journal: Option<PathBuf>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            batch: DEFAULT_BATCH,
            in_flight: DEFAULT_IN_FLIGHT,
            retries: DEFAULT_RETRIES,
            poll: Duration::from_millis(250),
            wait_timeout: Duration::from_secs(300),
            finality: true,
            journal: None,
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReceipt {
    pub root: B256,
    /// The `Flow.submit` transaction; `None` when an existing one was reused.
    pub tx_hash: Option<B256>,
    /// The submission index (`txSeq`) storage nodes know the file by.
    pub tx_seq: u64,
    /// Wei paid (0 when no transaction was sent).
    pub fee: U256,
    /// Segments sent in this run (0 when the nodes already had the file).
    pub segments_sent: u64,
}

/// Uploads the file at `path`, whose root is `root`, through `provider` (which must sign
/// as `submitter`) and the Flow at `flow`, to `nodes`. `progress(done, total)` is called as
/// segments are acknowledged.
#[allow(clippy::too_many_arguments)]
pub async fn upload_file<P: Provider>(
    provider: &P,
    flow: Address,
    submitter: Address,
    nodes: &[NodeClient],
    path: &Path,
    root: &FileRoot,
    opts: &UploadOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<UploadReceipt, Error> {
    let shards = shard_configs(nodes).await?;
    check_coverage(&shards)?;
    let file_root = root.root();

    // Already there? Then there is nothing to pay for.
    let mut existing = None;
    let mut all_finalized = true;
    for node in nodes {
        match node.file_info(file_root, true).await? {
            Some(info) if info.tx.size == root.size() => {
                all_finalized &= info.finalized;
                existing.get_or_insert(info.tx.seq);
            }
            _ => all_finalized = false,
        }
    }
    if let (true, Some(seq)) = (all_finalized, existing) {
        progress(
            root.layout().segments_uploaded(),
            root.layout().segments_uploaded(),
        );
        return Ok(UploadReceipt {
            root: file_root,
            tx_hash: None,
            tx_seq: seq,
            fee: U256::ZERO,
            segments_sent: 0,
        });
    }

    let (tx_hash, tx_seq, fee) = match existing {
        Some(seq) => (None, seq, U256::ZERO),
        None => {
            let (hash, seq, fee) = submit(provider, flow, submitter, root).await?;
            (Some(hash), seq, fee)
        }
    };

    let start_entry = wait_for_tx(nodes, tx_seq, false, opts).await?;
    let tree = Arc::new(root.segment_tree()?);
    let journal = Journal::open(opts.journal.as_deref(), tx_seq)?;
    let file = Arc::new(File::open(path).map_err(|e| io("open", path, e))?);

    // Batches: per node, the segments its shard owns, minus what the journal says it has.
    let total = root.layout().segments_uploaded();
    let first_global = start_entry / SEGMENT_CHUNKS as u64;
    let mut jobs = Vec::new();
    for (node, shard) in nodes.iter().zip(&shards) {
        let mine: Vec<u64> = (0..total)
            .filter(|i| shard.owns(first_global + i))
            .filter(|i| !journal.has(node.url(), *i))
            .collect();
        for batch in mine.chunks(opts.batch.max(1)) {
            jobs.push((node.clone(), batch.to_vec()));
        }
    }
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let per_node_total: u64 = jobs.iter().map(|(_, b)| b.len() as u64).sum();
    let journal = Arc::new(journal);
    stream::iter(jobs)
        .map(|(node, batch)| {
            let (file, tree, journal, done) =
                (file.clone(), tree.clone(), journal.clone(), done.clone());
            async move {
                let segments = read_segments(&file, path, root, &tree, &batch)?;
                send_with_retry(&node, &segments, tx_seq, opts).await?;
                journal.record(node.url(), &batch)?;
                let n = done.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed)
                    + batch.len() as u64;
                progress(n, per_node_total);
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(opts.in_flight.max(1))
        .try_collect::<Vec<()>>()
        .await?;

    if opts.finality {
        wait_for_tx(nodes, tx_seq, true, opts).await?;
    }
    journal.finish()?;
    Ok(UploadReceipt {
        root: file_root,
        tx_hash,
        tx_seq,
        fee,
        segments_sent: per_node_total,
    })
}

async fn shard_configs(nodes: &[NodeClient]) -> Result<Vec<ShardConfig>, Error> {
    let mut out = Vec::with_capacity(nodes.len());
    for node in nodes {
        out.push(node.shard_config().await?);
    }
    Ok(out)
}

/// Every shard residue must have a node, or some segments would have nowhere to go.
fn check_coverage(shards: &[ShardConfig]) -> Result<(), Error> {
    let num_shard = shards.iter().map(|s| s.num_shard.max(1)).max().unwrap_or(1);
    let missing: Vec<u64> = (0..num_shard)
        .filter(|r| !shards.iter().any(|s| s.owns(*r)))
        .collect();
    if shards.is_empty() || !missing.is_empty() {
        return Err(Error::ShardsNotCovered {
            missing: if shards.is_empty() { vec![0] } else { missing },
            num_shard,
        });
    }
    Ok(())
}

/// Sends `Flow.submit` with the exact fee and reads the txSeq from the receipt's `Submit`
/// log.
async fn submit<P: Provider>(
    provider: &P,
    flow: Address,
    submitter: Address,
    root: &FileRoot,
) -> Result<(B256, u64, U256), Error> {
    let chain = |during: &str, e: &dyn std::fmt::Display| Error::Chain {
        during: during.to_owned(),
        message: e.to_string(),
    };
    let market = eth_call::<_, abi::marketCall>(provider, flow, abi::marketCall {})
        .await
        .map_err(|e| chain("reading Flow.market()", &e))?;
    let price =
        eth_call::<_, abi::pricePerSectorCall>(provider, market, abi::pricePerSectorCall {})
            .await
            .map_err(|e| chain("reading Market.pricePerSector()", &e))?;
    let submission = root.submission(Default::default());
    let fee = submission.fee(price);
    // The nonce is read now rather than from a provider cache: the same key may have been
    // used by another program (another client, a wallet) since this provider last sent.
    let nonce = provider
        .get_transaction_count(submitter)
        .pending()
        .await
        .map_err(|e| chain("reading the submitter's nonce", &e))?;
    let tx = TransactionRequest::default()
        .with_to(flow)
        .with_input(submission.submit_calldata(submitter)?)
        .with_value(fee)
        .with_nonce(nonce);
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(|e| chain("sending Flow.submit", &e))?
        .get_receipt()
        .await
        .map_err(|e| chain("waiting for the Flow.submit receipt", &e))?;
    if !receipt.status() {
        return Err(chain(
            "Flow.submit",
            &format!("transaction {} reverted", receipt.transaction_hash),
        ));
    }
    let seq = receipt
        .inner
        .logs()
        .iter()
        .filter(|l| l.address() == flow)
        .find_map(|l| abi::Submit::decode_log_data(l.data()).ok())
        .ok_or_else(|| chain("reading the Submit event", &"the receipt has no Submit log"))?
        .submissionIndex;
    let seq =
        u64::try_from(seq).map_err(|_| chain("reading the Submit event", &"txSeq overflows"))?;
    Ok((receipt.transaction_hash, seq, fee))
}

async fn eth_call<P: Provider, C: SolCall>(
    provider: &P,
    to: Address,
    call: C,
) -> Result<C::Return, String> {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(call.abi_encode());
    let out = provider.call(tx).await.map_err(|e| e.to_string())?;
    C::abi_decode_returns(&out).map_err(|e| e.to_string())
}

/// Waits until every node knows `seq` (and, with `finalized`, has it finalized). Returns
/// the file's flow position.
async fn wait_for_tx(
    nodes: &[NodeClient],
    seq: u64,
    finalized: bool,
    opts: &UploadOptions,
) -> Result<u64, Error> {
    let deadline = Instant::now() + opts.wait_timeout;
    loop {
        let mut start = None;
        let mut ready = true;
        for node in nodes {
            match node.file_info_by_tx_seq(seq).await? {
                Some(info) if !finalized || info.finalized => {
                    start = Some(info.tx.start_entry_index);
                }
                _ => ready = false,
            }
        }
        if let (true, Some(start)) = (ready, start) {
            return Ok(start);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: if finalized {
                    format!("the storage nodes to finalize tx {seq}")
                } else {
                    format!("the storage nodes to see tx {seq}")
                },
                secs: opts.wait_timeout.as_secs(),
            });
        }
        tokio::time::sleep(opts.poll).await;
    }
}

/// Reads the given segments from the file: whole chunks, the last one zero-filled.
fn read_segments(
    file: &File,
    path: &Path,
    root: &FileRoot,
    tree: &SegmentTree,
    indices: &[u64],
) -> Result<Vec<SegmentWithProof>, Error> {
    let layout = root.layout();
    indices
        .iter()
        .map(|&index| {
            let range = layout.upload_range(index)?;
            let len = (range.end - range.start) as usize;
            let mut data = vec![0u8; len];
            let real = (layout.size().min(range.end) - range.start) as usize;
            let buf = data.get_mut(..real).ok_or(Error::Internal {
                what: "segment range",
            })?;
            file.read_exact_at(buf, range.start)
                .map_err(|e| io("read", path, e))?;
            Ok(SegmentWithProof {
                root: root.root(),
                data: base64::engine::general_purpose::STANDARD.encode(&data),
                index,
                proof: tree.proof(index)?,
                file_size: layout.size(),
            })
        })
        .collect()
}

async fn send_with_retry(
    node: &NodeClient,
    segments: &[SegmentWithProof],
    seq: u64,
    opts: &UploadOptions,
) -> Result<(), Error> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match node.upload_segments_by_tx_seq(segments, seq).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_already_finalized() => return Ok(()),
            Err(e @ (Error::NodeUnreachable { .. } | Error::NodeRejected { .. }))
                if attempt < opts.retries.max(1)
                    && (e.is_node_busy() || matches!(e, Error::NodeUnreachable { .. })) =>
            {
                tracing::debug!(url = node.url(), attempt, "retrying upload: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Append-only record of `txSeq node-url index…` lines: what each node acknowledged.
#[derive(Debug)]
struct Journal {
    path: Option<PathBuf>,
    seq: u64,
    done: HashSet<(String, u64)>,
    out: Mutex<Option<File>>,
}

impl Journal {
    fn open(path: Option<&Path>, seq: u64) -> Result<Journal, Error> {
        let mut done = HashSet::new();
        let Some(path) = path else {
            return Ok(Journal {
                path: None,
                seq,
                done,
                out: Mutex::new(None),
            });
        };
        if let Ok(f) = File::open(path) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                let mut words = line.split_whitespace();
                // Lines of another tx (an earlier, abandoned upload) do not count; a torn
                // last line fails to parse and is ignored.
                if words.next().and_then(|s| s.parse::<u64>().ok()) != Some(seq) {
                    continue;
                }
                let Some(url) = words.next() else { continue };
                for i in words.filter_map(|w| w.parse::<u64>().ok()) {
                    done.insert((url.to_owned(), i));
                }
            }
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io("open", path, e))?;
        Ok(Journal {
            path: Some(path.to_owned()),
            seq,
            done,
            out: Mutex::new(Some(out)),
        })
    }

    fn has(&self, url: &str, index: u64) -> bool {
        self.done.contains(&(url.to_owned(), index))
    }

    fn record(&self, url: &str, indices: &[u64]) -> Result<(), Error> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(f), Some(path)) = (out.as_mut(), self.path.as_deref()) else {
            return Ok(());
        };
        let list: Vec<String> = indices.iter().map(u64::to_string).collect();
        writeln!(f, "{} {url} {}", self.seq, list.join(" "))
            .and_then(|()| f.sync_data())
            .map_err(|e| io("write", path, e))
    }

    /// The upload is complete: the journal is no longer needed.
    fn finish(&self) -> Result<(), Error> {
        if let Some(path) = &self.path {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("remove", path, e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_needs_every_shard() {
        let half = |id| ShardConfig {
            shard_id: id,
            num_shard: 2,
        };
        assert!(check_coverage(&[half(0), half(1)]).is_ok());
        assert!(check_coverage(&[ShardConfig::ALL]).is_ok());
        let err = check_coverage(&[half(0)]).unwrap_err();
        assert!(matches!(err, Error::ShardsNotCovered { ref missing, .. } if missing == &[1]));
        assert!(check_coverage(&[]).is_err());
    }

    #[test]
    fn journal_skips_acknowledged_segments_of_the_same_tx_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let j = Journal::open(Some(&path), 7).unwrap();
        j.record("http://a", &[0, 2]).unwrap();
        drop(j);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"7 http://a 5 6\n3 http://a 1\n7 http://b 1 tor")
            .unwrap();
        let j = Journal::open(Some(&path), 7).unwrap();
        assert!(j.has("http://a", 0) && j.has("http://a", 2) && j.has("http://a", 5));
        assert!(!j.has("http://a", 1), "line of another tx counted");
        assert!(j.has("http://b", 1) && !j.has("http://b", 3));
        j.finish().unwrap();
        assert!(!path.exists());
    }
}
