//! `get`: read the registry record, recover K from the key network or the custodial vault
//! (each checks the on-chain gate on its own, at a block deep enough for it), download the
//! ciphertext verified against its root, open it.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Session;
use super::recover::KeyProgress;
use crate::error::Error;
use crate::storage::{DownloadOptions, download_file};

/// What `get` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetReport {
    pub file_id: B256,
    pub owner: Address,
    pub root_hash: B256,
    pub output: PathBuf,
    /// The original file name in the sealed header.
    pub name: String,
    /// Plaintext bytes written.
    pub size: u64,
    /// Key nodes whose partials were combined.
    pub key_nodes_used: Vec<u32>,
    /// Key nodes that failed or were not needed, with what went wrong.
    pub key_node_failures: Vec<String>,
    /// The custodial vault that released K (custodial files).
    pub vault: Option<String>,
    /// Storage nodes that failed at least once.
    pub bad_storage_nodes: Vec<String>,
}

/// What `get` is doing, for progress displays: `progress(stage, done, total)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetStage {
    /// Waiting for the chain: `done` is the head, `total` the block it must reach. The key
    /// nodes (or the vault) answer only for a block their `confirmations` below the head,
    /// and the file's registration, capsule or the reader's access is newer than that.
    Confirming,
    /// Key shares (or the vault's one key): `done` of `total` in.
    Key,
    /// Segments downloaded: `done` of `total`.
    Download,
}

/// Fetches file `file_id` into `out` (which must not exist). `progress(stage, done,
/// total)`: the key (after waiting for confirmations, if needed), then segments.
pub async fn get(
    session: &Session,
    file_id: B256,
    out: &Path,
    progress: &(dyn Fn(GetStage, u64, u64) + Sync),
) -> Result<GetReport, Error> {
    if out.exists() {
        return Err(Error::Io {
            action: "write to",
            path: out.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "it exists; pick another -o",
            ),
        });
    }
    let sealed = sealed_temp(out)?;
    let fetched = fetch_sealed(session, file_id, &sealed, progress).await;
    let opened = fetched.and_then(|f| {
        Ok((
            crate::sealing::open_file(&sealed, out, &f.recovered.key)?,
            f,
        ))
    });
    let _ = std::fs::remove_file(&sealed);
    let (metadata, fetched) = opened?;
    Ok(fetched.report(out.to_owned(), metadata.name, metadata.size))
}

/// A file read into memory: what `get_in_memory` returns.
#[derive(Debug)]
pub struct InMemory {
    /// What was done, as `get` reports it (`output` is empty: nothing was written).
    pub report: GetReport,
    /// The plaintext; wiped when dropped.
    pub plaintext: Zeroizing<Vec<u8>>,
}

/// Fetches file `file_id` and opens it **in memory**, for callers that must not write the
/// plaintext anywhere (local question answering). Only the ciphertext touches the disk, in
/// the state folder, and is removed after. A file over `max_bytes` is refused before it is
/// opened (its size is in the sealed header).
pub async fn get_in_memory(
    session: &Session,
    file_id: B256,
    max_bytes: u64,
    progress: &(dyn Fn(GetStage, u64, u64) + Sync),
) -> Result<InMemory, Error> {
    let dir = crate::account::state_dir().join("reading");
    crate::files::create_private_dir(&dir)?;
    let sealed = dir.join(format!("{file_id:x}.zgvault-sealed"));
    let _ = crate::files::remove_if_present(&sealed);
    let result = async {
        let fetched = fetch_sealed(session, file_id, &sealed, progress).await?;
        let key = &fetched.recovered.key;
        let size = crate::sealing::sealed_metadata(&sealed, key)?.size;
        if size > max_bytes {
            return Err(Error::TooLargeForMemory {
                file_id,
                size,
                max: max_bytes,
            });
        }
        // Streamed from the file: the ciphertext is never held in memory beside the plaintext,
        // and a chunk that fails drops (and wipes) what was opened before it.
        let file =
            std::fs::File::open(&sealed).map_err(|e| crate::error::io("read", &sealed, e))?;
        let mut plaintext = Zeroizing::new(Vec::with_capacity(usize::try_from(size).unwrap_or(0)));
        let metadata = zgvault_proto::open(key, std::io::BufReader::new(file), &mut *plaintext)?;
        Ok(InMemory {
            report: fetched.report(PathBuf::new(), metadata.name, metadata.size),
            plaintext,
        })
    }
    .await;
    let _ = crate::files::remove_if_present(&sealed);
    result
}

/// What fetching a file's ciphertext and key found, before it is opened.
struct Fetched {
    file_id: B256,
    owner: Address,
    root_hash: B256,
    recovered: super::recover::RecoveredKey,
    bad_storage_nodes: Vec<String>,
}

impl Fetched {
    fn report(self, output: PathBuf, name: String, size: u64) -> GetReport {
        GetReport {
            file_id: self.file_id,
            owner: self.owner,
            root_hash: self.root_hash,
            output,
            name,
            size,
            key_nodes_used: self.recovered.nodes_used,
            key_node_failures: self.recovered.node_failures,
            vault: self.recovered.vault,
            bad_storage_nodes: self.bad_storage_nodes,
        }
    }
}

/// Recovers K and downloads the ciphertext, verified against its root, to `sealed`.
async fn fetch_sealed(
    session: &Session,
    file_id: B256,
    sealed: &Path,
    progress: &(dyn Fn(GetStage, u64, u64) + Sync),
) -> Result<Fetched, Error> {
    // The record, the capsule and the head the request starts from: one block.
    let at = session.file_at_head(file_id).await?;
    let record = &at.record;
    let recovered = super::recover::recover_file_key(session, &at, &|step| match step {
        KeyProgress::Confirming { head, until } => progress(GetStage::Confirming, head, until),
        KeyProgress::Shares { done, total } => progress(GetStage::Key, done, total),
    })
    .await?;

    let connected = session.network.connect().await?;
    let _ = std::fs::remove_file(sealed);
    let report = download_file(
        &connected.nodes,
        record.rootHash,
        sealed,
        &DownloadOptions::default(),
        &|done, total| progress(GetStage::Download, done, total),
    )
    .await?;
    Ok(Fetched {
        file_id,
        owner: record.owner,
        root_hash: record.rootHash,
        recovered,
        bad_storage_nodes: report
            .bad_nodes
            .iter()
            .map(|(u, why)| format!("{u}: {why}"))
            .collect(),
    })
}

/// Where the ciphertext is downloaded before it is opened: beside `out`, hidden.
fn sealed_temp(out: &Path) -> Result<PathBuf, Error> {
    let name = out.file_name().ok_or_else(|| {
        crate::error::io(
            "write to",
            out,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "it names no file"),
        )
    })?;
    Ok(out.with_file_name(format!(".{}.zgvault-sealed", name.to_string_lossy())))
}
