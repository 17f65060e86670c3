//! `get`: read the registry record, recover K from the key network (each node checks the
//! on-chain gate on its own), download the ciphertext verified against its root, open it.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use serde::Serialize;
use zgvault_contracts::{SCHEME_BLS, SCHEME_SHAMIR};
use zgvault_proto::request::{AccessRequest, Scheme};
use zgvault_proto::sealbox::BoxSecretKey;
use zgvault_proto::threshold::{BlsCapsule, ShamirCommitments};
use zgvault_proto::wire::ErrorCode;

use super::{Vault, chain_error, now_secs};
use crate::error::Error;
use crate::keys::{AnyCombiner, FailureKind, RecoverOptions, recover_key};
use crate::storage::{DownloadOptions, download_file};

/// How long an access request stays valid (nodes accept at most 300 s).
const REQUEST_LIFETIME_SECS: u64 = 120;

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
    /// Storage nodes that failed at least once.
    pub bad_storage_nodes: Vec<String>,
}

/// Fetches file `file_id` into `out` (which must not exist). `progress(downloading, done,
/// total)`: key shares first, then segments.
pub async fn get(
    vault: &Vault,
    file_id: B256,
    out: &Path,
    progress: &(dyn Fn(bool, u64, u64) + Sync),
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
    let record = vault.record(file_id).await?;
    let scheme = match record.scheme {
        SCHEME_BLS => Scheme::Bls,
        SCHEME_SHAMIR => Scheme::Shamir,
        other => {
            return Err(Error::Config {
                message: format!(
                    "file {file_id} uses custody scheme {other} (custodial); this zgvault \
                     reads threshold (0) and shamir (1) files"
                ),
            });
        }
    };
    let registry = vault.registry()?;
    let capsule_bytes = registry
        .capsuleOf(file_id)
        .call()
        .await
        .map_err(|e| chain_error("reading the capsule", &vault.network, e))?
        .to_vec();
    let file = vault.file_ref(file_id)?;
    let keys = vault.key_network().await?;
    let combiner = match scheme {
        Scheme::Shamir => AnyCombiner::Shamir(
            ShamirCommitments::from_bytes(&capsule_bytes)?.combiner(keys.nodes.len()),
        ),
        _ => AnyCombiner::Bls(Box::new(keys.key_set.combiner(
            &file,
            &BlsCapsule::from_bytes(&capsule_bytes)?,
            keys.nodes.len(),
        ))),
    };

    progress(false, 0, keys.threshold.into());
    let secret = BoxSecretKey::generate()?;
    let at_block = vault.head().await?;
    let request = AccessRequest::new(
        file,
        scheme,
        secret.public_key(),
        &capsule_bytes,
        now_secs(),
        REQUEST_LIFETIME_SECS,
        at_block,
    )?;
    let signed = request.sign(vault.signer().credential(), capsule_bytes.clone())?;
    let result = recover_key(
        &keys.nodes,
        &signed,
        &secret,
        combiner,
        RecoverOptions::default(),
    )
    .await;
    let denied = match &result {
        Err(Error::KeyRequestRefused {
            code: ErrorCode::AccessDenied,
            nodes,
            asked,
            ..
        }) => Some(format!("{} of {asked} key nodes refused", nodes.len())),
        // Some nodes down, the others refusing: honest nodes read the same chain state,
        // so one refusal is the answer the rest would give too.
        Err(Error::NotEnoughKeyShares { failures, .. }) => {
            let refused = failures
                .0
                .iter()
                .filter(|f| {
                    matches!(&f.kind, FailureKind::Refused(r) if r.code == ErrorCode::AccessDenied)
                })
                .count();
            (refused > 0).then(|| {
                format!(
                    "{refused} of {} key nodes refused ({failures})",
                    keys.nodes.len()
                )
            })
        }
        _ => None,
    };
    if let Some(what) = denied {
        let reason = registry
            .accessCheck(file_id, vault.address())
            .call()
            .await
            .map(|r| r.reason)
            .unwrap_or(0);
        let why = if reason == 0 {
            "the registry could not be asked why"
        } else {
            zgvault_contracts::reason_text(reason)
        };
        return Err(Error::AccessDenied {
            file_id,
            user: vault.address(),
            owner: record.owner,
            reason: format!("{what}; the registry says: {why}"),
        });
    }
    let recovered = result?;
    progress(false, keys.threshold.into(), keys.threshold.into());

    let connected = vault.network.connect().await?;
    let sealed = sealed_temp(out);
    let _ = std::fs::remove_file(&sealed);
    let report = download_file(
        &connected.nodes,
        record.rootHash,
        &sealed,
        &DownloadOptions::default(),
        &|done, total| progress(true, done, total),
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
        key_nodes_used: recovered.used.clone(),
        key_node_failures: recovered
            .failures
            .iter()
            .map(|f| format!("node {}: {}", f.node_index, f.kind))
            .collect(),
        bad_storage_nodes: report
            .bad_nodes
            .iter()
            .map(|(u, why)| format!("{u}: {why}"))
            .collect(),
    })
}

/// Where the ciphertext is downloaded before it is opened: beside `out`, hidden.
fn sealed_temp(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    out.with_file_name(format!(".{name}.zgvault-sealed"))
}
