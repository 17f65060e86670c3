//! The local state that holds K while a `put` or a custody move is pending, used by `put`,
//! `custody` and `shred`: where it lives (`<state>/pending/<fileId>.json` beside the sealed
//! copy being uploaded, `<state>/moves/<fileId>.json`), the per-file lock that keeps a second
//! process away (`lock.rs`), K sealed under a key derived from the user's keystore and bound
//! to the state's fields, and the versioned load and store. A state file is deleted only once
//! the chain and every holder have what they need, so K is never lost in between.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zgvault_proto::FileKey;
use zgvault_proto::threshold::{ShamirCommitments, ShamirShare, ShamirSplit};

use super::lock::{StateLock, lock};
use super::{Custody, Session, remove_if_present, state_dir, write_private};
use crate::account::{open_local, seal_local};
use crate::error::Error;

/// A state file holding K sealed: how it is versioned, bound and reported when unusable.
pub(crate) trait KeyState: Serialize + DeserializeOwned {
    /// The associated data K is sealed with: every field that must not change on disk.
    fn key_aad(&self) -> Vec<u8>;
    /// K sealed under the owner's key (hex).
    fn sealed_key(&self) -> &str;
    fn set_sealed_key(&mut self, sealed: String);
    /// The error for a state file that cannot be used, saying what to do.
    fn unusable(path: &Path, message: String) -> Error;
}

/// Reads the state at `path`; `Ok(None)` when there is none. Unknown versions and fields
/// are refused.
pub(crate) fn load<T: KeyState>(path: &Path) -> Result<Option<T>, Error> {
    let Some(text) = crate::files::read_if_present(path, "read")? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| T::unusable(path, e.to_string()))
}

/// Seals `key` into `state` (bound to its fields) and writes it to `path` (0600).
pub(crate) fn store<T: KeyState>(
    session: &Session,
    path: &Path,
    state: &mut T,
    key: &FileKey,
) -> Result<(), Error> {
    let sealed = seal_local(session.signer(), key.as_bytes(), &state.key_aad())?;
    state.set_sealed_key(hex::encode(sealed));
    let text = serde_json::to_vec_pretty(state).map_err(|_| Error::Internal {
        what: "serializing a pending state",
    })?;
    write_private(path, &text)
}

/// K from `state`, if it opens with this account's key and the state was not changed.
pub(crate) fn unseal<T: KeyState>(
    session: &Session,
    path: &Path,
    state: &T,
) -> Result<FileKey, Error> {
    let sealed = hex::decode(state.sealed_key())
        .map_err(|_| T::unusable(path, "the sealed key is not hex".into()))?;
    let plain = open_local(session.signer(), &sealed, &state.key_aad())?.ok_or_else(|| {
        T::unusable(
            path,
            "the file key does not open with this account's key, or the state was changed".into(),
        )
    })?;
    Ok(FileKey::from_slice(&plain)?)
}

/// Deletes the state file of `file_id`, which holds K: a failure is an error the user must
/// hear about.
pub(crate) fn remove(path: &Path, file_id: B256) -> Result<(), Error> {
    remove_if_present(path).map_err(|source| Error::KeyStateNotRemoved {
        file_id,
        path: path.to_owned(),
        source,
    })
}

// ---- put ----------------------------------------------------------------------------

const PUT_VERSION: u32 = 2;

/// How a put protects K: what its capsule is and where K is delivered once the file is
/// registered. Each custody carries what it needs, so no other combination exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum CustodyPlan {
    /// Capsule: K encrypted to the key network's BLS key set. Delivered nowhere.
    Threshold,
    /// Capsule: the Feldman commitments of K's split. Share `i` goes to key node `i`.
    Shamir(ShamirPlan),
    /// Capsule: commits to K and names the vault. K goes to that vault.
    Custodial,
}

/// The Shamir split of a pending `put`, kept until every node acknowledged its share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShamirPlan {
    /// The Feldman commitments (hex): registered as the file's capsule.
    commitments: String,
    /// Share i sealed under the owner's key (hex), in node order.
    shares: Vec<String>,
}

