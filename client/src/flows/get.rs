//! `get`: read the registry record, recover K from the key network or the custodial vault
//! (each checks the on-chain gate on its own, at a block deep enough for it), download the
//! ciphertext verified against its root, open it.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use serde::Serialize;

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
    // The record, the capsule and the head the request starts from: one block.
    let at = session.file_at_head(file_id).await?;
    let record = &at.record;
    let recovered = super::recover::recover_file_key(session, &at, &|step| match step {
        KeyProgress::Confirming { head, until } => progress(GetStage::Confirming, head, until),
        KeyProgress::Shares { done, total } => progress(GetStage::Key, done, total),
    })
    .await?;

    let connected = session.network.connect().await?;
    let sealed = sealed_temp(out)?;
    let _ = std::fs::remove_file(&sealed);
    let report = download_file(
        &connected.nodes,
        record.rootHash,
        &sealed,
        &DownloadOptions::default(),
        &|done, total| progress(GetStage::Download, done, total),
    )
    .await?;
    let opened = crate::sealing::open_file(&sealed, out, &recovered.key);
    let _ = std::fs::remove_file(&sealed);
    let metadata = opened?;
    Ok(GetReport {
        file_id,
        owner: record.owner,
        root_hash: record.rootHash,
        output: out.to_owned(),
        name: metadata.name.clone(),
        size: metadata.size,
        key_nodes_used: recovered.nodes_used,
        key_node_failures: recovered.node_failures,
        vault: recovered.vault,
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
