//! Downloading a file from 0G Storage: every segment fetched with its proof and checked
//! against the root before a byte of it is written; a node that is down or sends a bad
//! segment is skipped for another one holding the same shard.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use alloy::primitives::B256;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::rpc::{IndexerClient, NodeClient};
use super::types::ShardConfig;
use super::verify::{decode_segment_data, verify_segment};
use crate::error::{Error, io};
use crate::files::{PUBLIC, TempFile};
use crate::zg::{FileLayout, SEGMENT_CHUNKS};

/// Segments fetched at once.
pub const DEFAULT_PARALLEL: usize = 8;

/// How to download.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Segments in flight at once (memory: about 600 KiB each).
    pub parallel: usize,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            parallel: DEFAULT_PARALLEL,
        }
    }
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadReport {
    pub size: u64,
    pub tx_seq: u64,
    /// Nodes that failed at least once (down, or served a segment that did not verify),
    /// with the first reason.
    pub bad_nodes: Vec<(String, String)>,
}

/// A node that has the file, with its shard.
#[derive(Debug, Clone)]
struct Holder {
    node: NodeClient,
    shard: ShardConfig,
}

/// Storage nodes holding `root`, from an indexer.
pub async fn locate_nodes(indexer: &IndexerClient, root: B256) -> Result<Vec<NodeClient>, Error> {
    let found = indexer.file_locations(root).await?;
    if found.is_empty() {
        return Err(Error::NotStored { root });
    }
    found.into_iter().map(|n| NodeClient::new(n.url)).collect()
}

/// Downloads file `root` from `nodes` into `out`, verifying every segment. Writes to a
/// temporary file beside `out` and renames it into place only when all of it verified,
/// so a failed download leaves nothing behind. `progress(done, total)` counts segments.
pub async fn download_file(
    nodes: &[NodeClient],
    root: B256,
    out: &Path,
    opts: &DownloadOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<DownloadReport, Error> {
    // Who has it finalized, and what do they say about it?
    let mut holders = Vec::new();
    let mut tx = None;
    let mut bad_nodes = Vec::new();
    for node in nodes {
        let info = match node.file_info(root, true).await {
            Ok(Some(info)) if info.finalized => info,
            Ok(_) => continue,
            Err(e) => {
                bad_nodes.push((node.url().to_owned(), e.to_string()));
                continue;
            }
        };
        let shard = match node.shard_config().await {
            Ok(s) => s,
            Err(e) => {
                bad_nodes.push((node.url().to_owned(), e.to_string()));
                continue;
            }
        };
        // The first node's size is believed only as far as proofs later confirm it: a
        // wrong size makes every segment fail verification against the root.
        tx.get_or_insert(info.tx);
        holders.push(Holder {
            node: node.clone(),
            shard,
        });
    }
    let tx = tx.ok_or(Error::NotStored { root })?;
    let layout = FileLayout::new(tx.size)?;
    let first_global = tx.start_entry_index / SEGMENT_CHUNKS as u64;
    let total = layout.segments_uploaded();

    let (temp, file) = TempFile::create(out, PUBLIC)?;
    let tmp = temp.path().to_owned();
    file.set_len(layout.size())
        .map_err(|e| io("write", &tmp, e))?;
    let file = Arc::new(file);
    let holders = Arc::new(holders);
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));

    let failures: Vec<Vec<(String, String)>> = stream::iter(0..total)
        .map(|index| {
            let (holders, file, done, tmp) = (holders.clone(), file.clone(), done.clone(), &tmp);
            async move {
                let owners: Vec<&Holder> = holders
                    .iter()
                    .filter(|h| h.shard.owns(first_global + index))
                    .collect();
                let mut failures = Vec::new();
                // Start at a different owner per segment to spread the load.
                let n = owners.len().max(1);
                for k in 0..owners.len() {
                    let Some(h) = owners.get((index as usize + k) % n) else {
                        continue;
                    };
                    match fetch(&h.node, tx.seq, index, &layout, &root).await {
                        Ok(data) => {
                            let start = index * crate::zg::SEGMENT_SIZE as u64;
                            let real = (layout.size() - start).min(data.len() as u64) as usize;
                            let bytes = data.get(..real).ok_or(Error::Internal {
                                what: "segment trim",
                            })?;
                            file.write_all_at(bytes, start)
                                .map_err(|e| io("write", tmp, e))?;
                            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            progress(d, total);
                            return Ok(failures);
                        }
                        Err(e) => failures.push((h.node.url().to_owned(), e.to_string())),
                    }
                }
                Err(Error::SegmentUnavailable { index, failures })
            }
        })
        .buffer_unordered(opts.parallel.max(1))
        .try_collect()
        .await?;

    temp.commit(&file)?;
    for (url, reason) in failures.into_iter().flatten() {
        if !bad_nodes.iter().any(|(u, _)| *u == url) {
            bad_nodes.push((url, reason));
        }
    }
    Ok(DownloadReport {
        size: layout.size(),
        tx_seq: tx.seq,
        bad_nodes,
    })
}

/// One segment from one node, verified against the root.
async fn fetch(
    node: &NodeClient,
    seq: u64,
    index: u64,
    layout: &FileLayout,
    root: &B256,
) -> Result<Vec<u8>, Error> {
    let seg = node
        .download_segment_with_proof_by_tx_seq(seq, index)
        .await?
        .ok_or_else(|| Error::NodeMalformed {
            url: node.url().to_owned(),
            method: "zgs_downloadSegmentWithProofByTxSeq",
            message: format!("no data for segment {index} although the file is finalized"),
        })?;
    if seg.root != *root || seg.index != index {
        return Err(Error::NodeMalformed {
            url: node.url().to_owned(),
            method: "zgs_downloadSegmentWithProofByTxSeq",
            message: format!(
                "asked for segment {index} of {root}, got {} of {}",
                seg.index, seg.root
            ),
        });
    }
    let data = decode_segment_data(&seg).map_err(|message| Error::NodeMalformed {
        url: node.url().to_owned(),
        method: "zgs_downloadSegmentWithProofByTxSeq",
        message,
    })?;
    verify_segment(layout, root, &seg, &data)?;
    Ok(data)
}