impl CustodyPlan {
    /// The custody this plan ends in.
    pub(crate) const fn custody(&self) -> Custody {
        match self {
            CustodyPlan::Threshold => Custody::Threshold,
            CustodyPlan::Shamir(_) => Custody::Shamir,
            CustodyPlan::Custodial => Custody::Custodial,
        }
    }
}

impl ShamirPlan {
    /// The plan for `split` of the file `file_id`: each share sealed under the owner's key.
    pub(crate) fn new(
        session: &Session,
        file_id: B256,
        split: &ShamirSplit,
    ) -> Result<Self, Error> {
        let shares = split
            .shares
            .iter()
            .map(|share| {
                let aad = share_aad(file_id, share.node_index());
                seal_local(session.signer(), share.to_bytes().as_slice(), &aad).map(hex::encode)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(ShamirPlan {
            commitments: hex::encode(split.commitments.to_bytes()),
            shares,
        })
    }

    pub(crate) fn commitments(&self, path: &Path) -> Result<ShamirCommitments, Error> {
        let bytes = hex::decode(&self.commitments)
            .map_err(|_| PendingPut::unusable(path, "the Shamir commitments are not hex".into()))?;
        Ok(ShamirCommitments::from_bytes(&bytes)?)
    }

    /// Every share with its node index, opened with the owner's key.
    pub(crate) fn shares(
        &self,
        session: &Session,
        path: &Path,
        file_id: B256,
    ) -> Result<Vec<ShamirShare>, Error> {
        let bad = |message: String| PendingPut::unusable(path, message);
        self.shares
            .iter()
            .enumerate()
            .map(|(i, sealed)| {
                let index = u32::try_from(i).map_err(|_| bad("too many shares".into()))?;
                let sealed =
                    hex::decode(sealed).map_err(|_| bad(format!("share {index} is not hex")))?;
                let plain = open_local(session.signer(), &sealed, &share_aad(file_id, index))?
                    .ok_or_else(|| {
                        bad(format!(
                            "share {index} does not open with this account's key"
                        ))
                    })?;
                Ok(ShamirShare::from_bytes(index, &plain)?)
            })
            .collect()
    }
}

fn share_aad(file_id: B256, index: u32) -> Vec<u8> {
    let mut aad = file_id.to_vec();
    aad.extend_from_slice(&index.to_be_bytes());
    aad
}

/// An unfinished `put` on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "StoredPut")]
pub struct PendingPut {
    version: u32,
    /// The plaintext this is a sealed copy of (absolute).
    pub source: PathBuf,
    pub source_size: u64,
    pub owner: Address,
    pub chain_id: u64,
    pub registry: Address,
    pub salt: B256,
    pub file_id: B256,
    pub root_hash: B256,
    /// The sealed copy being uploaded.
    pub sealed: PathBuf,
    /// K sealed under the owner's key (hex); never K itself.
    sealed_key: String,
    /// What the capsule is and where K goes.
    pub(crate) custody: CustodyPlan,
}

/// A put state as written by any version: 1 said the custody with `shamir` and
/// `custodial` (both could be set), 2 with `custody`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPut {
    version: u32,
    source: PathBuf,
    source_size: u64,
    owner: Address,
    chain_id: u64,
    registry: Address,
    salt: B256,
    file_id: B256,
    root_hash: B256,
    sealed: PathBuf,
    sealed_key: String,
    #[serde(default)]
    custody: Option<CustodyPlan>,
    #[serde(default)]
    shamir: Option<ShamirPlan>,
    #[serde(default)]
    custodial: bool,
}

impl TryFrom<StoredPut> for PendingPut {
    type Error = String;

