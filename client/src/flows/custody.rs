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
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};
use zgvault_proto::FileKey;
use zgvault_proto::request::CustodialCapsule;

use super::put::{deposit_custodial_key, trusted_vault_key};
use super::recover::{KeyProgress, RecoveredKey, recover_file_key, wire_scheme};
use super::shred::{ShredOutcome, shamir_holders, shred_at, vault_holder_of};
use super::{Custody, Session, chain_error, state_dir, write_private};
use crate::account::{open_local, seal_local};
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
    /// From custodial: the encryption key of the vault that held K, as the capsule
    /// registered before `setCapsule` named it; the old custody's shred goes there only.
    #[serde(default)]
    old_vault_key: Option<B256>,
    /// K is sealed with every field above as associated data ([`state_aad`]), so none can
    /// be changed on disk (states written before this field bind the file id only).
    #[serde(default)]
    bound: bool,
}

/// The custody a registry scheme code stands for.
fn custody_of(file_id: B256, scheme: u8) -> Result<Custody, Error> {
    wire_scheme(file_id, scheme).map(Custody::of_scheme)
}

/// The registry's scheme code of `custody`.
const fn scheme_of(custody: Custody) -> u8 {
    custody.scheme().as_u8()
}

pub(crate) fn move_path(file_id: B256) -> PathBuf {
    state_dir().join("moves").join(format!("{file_id}.json"))
}

/// The associated data K was sealed with in states written before `bound`.
fn key_aad(file_id: B256) -> Vec<u8> {
    let mut aad = b"zgvault/custody-move".to_vec();
    aad.extend_from_slice(file_id.as_slice());
    aad
}

/// The associated data K is sealed with: every field of the state but K itself, so that a
/// state changed on disk (another capsule, another old vault) no longer opens.
fn state_aad(state: &PendingMove) -> Vec<u8> {
    if !state.bound {
        return key_aad(state.file_id);
    }
    let mut aad = b"zgvault/custody-move/v2".to_vec();
    aad.extend_from_slice(&state.version.to_be_bytes());
    aad.extend_from_slice(state.owner.as_slice());
    aad.extend_from_slice(&state.chain_id.to_be_bytes());
    aad.extend_from_slice(state.registry.as_slice());
    aad.extend_from_slice(state.file_id.as_slice());
    aad.push(scheme_of(state.from));
    aad.push(scheme_of(state.to));
    let capsule = state.new_capsule.as_bytes();
    aad.extend_from_slice(&(capsule.len() as u64).to_be_bytes());
    aad.extend_from_slice(capsule);
    match state.old_vault_key {
        Some(key) => {
            aad.push(1);
            aad.extend_from_slice(key.as_slice());
        }
        None => aad.push(0),
    }
    aad
}

/// Seals `key` into `state` (bound to all its fields) and writes it to `path`.
fn seal_and_store(
    session: &Session,
    path: &Path,
    state: &mut PendingMove,
    key: &FileKey,
) -> Result<(), Error> {
    state.bound = true;
    let sealed = seal_local(session.signer(), key.as_bytes(), &state_aad(state))?;
    state.sealed_key = hex::encode(sealed);
    store(path, state)
}

/// The registered custodial capsule's vault key.
async fn registered_vault_key(session: &Session, file_id: B256) -> Result<B256, Error> {
    Ok(B256::from(
        *session
            .custodial_capsule(file_id)
            .await?
            .vault_key
            .as_bytes(),
    ))
}

/// Whether the new custody released the same K: only then may the old one be shredded.
fn verify_new_custody(
    file_id: B256,
    to: Custody,
    path: &Path,
    key: &FileKey,
    released: Result<RecoveredKey, Error>,
) -> Result<(), Error> {
    let kept = format!(
        "the old custody was not shredded and K stays sealed locally in {}: run `zgvault \
         custody {file_id} --to {}` again once it does (the move resumes)",
        path.display(),
        to.name()
    );
    match released {
        Ok(got) if got.key == *key => Ok(()),
        Ok(_) => Err(Error::Custody {
            file_id,
            message: format!(
                "the new {} custody released a key that is not the file's key; {kept}",
                to.name()
            ),
        }),
        Err(e) => Err(Error::Custody {
            file_id,
            message: format!(
                "the new {} custody does not release the key to its owner ({e}); {kept}",
                to.name()
            ),
        }),
    }
}

