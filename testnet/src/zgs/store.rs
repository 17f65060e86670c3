//! The dev node's storage: the transactions it learnt from the chain and the segments
//! clients uploaded, on disk so a restart loses nothing.
//!
//! ```text
//! <dir>/sync.json                   chain-follow progress
//! <dir>/txs/<seq>.json              one Transaction per Submit event
//! <dir>/segs/<seq>/<index>.proof    the verified proof of an uploaded segment
//! <dir>/segs/<seq>/<index>.seg      its data (whole chunks); written last, so its
//!                                   presence means the segment is complete
//! ```
//!
//! Methods are synchronous (file I/O); the RPC layer calls them off the event loop.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};
use zgvault_client::zg::{FileLayout, SEGMENT_CHUNKS, SegmentProof};

use super::error::RpcError;
use super::segment;
use zgvault_client::storage::{FileInfo, SegmentWithProof, ShardConfig, Transaction};

/// Largest file whose segments are cached before its transaction is known (as the real
/// node's `max_cache_file_size`).
pub const MAX_CACHE_FILE_SIZE: u64 = 10 << 20;
/// Bound on all cached segment bytes together.
pub const MAX_CACHE_BYTES: usize = 64 << 20;
/// Largest chunk range one download call may ask for.
pub const MAX_DOWNLOAD_CHUNKS: u64 = SEGMENT_CHUNKS as u64;

/// Chain-follow progress, persisted so a restart resumes where it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncProgress {
    /// Next block to scan for `Submit` events.
    pub next_block: u64,
    /// Hash of the last scanned block.
    pub last_block_hash: B256,
}

#[derive(Debug)]
struct TxEntry {
    tx: Transaction,
    layout: FileLayout,
    /// Per file-local segment (real data only): stored here.
    present: Vec<bool>,
    present_count: u64,
    /// Segments this node's shard must hold.
    owned_count: u64,
}

impl TxEntry {
    fn finalized(&self) -> bool {
        self.present_count >= self.owned_count
    }

    fn global_segment(&self, index: u64) -> u64 {
        self.tx.start_entry_index / SEGMENT_CHUNKS as u64 + index
    }
}

#[derive(Debug, Default)]
struct State {
    txs: BTreeMap<u64, TxEntry>,
    by_root: HashMap<B256, Vec<u64>>,
    sync: SyncProgress,
    /// Verified segments that arrived before their transaction, by root.
    cache: HashMap<B256, Vec<(SegmentWithProof, Vec<u8>)>>,
    cache_bytes: usize,
}

/// The dev node's store.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    shard: ShardConfig,
    state: Mutex<State>,
}