    fn try_from(s: StoredPut) -> Result<Self, String> {
        let custody = match (s.version, s.custody, s.shamir, s.custodial) {
            (2, Some(plan), None, false) => plan,
            (1, None, None, false) => CustodyPlan::Threshold,
            (1, None, Some(plan), false) => CustodyPlan::Shamir(plan),
            (1, None, None, true) => CustodyPlan::Custodial,
            (1, None, Some(_), true) => {
                return Err("it names both Shamir and custodial custody".into());
            }
            (1 | 2, ..) => return Err(format!("its version {} custody is malformed", s.version)),
            (other, ..) => return Err(format!("unknown version {other}")),
        };
        Ok(PendingPut {
            version: PUT_VERSION,
            source: s.source,
            source_size: s.source_size,
            owner: s.owner,
            chain_id: s.chain_id,
            registry: s.registry,
            salt: s.salt,
            file_id: s.file_id,
            root_hash: s.root_hash,
            sealed: s.sealed,
            sealed_key: s.sealed_key,
            custody,
        })
    }
}

impl KeyState for PendingPut {
    fn key_aad(&self) -> Vec<u8> {
        self.file_id.to_vec()
    }
    fn sealed_key(&self) -> &str {
        &self.sealed_key
    }
    fn set_sealed_key(&mut self, sealed: String) {
        self.sealed_key = sealed;
    }
    fn unusable(path: &Path, message: String) -> Error {
        Error::PendingState {
            path: path.to_owned(),
            message,
        }
    }
}

/// What a new put state records besides K.
pub(crate) struct NewPut {
    pub(crate) source: PathBuf,
    pub(crate) source_size: u64,
    pub(crate) salt: B256,
    pub(crate) file_id: B256,
    pub(crate) root_hash: B256,
    pub(crate) sealed: PathBuf,
    pub(crate) custody: CustodyPlan,
}

impl PendingPut {
    /// Writes the state of a new put of `new`, with `key` sealed in it; returns it and its
    /// path.
    pub(crate) fn create(
        session: &Session,
        new: NewPut,
        key: &FileKey,
    ) -> Result<(PathBuf, PendingPut), Error> {
        let mut state = PendingPut {
            version: PUT_VERSION,
            source: new.source,
            source_size: new.source_size,
            owner: session.address(),
            chain_id: session.network.chain_id,
            registry: session.registry_address()?,
            salt: new.salt,
            file_id: new.file_id,
            root_hash: new.root_hash,
            sealed: new.sealed,
            sealed_key: String::new(),
            custody: new.custody,
        };
        let path = pending_dir().join(format!("{}.json", state.file_id));
        store(session, &path, &mut state, key)?;
        Ok((path, state))
    }

    /// The upload journal beside the sealed copy.
    pub(crate) fn journal(&self) -> PathBuf {
        self.sealed.with_extension("journal")
    }

    /// Whether this state belongs to `session`'s account and network.
    fn of(&self, session: &Session) -> bool {
        self.owner == session.address()
            && self.chain_id == session.network.chain_id
            && session.registry_address().is_ok_and(|r| r == self.registry)
    }

    /// Deletes the leftovers of the upload, then the state file (which holds K).
    pub(crate) fn remove(&self, path: &Path) -> Result<(), Error> {
        for leftover in [&self.sealed, &self.journal()] {
            if let Err(e) = remove_if_present(leftover) {
                tracing::warn!(path = %leftover.display(), error = %e, "could not delete an upload leftover");
            }
        }
        remove(path, self.file_id)
    }
}

/// Where unfinished puts and their sealed copies are kept.
pub(crate) fn pending_dir() -> PathBuf {
    state_dir().join("pending")
}

/// Every unfinished `put` in the state folder (unreadable files are skipped).
pub fn pending_puts() -> Vec<(PathBuf, PendingPut)> {
    let Ok(entries) = std::fs::read_dir(pending_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| Some((p.clone(), load::<PendingPut>(&p).ok()??)))
        .collect()
}

/// The unfinished put of `source` (as it is now) by this session's account, if any.
pub(crate) fn find_put(
    session: &Session,
    source: &Path,
    source_size: u64,
) -> Option<(PathBuf, PendingPut)> {
    pending_puts()
        .into_iter()
        .find(|(_, p)| p.source == source && p.source_size == source_size && p.of(session))
}

/// The lock of `put`s of `source` by this account on this registry.
pub(crate) fn lock_put(session: &Session, source: &Path) -> Result<StateLock, Error> {
    let name = put_lock_name(
        source,
        session.address(),
        session.network.chain_id,
        session.registry_address()?,
    );
    lock(&name, &format!("put of {}", source.display()))
}

fn put_lock_name(source: &Path, owner: Address, chain_id: u64, registry: Address) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut id = source.as_os_str().as_bytes().to_vec();
    id.extend_from_slice(owner.as_slice());
    id.extend_from_slice(&chain_id.to_be_bytes());
    id.extend_from_slice(registry.as_slice());
    let hash = alloy::primitives::keccak256(&id);
    format!("put-{}", hex::encode(hash.get(..12).unwrap_or_default()))
}

