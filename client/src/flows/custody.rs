//! `custody`: move a registered file's K to another custody without re-uploading. The
//! owner recovers K through the current custody (the registry lets the owner read), builds
//! the new protection (a BLS capsule from the NodeRegistry's key set, or a custodial
//! capsule for the vault), `setCapsule`s it, deposits K with the vault when custodial, and
//! shreds the old custody (Shamir shares, the vault's copy).
//!
//! Crash safety, as in `put`: once K is recovered it is kept sealed under the owner's key
//! in `<state>/moves/<fileId>.json` (0600, `pending.rs`) until the new custody holds it and
//! the old one is shredded; running the same move again resumes. Moving *into* Shamir is
//! refused: that scheme generates K itself, so the file would have to be sealed and
//! uploaded again.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::primitives::{B256, Bytes};
use serde::Serialize;
use zgvault_proto::FileKey;
use zgvault_proto::request::CustodialCapsule;
use zgvault_proto::sealbox::BoxPublicKey;

use super::pending::{self, KeyState, NewMove, PendingMove};
use super::put::{deposit_custodial_key, trusted_vault_key};
use super::recover::{KeyProgress, RecoveredKey, recover_file_key, wire_scheme};
use super::shred::{ShredOutcome, shamir_holders, shred_at, vault_holder_of};
use super::{Custody, FileAt, Session};
use crate::error::Error;
use crate::keys::list_nodes;

/// Said when a move stops before it is complete: nothing is lost.
const RESUME_ADVICE: &str =
    "K is kept sealed locally: run the same `zgvault custody` again to resume";

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

/// The custody a registry scheme code stands for.
fn custody_of(file_id: B256, scheme: u8) -> Result<Custody, Error> {
    wire_scheme(file_id, scheme).map(Custody::of_scheme)
}