impl Store {
    /// Opens (or creates) the store in `dir`, reloading every transaction and segment.
    pub fn open(dir: &Path, shard: ShardConfig) -> Result<Store, RpcError> {
        for sub in ["txs", "segs"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| RpcError::io(&dir.join(sub), e))?;
        }
        let mut state = State::default();
        if let Ok(text) = fs::read_to_string(dir.join("sync.json")) {
            state.sync = serde_json::from_str(&text).map_err(|e| {
                RpcError::internal(format!("{}/sync.json is corrupt: {e}", dir.display()))
            })?;
        }
        let store = Store {
            dir: dir.to_owned(),
            shard,
            state: Mutex::new(state),
        };
        let entries = fs::read_dir(dir.join("txs")).map_err(|e| RpcError::io(dir, e))?;
        let mut txs = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = fs::read_to_string(&path).map_err(|e| RpcError::io(&path, e))?;
                let tx: Transaction = serde_json::from_str(&text).map_err(|e| {
                    RpcError::internal(format!("{} is corrupt: {e}", path.display()))
                })?;
                txs.push(tx);
            }
        }
        for tx in txs {
            store.insert_tx(tx, false)?;
        }
        Ok(store)
    }

    pub fn shard(&self) -> ShardConfig {
        self.shard
    }

    pub fn sync_progress(&self) -> SyncProgress {
        self.lock().sync.clone()
    }

    /// Records a transaction (idempotent) and applies any segments cached for its root.
    pub fn add_tx(&self, tx: Transaction) -> Result<(), RpcError> {
        self.insert_tx(tx, true)
    }

    /// Persists chain-follow progress after the transactions of a block range are stored.
    pub fn set_sync_progress(&self, progress: SyncProgress) -> Result<(), RpcError> {
        let json = serde_json::to_vec(&progress).map_err(|e| RpcError::internal(e.to_string()))?;
        write_atomic(&self.dir.join("sync.json"), &json)?;
        self.lock().sync = progress;
        Ok(())
    }

    /// One past the highest known txSeq.
    pub fn next_tx_seq(&self) -> u64 {
        self.lock().txs.keys().next_back().map_or(0, |s| s + 1)
    }

    fn insert_tx(&self, tx: Transaction, persist: bool) -> Result<(), RpcError> {
        let layout = FileLayout::new(tx.size)
            .map_err(|e| RpcError::internal(format!("tx {} has no valid layout: {e}", tx.seq)))?;
        if persist {
            if self.lock().txs.contains_key(&tx.seq) {
                return Ok(());
            }
            let json = serde_json::to_vec(&tx).map_err(|e| RpcError::internal(e.to_string()))?;
            write_atomic(&self.tx_path(tx.seq), &json)?;
        }
        let segments = layout.segments_uploaded();
        let seg_dir = self.seg_dir(tx.seq);
        let mut entry = TxEntry {
            layout,
            present: vec![false; usize::try_from(segments).unwrap_or(0)],
            present_count: 0,
            owned_count: 0,
            tx,
        };
        for index in 0..segments {
            if self.shard.owns(entry.global_segment(index)) {
                entry.owned_count += 1;
            }
            if seg_path(&seg_dir, index, "seg").exists()
                && seg_path(&seg_dir, index, "proof").exists()
            {
                if let Some(p) = entry.present.get_mut(index as usize) {
                    *p = true;
                }
                entry.present_count += 1;
            }
        }
        let root = entry.tx.data_merkle_root;
        let seq = entry.tx.seq;
        let cached = {
            let mut state = self.lock();
            state.by_root.entry(root).or_default().push(seq);
            state.txs.insert(seq, entry);
            let cached = state.cache.remove(&root).unwrap_or_default();
            state.cache_bytes -= cached.iter().map(|(_, d)| d.len()).sum::<usize>();
            cached
        };
        for (seg, data) in cached {
            match self.put_segment(Some(seq), &seg, &data) {
                Ok(()) | Err(RpcError::AlreadyFinalized) => {}
                Err(e) => tracing::warn!(seq, index = seg.index, "cached segment dropped: {e}"),
            }
        }
        Ok(())
    }

    /// `zgs_getFileInfo(root, needAvailable)`: with `need_available`, the first finalized
    /// tx for the root, else the first one.
    pub fn file_info_by_root(&self, root: &B256, need_available: bool) -> Option<FileInfo> {
        let state = self.lock();
        let seqs = state.by_root.get(root)?;
        let entries: Vec<&TxEntry> = seqs.iter().filter_map(|s| state.txs.get(s)).collect();
        let pick = if need_available {
            entries.iter().find(|e| e.finalized()).or(entries.first())
        } else {
            entries.first()
        };
        pick.map(|e| info_of(e))
    }

    /// `zgs_getFileInfoByTxSeq`.
    pub fn file_info_by_seq(&self, seq: u64) -> Option<FileInfo> {
        self.lock().txs.get(&seq).map(info_of)
    }

    /// Stores one uploaded segment after checking it against the transaction (§3.3).
    /// `seq = None` looks the transaction up by root, caching small files whose
    /// transaction has not been seen yet.
    pub fn put_segment(
        &self,
        seq: Option<u64>,
        seg: &SegmentWithProof,
        data: &[u8],
    ) -> Result<(), RpcError> {
        let (tx, layout, present, finalized) = {
            let state = self.lock();
            let seq = match seq {
                Some(s) => Some(s),
                None => state.by_root.get(&seg.root).and_then(|s| {
                    // Prefer a tx still being uploaded.
                    s.iter()
                        .copied()
                        .find(|s| state.txs.get(s).is_some_and(|e| !e.finalized()))
                        .or(s.first().copied())
                }),
            };
            match seq.and_then(|s| state.txs.get(&s)) {
                Some(e) => (
                    e.tx.clone(),
                    e.layout,
                    e.present.get(seg.index as usize).copied().unwrap_or(false),
                    e.finalized(),
                ),
                None => {
                    drop(state);
                    return match seq {
                        Some(s) => Err(RpcError::params(format!(
                            "tx seq {s} is not known to this node yet; wait until zgs_getFileInfoByTxSeq returns it"
                        ))),
                        None => self.cache_segment(seg, data),
                    };
                }
            }
        };
        if seg.root != tx.data_merkle_root {
            return Err(RpcError::params("data root and tx seq not match"));
        }
        if seg.file_size != tx.size {
            return Err(RpcError::params(format!(
                "file size mismatch: segment says {}, tx {} has {}",
                seg.file_size, tx.seq, tx.size
            )));
        }
        if finalized {
            return Err(RpcError::AlreadyFinalized);
        }
        let global = tx.start_entry_index / SEGMENT_CHUNKS as u64 + seg.index;
        if !self.shard.owns(global) {
            return Err(RpcError::params(format!(
                "segment {} (flow segment {global}) is not in this node's shard {}/{}",
                seg.index, self.shard.shard_id, self.shard.num_shard
            )));
        }
        if present {
            return Ok(()); // duplicate: skipped, as the real node does
        }
        segment::verify(&layout, seg, data)?;
        let dir = self.seg_dir(tx.seq);
        fs::create_dir_all(&dir).map_err(|e| RpcError::io(&dir, e))?;
        let proof =
            serde_json::to_vec(&seg.proof).map_err(|e| RpcError::internal(e.to_string()))?;
        write_atomic(&seg_path(&dir, seg.index, "proof"), &proof)?;
        write_atomic(&seg_path(&dir, seg.index, "seg"), data)?;

        let mut state = self.lock();
        if let Some(e) = state.txs.get_mut(&tx.seq)
            && let Some(p) = e.present.get_mut(seg.index as usize)
            && !*p
        {
            *p = true;
            e.present_count += 1;
            if e.finalized() {
                tracing::info!(seq = tx.seq, root = %tx.data_merkle_root, "file finalized");
            }
        }
        Ok(())
    }

    fn cache_segment(&self, seg: &SegmentWithProof, data: &[u8]) -> Result<(), RpcError> {
        if seg.file_size > MAX_CACHE_FILE_SIZE {
            return Err(RpcError::params(
                "caching of large file when tx is unavailable is not supported",
            ));
        }
        let layout = FileLayout::new(seg.file_size)
            .map_err(|_| RpcError::params("file size must be above 0"))?;
        segment::verify(&layout, seg, data)?;
        let mut state = self.lock();
        if state.cache_bytes + data.len() > MAX_CACHE_BYTES {
            return Err(RpcError::params(
                "too many data writing: segment cache is full",
            ));
        }
        state.cache_bytes += data.len();
        state
            .cache
            .entry(seg.root)
            .or_default()
            .push((seg.clone(), data.to_vec()));
        Ok(())
    }

    /// `zgs_downloadSegment*`: chunks `[start, end)` of the file, or `None` when this
    /// node does not hold all of them.
    pub fn read_chunks(&self, seq: u64, start: u64, end: u64) -> Result<Option<Vec<u8>>, RpcError> {
        let chunks = {
            let state = self.lock();
            let Some(e) = state.txs.get(&seq) else {
                return Ok(None);
            };
            e.layout.chunks()
        };
        if start >= end {
            return Err(RpcError::params(format!(
                "start index {start} must be below end index {end}"
            )));
        }
        if end - start > MAX_DOWNLOAD_CHUNKS {
            return Err(RpcError::params(format!(
                "too many chunks requested: {} > {MAX_DOWNLOAD_CHUNKS}",
                end - start
            )));
        }
        if end > chunks {
            return Err(RpcError::params(format!(
                "end index {end} is past the file's {chunks} chunks"
            )));
        }
        let seg_chunks = SEGMENT_CHUNKS as u64;
        let mut out = Vec::with_capacity(((end - start) * 256) as usize);
        let dir = self.seg_dir(seq);
        for index in start / seg_chunks..=(end - 1) / seg_chunks {
            let Ok(data) = fs::read(seg_path(&dir, index, "seg")) else {
                return Ok(None);
            };
            let seg_start = index * seg_chunks;
            let from = (start.max(seg_start) - seg_start) as usize * 256;
            let to = (end.min(seg_start + seg_chunks) - seg_start) as usize * 256;
            match data.get(from..to) {
                Some(bytes) => out.extend_from_slice(bytes),
                None => {
                    return Err(RpcError::internal(format!(
                        "stored segment {index} of tx {seq} is shorter than expected"
                    )));
                }
            }
        }
        Ok(Some(out))
    }

    /// `zgs_downloadSegmentWithProof*`: the segment and the proof it was uploaded with.
    pub fn segment_with_proof(
        &self,
        seq: u64,
        index: u64,
    ) -> Result<Option<(Transaction, SegmentProof, Vec<u8>)>, RpcError> {
        let tx = match self.lock().txs.get(&seq) {
            Some(e) => {
                if index >= e.layout.segments_uploaded() {
                    return Err(RpcError::params(format!(
                        "segment index {index} is out of range: the file has {} segments",
                        e.layout.segments_uploaded()
                    )));
                }
                e.tx.clone()
            }
            None => return Ok(None),
        };
        let dir = self.seg_dir(seq);
        let (Ok(data), Ok(proof)) = (
            fs::read(seg_path(&dir, index, "seg")),
            fs::read(seg_path(&dir, index, "proof")),
        ) else {
            return Ok(None);
        };
        let proof: SegmentProof = serde_json::from_slice(&proof).map_err(|e| {
            RpcError::internal(format!(
                "stored proof of tx {seq} segment {index} is corrupt: {e}"
            ))
        })?;
        Ok(Some((tx, proof, data)))
    }

    /// The tx seqs known for a root.
    pub fn seqs_of(&self, root: &B256) -> Vec<u64> {
        self.lock().by_root.get(root).cloned().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a way that
        // matters more than stopping the node would; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tx_path(&self, seq: u64) -> PathBuf {
        self.dir.join("txs").join(format!("{seq}.json"))
    }

    fn seg_dir(&self, seq: u64) -> PathBuf {
        self.dir.join("segs").join(seq.to_string())
    }
}

fn info_of(e: &TxEntry) -> FileInfo {
    FileInfo {
        tx: e.tx.clone(),
        finalized: e.finalized(),
        is_cached: false,
        uploaded_seg_num: e.present_count,
        pruned: false,
    }
}

fn seg_path(dir: &Path, index: u64, ext: &str) -> PathBuf {
    dir.join(format!("{index}.{ext}"))
}

/// Writes a file so that it is either absent or complete, and durable, after a crash.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RpcError> {
    use std::io::Write;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Unique per write: two uploads of the same segment may race.
    let tmp = path.with_extension(format!("tmp{n}"));
    let mut f = fs::File::create(&tmp).map_err(|e| RpcError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| RpcError::io(&tmp, e))?;
    f.sync_all().map_err(|e| RpcError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| RpcError::io(path, e))
}