// ---- custody moves ------------------------------------------------------------------

const MOVE_VERSION: u32 = 1;

/// An unfinished move on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PendingMove {
    version: u32,
    pub(crate) owner: Address,
    pub(crate) chain_id: u64,
    pub(crate) registry: Address,
    pub(crate) file_id: B256,
    pub(crate) from: Custody,
    pub(crate) to: Custody,
    /// K sealed under the owner's key (hex); never K itself.
    sealed_key: String,
    /// The capsule being registered (hex).
    pub(crate) new_capsule: String,
    #[serde(default)]
    pub(crate) recovered_from: Option<String>,
    /// From custodial: the encryption key of the vault that held K, as the capsule
    /// registered before `setCapsule` named it; the old custody's shred goes there only.
    #[serde(default)]
    pub(crate) old_vault_key: Option<B256>,
    /// K is sealed with every field above as associated data ([`KeyState::key_aad`]), so
    /// none can be changed on disk (states written before this field bind the file id only).
    #[serde(default)]
    bound: bool,
}

/// What a new move state records besides K.
pub(crate) struct NewMove {
    pub(crate) file_id: B256,
    pub(crate) from: Custody,
    pub(crate) to: Custody,
    pub(crate) new_capsule: Vec<u8>,
    pub(crate) recovered_from: String,
    pub(crate) old_vault_key: Option<B256>,
}

impl PendingMove {
    /// Writes the state of a new move, with `key` sealed in it and bound to every field.
    pub(crate) fn create(
        session: &Session,
        new: NewMove,
        key: &FileKey,
    ) -> Result<PendingMove, Error> {
        let mut state = PendingMove {
            version: MOVE_VERSION,
            owner: session.address(),
            chain_id: session.network.chain_id,
            registry: session.registry_address()?,
            file_id: new.file_id,
            from: new.from,
            to: new.to,
            sealed_key: String::new(),
            new_capsule: hex::encode(new.new_capsule),
            recovered_from: Some(new.recovered_from),
            old_vault_key: new.old_vault_key,
            bound: true,
        };
        store(session, &move_path(new.file_id), &mut state, key)?;
        Ok(state)
    }

    /// Binds K to every field (states written before `bound`) and writes the state back.
    pub(crate) fn rebind(&mut self, session: &Session, key: &FileKey) -> Result<(), Error> {
        self.bound = true;
        store(session, &move_path(self.file_id), self, key)
    }

    pub(crate) const fn is_bound(&self) -> bool {
        self.bound
    }

    /// Whether this state belongs to `session`'s account and network.
    pub(crate) fn of(&self, session: &Session) -> bool {
        self.owner == session.address()
            && self.chain_id == session.network.chain_id
            && session.registry_address().is_ok_and(|r| r == self.registry)
    }

    /// The capsule being registered.
    pub(crate) fn new_capsule(&self) -> Result<Vec<u8>, Error> {
        hex::decode(&self.new_capsule).map_err(|_| {
            Self::unusable(
                &move_path(self.file_id),
                "the new capsule is not hex".into(),
            )
        })
    }
}