/// Moves the K of `file_id` (owner only) into `to` custody. `progress(message)` names
/// each step as it starts.
pub async fn move_custody(
    session: &Session,
    file_id: B256,
    to: Custody,
    progress: &(dyn Fn(&'static str) + Sync),
) -> Result<MoveReport, Error> {
    let file = movable(session, file_id, to).await?;
    let _lock = pending::lock_move(file_id)?;
    let current = custody_of(file_id, file.record.scheme)?;
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

    let (state, key, resumed) = match pending::load_move(file_id)? {
        Some(state) => {
            let (state, key) = resume(session, state, to, &file).await?;
            (state, key, true)
        }
        None if current == to => return Ok(MoveReport::unchanged(file_id, to)),
        None => {
            let (state, key) = begin(session, &file, current, to, &confirming, progress).await?;
            (state, key, false)
        }
    };
    let path = pending::move_path(file_id);
    let set_capsule_tx = set_capsule(session, &state, &file, progress).await?;
    let vault = match to {
        Custody::Custodial => {
            progress("depositing the key with the custodial vault");
            Some(deposit_custodial_key(session, &path, file_id, &key).await?)
        }
        Custody::Threshold | Custody::Shamir => None,
    };
    // Before anything of the old custody is destroyed: does the new one serve K?
    progress("checking that the new custody releases the key");
    let now = session.file_at_head(file_id).await?;
    let released = recover_file_key(session, &now, &confirming).await;
    verify_new_custody(file_id, to, &path, &key, released)?;

    let old_custody = shred_old_custody(session, &state, progress).await?;
    let note = finish(&state, &path, &old_custody);
    Ok(MoveReport {
        file_id,
        from: state.from,
        to,
        unchanged: false,
        recovered_from: state.recovered_from.clone(),
        set_capsule_tx,
        vault,
        old_custody,
        resumed,
        note,
    })
}

/// `file_id` at the head, if this user may move it into `to` custody.
async fn movable(session: &Session, file_id: B256, to: Custody) -> Result<FileAt, Error> {
    if to == Custody::Shamir {
        return Err(Error::Custody {
            file_id,
            message: "moving into shamir custody needs the file sealed again under a new key \
                      (shamir generates K itself): `zgvault put FILE --custody shamir` \
                      uploads a new copy; or move it to threshold or custodial custody"
                .into(),
        });
    }
    let file = session.file_at_head(file_id).await?;
    if file.record.owner != session.address() {
        return Err(Error::NotOwner {
            file_id,
            owner: file.record.owner,
            user: session.address(),
            action: "change its custody",
        });
    }
    Ok(file)
}

impl MoveReport {
    /// The file already is in `to` custody: nothing to do.
    fn unchanged(file_id: B256, to: Custody) -> MoveReport {
        MoveReport {
            file_id,
            from: to,
            to,
            unchanged: true,
            recovered_from: None,
            set_capsule_tx: None,
            vault: None,
            old_custody: Vec::new(),
            resumed: false,
            note: format!("the file already is in {} custody", to.name()),
        }
    }
}

/// A new move: K recovered through the current custody, the new capsule built, and both
/// kept in the move's state before anything is registered.
async fn begin(
    session: &Session,
    file: &FileAt,
    from: Custody,
    to: Custody,
    confirming: &(dyn Fn(KeyProgress) + Sync),
    progress: &(dyn Fn(&'static str) + Sync),
) -> Result<(PendingMove, FileKey), Error> {
    // The vault holding K now, as registered: after `setCapsule` the chain no longer says,
    // and the old custody's shred must go there and nowhere else.
    let file_id = file.file_id;
    let old_vault_key = match from {
        Custody::Custodial => Some(registered_vault_key(file)?),
        Custody::Threshold | Custody::Shamir => None,
    };
    progress("recovering the key through the current custody");
    let recovered = recover_file_key(session, file, confirming).await?;
    let recovered_from = match &recovered.vault {
        Some(url) => format!("custodial vault {url}"),
        None => format!("key nodes {}", list_nodes(&recovered.nodes_used)),
    };
    progress("building the new protection");
    let new_capsule = new_capsule(session, file_id, to, &recovered.key).await?;
    let new = NewMove {
        file_id,
        from,
        to,
        new_capsule,
        recovered_from,
        old_vault_key,
    };
    let state = PendingMove::create(session, new, &recovered.key)?;
    Ok((state, recovered.key))
}

/// The capsule protecting `key` in `to` custody.
async fn new_capsule(
    session: &Session,
    file_id: B256,
    to: Custody,
    key: &FileKey,
) -> Result<Vec<u8>, Error> {
    let file = session.file_ref(file_id)?;
    Ok(match to {
        Custody::Custodial => {
            CustodialCapsule::new(&file, trusted_vault_key(session).await?, key).to_bytes()
        }
        Custody::Threshold | Custody::Shamir => session
            .key_network()
            .await?
            .key_set
            .encrypt_file_key(&file, key)?
            .to_bytes(),
    })
}

/// A move found on disk, for this account and network and to the same custody; K unsealed
/// and the state checked against it.
async fn resume(
    session: &Session,
    state: PendingMove,
    to: Custody,
    file: &FileAt,
) -> Result<(PendingMove, FileKey), Error> {
    let path = pending::move_path(state.file_id);
    if !state.of(session) {
        return Err(PendingMove::unusable(
            &path,
            "it belongs to another account or network".into(),
        ));
    }
    if state.to != to {
        return Err(Error::Custody {
            file_id: state.file_id,
            message: format!(
                "an unfinished move of this file to {} custody exists: finish it first with \
                 `zgvault custody {} --to {}`",
                state.to.name(),
                state.file_id,
                state.to.name()
            ),
        });
    }
    let key = pending::unseal(session, &path, &state)?;
    let state = recheck(session, state, &key, file).await?;
    Ok((state, key))
}

/// Registers the new capsule unless it already is; returns the transaction.
async fn set_capsule(
    session: &Session,
    state: &PendingMove,
    file: &FileAt,
    progress: &(dyn Fn(&'static str) + Sync),
) -> Result<Option<B256>, Error> {
    let new_capsule = state.new_capsule()?;
    let scheme = state.to.scheme().as_u8();
    if file.record.scheme == scheme && file.capsule == new_capsule {
        return Ok(None);
    }
    progress("registering the new capsule (setCapsule)");
    let sent = session
        .registry()?
        .setCapsule(state.file_id, scheme, Bytes::from(new_capsule))
        .send()
        .await;
    let during = format!("setting the capsule of file {}", state.file_id);
    let receipt = session.confirm(&during, sent, RESUME_ADVICE).await?;
    Ok(Some(receipt.transaction_hash))
}

/// Shreds what the old custody holds (nothing for threshold); returns each holder's answer.
async fn shred_old_custody(
    session: &Session,
    state: &PendingMove,
    progress: &(dyn Fn(&'static str) + Sync),
) -> Result<Vec<ShredOutcome>, Error> {
    let holders = match (state.from, state.old_vault_key) {
        (Custody::Shamir, _) => shamir_holders(session).await?,
        (Custody::Custodial, Some(old)) => {
            let old = BoxPublicKey::from_bytes(old.0);
            vec![vault_holder_of(session, state.file_id, &old).await?]
        }
        (Custody::Custodial, None) => {
            return Err(PendingMove::unusable(
                &pending::move_path(state.file_id),
                "it does not say which vault held the key before the move".into(),
            ));
        }
        (Custody::Threshold, _) => Vec::new(),
    };
    if holders.is_empty() {
        return Ok(Vec::new());
    }
    progress("shredding the old custody");
    shred_at(session, state.file_id, &holders).await
}

/// What the move leaves behind: its state is deleted once every old holder confirmed the
/// shred, and kept (with K) until then.
fn finish(state: &PendingMove, path: &Path, old_custody: &[ShredOutcome]) -> String {
    let (file_id, to) = (state.file_id, state.to.name());
    if !old_custody.iter().all(ShredOutcome::done) {
        return format!(
            "K is now in {to} custody, but some holders of the old custody did not confirm the \
             shred; K stays sealed locally in {} until they do: run `zgvault custody {file_id} \
             --to {to}` again once they are up",
            path.display(),
        );
    }
    let note = match state.from {
        Custody::Threshold => {
            "the old threshold capsule is no longer registered, so the key nodes refuse it".into()
        }
        from => format!(
            "the old {} custody was shredded; copies of the key already released stay released",
            from.name()
        ),
    };
    match pending::remove(path, file_id) {
        Ok(()) => note,
        Err(e) => format!("{note}; the move is complete, but {e}"),
    }
}

/// The vault key of the custodial capsule registered at `file.block`.
fn registered_vault_key(file: &FileAt) -> Result<B256, Error> {
    let capsule = CustodialCapsule::from_bytes(&file.capsule)?;
    Ok(B256::from(*capsule.vault_key.as_bytes()))
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

/// A resumed move's state, checked against K before anything is registered: the new
/// capsule must protect K. States written before K was bound to every field are brought up
/// to date (the capsule rebuilt when not yet registered, the old vault taken from the chain
/// while it still says) and written back bound.
async fn recheck(
    session: &Session,
    mut state: PendingMove,
    key: &FileKey,
    file: &FileAt,
) -> Result<PendingMove, Error> {
    let path = pending::move_path(state.file_id);
    let bad = |message: &str| PendingMove::unusable(&path, message.to_owned());
    let file_ref = session.file_ref(state.file_id)?;
    let capsule = state.new_capsule()?;
    if state.to == Custody::Custodial
        && !CustodialCapsule::from_bytes(&capsule)
            .map(|c| c.matches(&file_ref, key))
            .unwrap_or(false)
    {
        return Err(bad("its new capsule does not commit to the file's key"));
    }
    if state.is_bound() {
        return Ok(state);
    }
    let registered = file.record.scheme == state.to.scheme().as_u8() && file.capsule == capsule;
    if state.to == Custody::Threshold && !registered {
        // Not authenticated and not checkable locally: build it again from K.
        state.new_capsule = hex::encode(new_capsule(session, state.file_id, state.to, key).await?);
    }
    if state.from == Custody::Custodial && state.old_vault_key.is_none() {
        if file.record.scheme != Custody::Custodial.scheme().as_u8() {
            return Err(bad(
                "it was written by an older zgvault and does not say which vault held the key, \
                 and the registry no longer does",
            ));
        }
        state.old_vault_key = Some(registered_vault_key(file)?);
    }
    state.rebind(session, key)?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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
}