/// Moves the K of `file_id` (owner only) into `to` custody. `progress(message)` names
/// each step as it starts.
pub async fn move_custody(
    session: &Session,
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
    let record = session.record(file_id).await?;
    let owner = session.address();
    if record.owner != owner {
        return Err(Error::NotOwner {
            file_id,
            owner: record.owner,
            user: owner,
            action: "change its custody",
        });
    }
    let registry_address = session.registry_address()?;
    let _lock = super::lock::lock(
        &format!("custody-{file_id}"),
        &format!("custody move of file {file_id}"),
    )?;
    let path = move_path(file_id);
    let current = custody_of(file_id, record.scheme)?;
    let file = session.file_ref(file_id)?;
    // Right after `setCapsule` the new capsule is at the head, and the holders answer only
    // for a block their confirmations deep: say so once per wait.
    let waiting_until = AtomicU64::new(0);
    let confirming = |step: KeyProgress| {
        if let KeyProgress::Confirming { until, .. } = step
            && waiting_until.swap(until, Ordering::Relaxed) != until
        {
            progress(
                "waiting for the chain: the key holders answer only for a block some \
                 confirmations below the head",
            );
        }
    };

    let pending = load(&path)?;
    let resumed = pending.is_some();
    let (state, key) = match pending {
        Some(state) => {
            if state.owner != owner
                || state.chain_id != session.network.chain_id
                || state.registry != registry_address
            {
                return Err(Error::PendingMove {
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
            let key = unseal(session, &path, &state)?;
            let state = recheck(session, &path, state, &key, &record).await?;
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
            // The vault holding K now, as registered: after `setCapsule` the chain no
            // longer says, and the old custody's shred must go there and nowhere else.
            let old_vault_key = match current {
                Custody::Custodial => Some(registered_vault_key(session, file_id).await?),
                _ => None,
            };
            progress("recovering the key through the current custody");
            let recovered = recover_file_key(session, file_id, &record, &confirming).await?;
            let recovered_from = match &recovered.vault {
                Some(url) => Some(format!("custodial vault {url}")),
                None => Some(format!("key nodes {:?}", recovered.nodes_used)),
            };
            progress("building the new protection");
            let new_capsule = match to {
                Custody::Threshold => session
                    .key_network()
                    .await?
                    .key_set
                    .encrypt_file_key(&file, &recovered.key)?
                    .to_bytes(),
                _ => {
                    let vault_key = trusted_vault_key(session).await?;
                    CustodialCapsule::new(&file, vault_key, &recovered.key).to_bytes()
                }
            };
            let mut state = PendingMove {
                version: MOVE_VERSION,
                owner,
                chain_id: session.network.chain_id,
                registry: registry_address,
                file_id,
                from: current,
                to,
                sealed_key: String::new(),
                new_capsule: hex::encode(new_capsule),
                recovered_from,
                old_vault_key,
                bound: true,
            };
            seal_and_store(session, &path, &mut state, &recovered.key)?;
            (state, recovered.key)
        }
    };

    let new_capsule = hex::decode(&state.new_capsule).map_err(|_| Error::PendingMove {
        path: path.clone(),
        message: "the new capsule is not hex".into(),
    })?;
    let registry = session.registry()?;
    let registered = session.capsule(file_id).await?;
    let mut set_capsule_tx = None;
    if record.scheme != scheme_of(to) || registered != new_capsule {
        progress("registering the new capsule (setCapsule)");
        let during = format!("setting the capsule of file {file_id}");
        let sent = registry
            .setCapsule(file_id, scheme_of(to), Bytes::from(new_capsule))
            .send()
            .await
            .map_err(|e| {
                super::manage::send_error(
                    session,
                    &during,
                    e,
                    "K is kept sealed locally: run the same `zgvault custody` again to resume",
                )
            })?;
        let receipt = sent
            .get_receipt()
            .await
            .map_err(|e| chain_error(&during, &session.network, e))?;
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
        vault_url = Some(deposit_custodial_key(session, &path, file_id, &key).await?);
    }

    // Before anything of the old custody is destroyed: does the new one serve K?
    progress("checking that the new custody releases the key");
    let now = session.record(file_id).await?;
    let released = recover_file_key(session, file_id, &now, &confirming).await;
    verify_new_custody(file_id, to, &path, &key, released)?;

    let holders = match (state.from, state.old_vault_key) {
        (Custody::Shamir, _) => shamir_holders(session).await?,
        (Custody::Custodial, Some(old)) => {
            let old = zgvault_proto::sealbox::BoxPublicKey::from_bytes(old.0);
            vec![vault_holder_of(session, file_id, &old).await?]
        }
        (Custody::Custodial, None) => {
            return Err(Error::PendingMove {
                path,
                message: "it does not say which vault held the key before the move".into(),
            });
        }
        (Custody::Threshold, _) => Vec::new(),
    };
    let mut old_custody = Vec::new();
    if !holders.is_empty() {
        progress("shredding the old custody");
        old_custody = shred_at(session, file_id, &holders).await?;
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
    let note = if complete {
        match std::fs::remove_file(&path) {
            Ok(()) => note,
            Err(e) => format!(
                "{note}; the move is complete but its state file {} could not be removed ({e}): \
                 delete it by hand",
                path.display()
            ),
        }
    } else {
        note
    };
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
    let state: PendingMove = serde_json::from_str(&text).map_err(|e| Error::PendingMove {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if state.version != MOVE_VERSION {
        return Err(Error::PendingMove {
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

fn unseal(session: &Session, path: &Path, state: &PendingMove) -> Result<FileKey, Error> {
    let bad = |message: &str| Error::PendingMove {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    let sealed = hex::decode(&state.sealed_key).map_err(|_| bad("the sealed key is not hex"))?;
    let plain = open_local(session.signer(), &sealed, &state_aad(state))?.ok_or_else(|| {
        bad("the file key does not open with this account's key, or the state was changed")
    })?;
    Ok(FileKey::from_slice(&plain)?)
}

/// A resumed move's state, checked against K before anything is registered: the new
/// capsule must protect K. States written before `bound` are brought up to date (the
/// capsule rebuilt when not yet registered, the old vault taken from the chain while it
/// still says) and written back bound.
async fn recheck(
    session: &Session,
    path: &Path,
    mut state: PendingMove,
    key: &FileKey,
    record: &zgvault_contracts::FileRegistry::FileInfo,
) -> Result<PendingMove, Error> {
    let bad = |message: &str| Error::PendingMove {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    let file = session.file_ref(state.file_id)?;
    let capsule = hex::decode(&state.new_capsule).map_err(|_| bad("the new capsule is not hex"))?;
    if state.to == Custody::Custodial
        && !CustodialCapsule::from_bytes(&capsule)
            .map(|c| c.matches(&file, key))
            .unwrap_or(false)
    {
        return Err(bad("its new capsule does not commit to the file's key"));
    }
    if state.bound {
        return Ok(state);
    }
    let registered = record.scheme == scheme_of(state.to)
        && session
            .registry()?
            .capsuleOf(state.file_id)
            .call()
            .await
            .map_err(|e| chain_error("reading the capsule", &session.network, e))?
            .as_ref()
            == capsule.as_slice();
    if state.to == Custody::Threshold && !registered {
        // Not authenticated and not checkable locally: build it again from K.
        state.new_capsule = hex::encode(
            session
                .key_network()
                .await?
                .key_set
                .encrypt_file_key(&file, key)?
                .to_bytes(),
        );
    }
    if state.from == Custody::Custodial && state.old_vault_key.is_none() {
        if record.scheme != scheme_of(Custody::Custodial) {
            return Err(bad(
                "it was written by an older zgvault and does not say which vault held the key, \
                 and the registry no longer does",
            ));
        }
        state.old_vault_key = Some(registered_vault_key(session, state.file_id).await?);
    }
    seal_and_store(session, path, &mut state, key)?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    fn recovered(key: &FileKey) -> RecoveredKey {
        RecoveredKey {
            key: FileKey::from_slice(key.as_bytes()).unwrap(),
            nodes_used: vec![0, 1, 2],
            node_failures: Vec::new(),
            vault: None,
        }
    }

    #[test]
    fn the_old_custody_is_kept_unless_the_new_one_releases_the_same_key() {
        let (id, path) = (B256::repeat_byte(5), Path::new("/s/moves/x.json"));
        let key = FileKey::generate().unwrap();
        verify_new_custody(id, Custody::Threshold, path, &key, Ok(recovered(&key))).unwrap();

        let other = FileKey::generate().unwrap();
        let text = verify_new_custody(id, Custody::Threshold, path, &key, Ok(recovered(&other)))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("not the file's key") && text.contains("not shredded"),
            "{text}"
        );
        let down = Err(Error::VaultUnreachable {
            url: "http://v".into(),
            message: "connection refused".into(),
        });
        let text = verify_new_custody(id, Custody::Custodial, path, &key, down)
            .unwrap_err()
            .to_string();
        for part in [
            "custodial custody does not release",
            "connection refused",
            "not shredded",
            "/s/moves/x.json",
            "--to custodial",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }

    fn state(bound: bool) -> PendingMove {
        PendingMove {
            version: MOVE_VERSION,
            owner: Address::repeat_byte(1),
            chain_id: 31337,
            registry: Address::repeat_byte(2),
            file_id: B256::repeat_byte(3),
            from: Custody::Custodial,
            to: Custody::Threshold,
            sealed_key: String::new(),
            new_capsule: "aa".repeat(64),
            recovered_from: None,
            old_vault_key: Some(B256::repeat_byte(4)),
            bound,
        }
    }

    #[test]
    fn fail_a_move_state_changed_on_disk_does_not_open() {
        let signer = PrivateKeySigner::random();
        let key = FileKey::generate().unwrap();
        let mut good = state(true);
        let sealed = seal_local(&signer, key.as_bytes(), &state_aad(&good)).unwrap();
        good.sealed_key = hex::encode(&sealed);
        let opens = |s: &PendingMove| open_local(&signer, &sealed, &state_aad(s)).unwrap();
        assert_eq!(opens(&good).unwrap().as_slice(), key.as_bytes());
        let mut swapped = good.clone();
        swapped.new_capsule = "bb".repeat(64);
        assert!(opens(&swapped).is_none(), "another capsule opened");
        let mut other_vault = good.clone();
        other_vault.old_vault_key = Some(B256::repeat_byte(9));
        assert!(opens(&other_vault).is_none(), "another old vault opened");
        let mut no_vault = good.clone();
        no_vault.old_vault_key = None;
        assert!(opens(&no_vault).is_none());
        let mut unbound = good.clone();
        unbound.bound = false;
        assert!(
            opens(&unbound).is_none(),
            "downgraded to the file-id-only binding"
        );

        // A state written before the binding still loads (defaults) and opens.
        let legacy = serde_json::json!({
            "version": 1, "owner": Address::repeat_byte(1), "chain_id": 31337,
            "registry": Address::repeat_byte(2), "file_id": B256::repeat_byte(3),
            "from": "custodial", "to": "threshold", "sealed_key": "",
            "new_capsule": "aa",
        });
        let old: PendingMove = serde_json::from_value(legacy).unwrap();
        assert!(!old.bound && old.old_vault_key.is_none());
        assert_eq!(state_aad(&old), key_aad(old.file_id));
    }
}