impl KeyState for PendingMove {
    /// Every field but K itself, so that a state changed on disk (another capsule, another
    /// old vault) no longer opens; the file id only for states written before `bound`.
    fn key_aad(&self) -> Vec<u8> {
        if !self.bound {
            return unbound_move_aad(self.file_id);
        }
        let mut aad = b"zgvault/custody-move/v2".to_vec();
        aad.extend_from_slice(&self.version.to_be_bytes());
        aad.extend_from_slice(self.owner.as_slice());
        aad.extend_from_slice(&self.chain_id.to_be_bytes());
        aad.extend_from_slice(self.registry.as_slice());
        aad.extend_from_slice(self.file_id.as_slice());
        aad.push(self.from.scheme().as_u8());
        aad.push(self.to.scheme().as_u8());
        let capsule = self.new_capsule.as_bytes();
        aad.extend_from_slice(&(capsule.len() as u64).to_be_bytes());
        aad.extend_from_slice(capsule);
        match self.old_vault_key {
            Some(key) => {
                aad.push(1);
                aad.extend_from_slice(key.as_slice());
            }
            None => aad.push(0),
        }
        aad
    }
    fn sealed_key(&self) -> &str {
        &self.sealed_key
    }
    fn set_sealed_key(&mut self, sealed: String) {
        self.sealed_key = sealed;
    }
    fn unusable(path: &Path, message: String) -> Error {
        Error::PendingMove {
            path: path.to_owned(),
            message,
        }
    }
}

/// The associated data K was sealed with in move states written before `bound`.
fn unbound_move_aad(file_id: B256) -> Vec<u8> {
    let mut aad = b"zgvault/custody-move".to_vec();
    aad.extend_from_slice(file_id.as_slice());
    aad
}

/// Where the move of `file_id` is kept while pending.
pub(crate) fn move_path(file_id: B256) -> PathBuf {
    state_dir().join("moves").join(format!("{file_id}.json"))
}

/// Reads the pending move of `file_id`, refusing versions this zgvault does not know.
pub(crate) fn load_move(file_id: B256) -> Result<Option<PendingMove>, Error> {
    let path = move_path(file_id);
    let state = load::<PendingMove>(&path)?;
    match state {
        Some(s) if s.version != MOVE_VERSION => Err(PendingMove::unusable(
            &path,
            format!("unknown version {}", s.version),
        )),
        other => Ok(other),
    }
}

/// The lock of moves of `file_id`.
pub(crate) fn lock_move(file_id: B256) -> Result<StateLock, Error> {
    lock(
        &format!("custody-{file_id}"),
        &format!("custody move of file {file_id}"),
    )
}

// ---- shred ---------------------------------------------------------------------------

/// This user's unfinished `put`s and `custody` move of one file, locked so none of them
/// runs while the file is shredded, nor resumes afterwards (either could deposit K again).
pub(crate) struct LocalState {
    _locks: Vec<StateLock>,
    paths: Vec<PathBuf>,
}

impl LocalState {
    /// Takes the move lock of `file_id` and the lock of every pending put of it; refuses
    /// when a running process holds one.
    pub(crate) fn take(session: &Session, file_id: B256) -> Result<LocalState, Error> {
        let busy = |e: Error| match e {
            Error::Locked { what, pid, .. } => Error::Custody {
                file_id,
                message: format!(
                    "a {what} is running ({pid}) and could deposit the key again after \
                     a shred: nothing was shredded; let it finish (or stop it), then run \
                     `zgvault shred {file_id}` again"
                ),
            },
            other => other,
        };
        let mut locks = vec![lock_move(file_id).map_err(busy)?];
        let mut paths = Vec::new();
        let moving = move_path(file_id);
        if moving.exists() {
            paths.push(moving);
        }
        for (path, put) in pending_puts() {
            if put.file_id != file_id || !put.of(session) {
                continue;
            }
            locks.push(lock_put(session, &put.source).map_err(busy)?);
            paths.extend([path, put.journal(), put.sealed]);
        }
        Ok(LocalState {
            _locks: locks,
            paths,
        })
    }

