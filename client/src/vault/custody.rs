//! `custody`: move a registered file's K to another custody without re-uploading. The
//! owner recovers K through the current custody (the registry lets the owner read), builds
//! the new protection (a BLS capsule from the NodeRegistry's key set, or a custodial
//! capsule for the vault), `setCapsule`s it, deposits K with the vault when custodial, and
//! shreds the old custody (Shamir shares, the vault's copy).
//!
//! Crash safety, as in `put`: once K is recovered it is kept sealed under the owner's key
//! in `<state>/moves/<fileId>.json` (0600) until the new custody holds it and the old one
//! is shredded; running the same move again resumes. Moving *into* Shamir is refused:
//! that scheme generates K itself, so the file would have to be sealed and uploaded again.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};
use zgvault_proto::FileKey;
use zgvault_proto::request::CustodialCapsule;

use super::keystore::{open_local, seal_local};
use super::put::{deposit_custodial_key, vault_encryption_key};
use super::recover::wire_scheme;
use super::shred::{ShredOutcome, shamir_holders, shred_at, vault_holder};
use super::{Custody, Vault, chain_error, state_dir, write_private};
use crate::error::Error;

const MOVE_VERSION: u32 = 1;

/// What `custody` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveReport {
    pub file_id: B256,
    /// The custody K was in.
    pub from: Custody,
    /// The custody K is in now.
    pub to: Custody,
    /// The file already was in that custody: nothing was done.
    pub unchanged: bool,
    /// Where K came from (the vault's address, or the key nodes combined).
    pub recovered_from: Option<String>,
    /// The `FileRegistry.setCapsule` transaction (`None` if an earlier run sent it).
    pub set_capsule_tx: Option<B256>,
    /// The vault now holding K (to custodial).
    pub vault: Option<String>,
    /// What the old custody's holders said to the shred (empty from threshold).
    pub old_custody: Vec<ShredOutcome>,
    /// This run finished a move an earlier run had started.
    pub resumed: bool,
    pub note: String,
}

/// An unfinished move on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingMove {
    version: u32,
    owner: Address,
    chain_id: u64,
    registry: Address,
    file_id: B256,
    from: Custody,
    to: Custody,
    /// K sealed under the owner's key (hex); never K itself.
    sealed_key: String,
    /// The capsule being registered (hex).
    new_capsule: String,
    #[serde(default)]
    recovered_from: Option<String>,
}

/// The custody a registry scheme code stands for.
fn custody_of(file_id: B256, scheme: u8) -> Result<Custody, Error> {
    wire_scheme(file_id, scheme).map(Custody::of_scheme)
}

/// The registry's scheme code of `custody`.
const fn scheme_of(custody: Custody) -> u8 {
    custody.scheme().as_u8()
}

fn move_path(file_id: B256) -> PathBuf {
    state_dir().join("moves").join(format!("{file_id}.json"))
}

fn key_aad(file_id: B256) -> Vec<u8> {
    let mut aad = b"zgvault/custody-move".to_vec();
    aad.extend_from_slice(file_id.as_slice());
    aad
}