    /// Deletes the state files; returns those that existed.
    pub(crate) fn remove(self) -> Result<Vec<PathBuf>, Error> {
        let mut removed = Vec::new();
        for path in self.paths {
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        action: "delete",
                        path,
                        source,
                    });
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    #[test]
    fn put_locks_differ_per_file_account_and_network() {
        let (a, r) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let base = put_lock_name(Path::new("/x/a.csv"), a, 1, r);
        assert_eq!(base, put_lock_name(Path::new("/x/a.csv"), a, 1, r));
        assert!(base.starts_with("put-") && base.len() == 4 + 24, "{base}");
        for other in [
            put_lock_name(Path::new("/x/b.csv"), a, 1, r),
            put_lock_name(Path::new("/x/a.csv"), r, 1, r),
            put_lock_name(Path::new("/x/a.csv"), a, 2, r),
            put_lock_name(Path::new("/x/a.csv"), a, 1, a),
        ] {
            assert_ne!(base, other);
        }
    }

    fn put_json(version: u32, custody: serde_json::Value) -> serde_json::Value {
        let mut state = serde_json::json!({
            "version": version, "source": "/x/a.csv", "source_size": 3,
            "owner": Address::repeat_byte(1), "chain_id": 31337,
            "registry": Address::repeat_byte(2), "salt": B256::repeat_byte(3),
            "file_id": B256::repeat_byte(4), "root_hash": B256::repeat_byte(5),
            "sealed": "/s/pending/x.zgv", "sealed_key": "",
        });
        for (k, v) in custody.as_object().unwrap() {
            state[k] = v.clone();
        }
        state
    }

    /// States written by the previous version load with the custody they meant; one that
    /// named two custodies, or a version this zgvault does not know, is refused.
    #[test]
    fn fail_put_states_load_across_versions_and_only_with_one_custody() {
        let shamir = serde_json::json!({"commitments": "aa", "shares": ["bb"]});
        let load = |v| serde_json::from_value::<PendingPut>(v).map(|p| p.custody);
        assert_eq!(
            load(put_json(1, serde_json::json!({}))).unwrap(),
            CustodyPlan::Threshold
        );
        assert_eq!(
            load(put_json(1, serde_json::json!({"custodial": true}))).unwrap(),
            CustodyPlan::Custodial
        );
        assert!(matches!(
            load(put_json(1, serde_json::json!({"shamir": shamir.clone()}))).unwrap(),
            CustodyPlan::Shamir(_)
        ));
        let both = load(put_json(
            1,
            serde_json::json!({"shamir": shamir.clone(), "custodial": true}),
        ))
        .unwrap_err()
        .to_string();
        assert!(both.contains("both Shamir and custodial"), "{both}");
        assert!(load(put_json(3, serde_json::json!({}))).is_err());
        assert!(
            load(put_json(2, serde_json::json!({}))).is_err(),
            "no custody"
        );
        // Version 2 round-trips.
        let plan = CustodyPlan::Shamir(serde_json::from_value(shamir).unwrap());
        let v2 = put_json(2, serde_json::json!({"custody": plan}));
        let back: PendingPut = serde_json::from_value(v2).unwrap();
        assert_eq!(back.custody, plan);
        let again: PendingPut =
            serde_json::from_value(serde_json::to_value(&back).unwrap()).unwrap();
        assert_eq!(again.custody, plan);
    }

    fn move_state(bound: bool) -> PendingMove {
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
        let good = move_state(true);
        let sealed = seal_local(&signer, key.as_bytes(), &good.key_aad()).unwrap();
        let opens = |s: &PendingMove| open_local(&signer, &sealed, &s.key_aad()).unwrap();
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
        assert_eq!(old.key_aad(), unbound_move_aad(old.file_id));
    }
}