/// Moves the K of `file_id` (owner only) into `to` custody. `progress(message)` names
/// each step as it starts.
pub async fn move_custody(
    vault: &Vault,
    file_id: B256,
    to: Custody,
    progress: &(dyn Fn(&'static str) + Sync),
) -> Result<MoveReport, Error> {
    if to == Custody::Shamir {
        return Err(Error::Custody {
            file_id,
            message: "moving into shamir custody needs the file sealed again under a new key \
                      (shamir generates K itself): `zgvault put FILE --custody shamir` \
                      uploads a new copy; or move it to threshold or custodial custody"
                .into(),
        });
    }
    let record = vault.record(file_id).await?;
    let owner = vault.address();
    if record.owner != owner {
        return Err(Error::NotOwner {
            file_id,
            owner: record.owner,
            user: owner,
            action: "change its custody",
        });
    }
    let registry_address = vault.registry_address()?;
    let _lock = super::lock::lock(
        &format!("custody-{file_id}"),
        &format!("custody move of file {file_id}"),
    )?;
    let path = move_path(file_id);
    let current = custody_of(file_id, record.scheme)?;
    let file = vault.file_ref(file_id)?;

    let pending = load(&path)?;
    let resumed = pending.is_some();
    let (state, key) = match pending {
        Some(state) => {
            if state.owner != owner
                || state.chain_id != vault.network.chain_id
                || state.registry != registry_address
            {
                return Err(Error::PendingState {
                    path,
                    message: "it belongs to another account or network".into(),
                });
            }
            if state.to != to {
                return Err(Error::Custody {
                    file_id,
                    message: format!(
                        "an unfinished move of this file to {} custody exists: finish it \
                         first with `zgvault custody {file_id} --to {}`",
                        state.to.name(),
                        state.to.name()
                    ),
                });
            }
            let key = unseal(vault, &path, &state)?;
            (state, key)
        }
        None => {
            if current == to {
                return Ok(MoveReport {
                    file_id,
                    from: current,
                    to,
                    unchanged: true,
                    recovered_from: None,
                    set_capsule_tx: None,
                    vault: None,
                    old_custody: Vec::new(),
                    resumed: false,
                    note: format!("the file already is in {} custody", to.name()),
                });
            }
            progress("recovering the key through the current custody");
            let recovered =
                super::recover::recover_file_key(vault, file_id, &record, &|_, _| {}).await?;
            let recovered_from = match &recovered.vault {
                Some(url) => Some(format!("custodial vault {url}")),
                None => Some(format!("key nodes {:?}", recovered.nodes_used)),
            };
            progress("building the new protection");
            let new_capsule = match to {
                Custody::Threshold => vault
                    .key_network()
                    .await?
                    .key_set
                    .encrypt_file_key(&file, &recovered.key)
                    .to_bytes(),
                _ => {
                    let vault_key = vault_encryption_key(vault).await?;
                    CustodialCapsule::new(&file, vault_key, &recovered.key).to_bytes()
                }
            };
            let sealed = seal_local(vault.signer(), recovered.key.as_bytes(), &key_aad(file_id))?;
            let state = PendingMove {
                version: MOVE_VERSION,
                owner,
                chain_id: vault.network.chain_id,
                registry: registry_address,
                file_id,
                from: current,
                to,
                sealed_key: hex::encode(sealed),
                new_capsule: hex::encode(new_capsule),
                recovered_from,
            };
            store(&path, &state)?;
            (state, recovered.key)
        }
    };

    let new_capsule = hex::decode(&state.new_capsule).map_err(|_| Error::PendingState {
        path: path.clone(),
        message: "the new capsule is not hex".into(),
    })?;
    let registry = vault.registry()?;
    let registered = registry
        .capsuleOf(file_id)
        .call()
        .await
        .map_err(|e| chain_error("reading the capsule", &vault.network, e))?;
    let mut set_capsule_tx = None;
    if record.scheme != scheme_of(to) || registered.as_ref() != new_capsule.as_slice() {
        progress("registering the new capsule (setCapsule)");
        let during = format!("setting the capsule of file {file_id}");
        let sent = registry
            .setCapsule(file_id, scheme_of(to), Bytes::from(new_capsule))
            .send()
            .await
            .map_err(|e| {
                super::manage::send_error(
                    vault,
                    &during,
                    e,
                    "K is kept sealed locally: run the same `zgvault custody` again to resume",
                )
            })?;
        let receipt = sent
            .get_receipt()
            .await
            .map_err(|e| chain_error(&during, &vault.network, e))?;
        if !receipt.status() {
            return Err(Error::Reverted {
                during,
                reason: format!("transaction {} reverted", receipt.transaction_hash),
                advice: "K is kept sealed locally: run the same `zgvault custody` again to \
                         resume",
            });
        }
        set_capsule_tx = Some(receipt.transaction_hash);
    }

    let mut vault_url = None;
    if to == Custody::Custodial {
        progress("depositing the key with the custodial vault");
        vault_url = Some(deposit_custodial_key(vault, &path, file_id, &key).await?);
    }

    let holders = match state.from {
        Custody::Shamir => shamir_holders(vault).await?,
        Custody::Custodial => vec![vault_holder(vault).await?],
        Custody::Threshold => Vec::new(),
    };
    let mut old_custody = Vec::new();
    if !holders.is_empty() {
        progress("shredding the old custody");
        old_custody = shred_at(vault, file_id, &holders).await?;
    }
    let complete = old_custody.iter().all(ShredOutcome::done);
    let note = if !complete {
        format!(
            "K is now in {} custody, but some holders of the old custody did not confirm the \
             shred; K stays sealed locally in {} until they do: run `zgvault custody {file_id} \
             --to {}` again once they are up",
            to.name(),
            path.display(),
            to.name()
        )
    } else if state.from == Custody::Threshold {
        "the old threshold capsule is no longer registered, so the key nodes refuse it".into()
    } else {
        format!(
            "the old {} custody was shredded; copies of the key already released stay released",
            state.from.name()
        )
    };
    if complete {
        let _ = std::fs::remove_file(&path);
    }
    Ok(MoveReport {
        file_id,
        from: state.from,
        to,
        unchanged: false,
        recovered_from: state.recovered_from.clone(),
        set_capsule_tx,
        vault: vault_url,
        old_custody,
        resumed,
        note,
    })
}

fn load(path: &Path) -> Result<Option<PendingMove>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                action: "read",
                path: path.to_owned(),
                source,
            });
        }
    };
    let state: PendingMove = serde_json::from_str(&text).map_err(|e| Error::PendingState {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if state.version != MOVE_VERSION {
        return Err(Error::PendingState {
            path: path.to_owned(),
            message: format!("unknown version {}", state.version),
        });
    }
    Ok(Some(state))
}

fn store(path: &Path, state: &PendingMove) -> Result<(), Error> {
    let text = serde_json::to_vec_pretty(state).map_err(|_| Error::Internal {
        what: "serializing the pending move",
    })?;
    write_private(path, &text)
}

fn unseal(vault: &Vault, path: &Path, state: &PendingMove) -> Result<FileKey, Error> {
    let bad = |message: &str| Error::PendingState {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    let sealed = hex::decode(&state.sealed_key).map_err(|_| bad("the sealed key is not hex"))?;
    let plain = open_local(vault.signer(), &sealed, &key_aad(state.file_id))?
        .ok_or_else(|| bad("the file key does not open with this account's key"))?;
    Ok(FileKey::from_slice(&plain)?)
}
