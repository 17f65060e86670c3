//! The vault's store of file keys: one redb record per file, K sealed under a KEK.
//!
//! | table | key | value |
//! |---|---|---|
//! | `vault_keys` | `fileId (32)` | `version (1) ‖ depositor (20) ‖ kek id length (1) ‖ kek id ‖ sealed K` |
//! | `vault_shreds` | `fileId (32)` | the latest shred's `issuedAt` (8 BE): deposits issued at or before it are refused |
//! | `vault_deposited_at` | `fileId (32)` | the stored deposit's `issuedAt` (8 BE): a shred deletes K only if it is not older |
//! | `vault_audit_anchor` | `"head"` | the audit log's head: `lines (8 BE) ‖ SHA-256 of the last line (32)` ([`AuditLog`](super::AuditLog)) |
//!
//! A replayed older shred keeps a newer K ([`ShredOutcome::KeptNewer`]); a record without a
//! `vault_deposited_at` entry (stored before the table existed, or by [`VaultStore::put`])
//! counts as older than any shred.
//!
//! `sealed K` is [`Kek::seal`] of the 32 bytes of K with
//! `aad = "zgvault/v1/vault" ‖ fileId ‖ version ‖ depositor`: a record moved to another file,
//! flipped, truncated or given another depositor fails to open ([`Error::KekTampered`]),
//! never yields garbage. The KEK id beside it says which KEK opens it, so during a rotation
//! records under the old and the new KEK are both readable.
//!
//! Durability: every write commits with redb's default `Durability::Immediate` (fsync before
//! `commit` returns); [`VaultStore::put`] returns only after that commit. The one exception
//! is the audit anchor ([`VaultStore::set_audit_anchor`]): most of its updates are
//! non-durable (made durable by the next durable commit, or when the store closes), so that
//! an audit line costs one fsync, not two.
//!
//! Rotation ([`VaultStore::rotate`]) makes the new KEK current (new deposits use it at once),
//! then re-wraps the records in transactions of [`ROTATION_BATCH`]. Readers never wait (redb
//! MVCC) and writers wait at most one batch; a release is a writer too, for its audit line's
//! anchor. An interrupted rotation leaves every record readable (each batch commits or not at
//! all); running it again finishes it.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    io::ErrorKind,
    ops::Bound,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use alloy_primitives::{Address, B256};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use zgvault_proto::{FileKey, KEY_LEN};

use super::kek::{Kek, SEALED_OVERHEAD};
use crate::error::{Error, Result};
use crate::store::{DepositOutcome, ShredOutcome, set_deposited_at, shred_record, tombstone};

/// File name of the vault database in the vault's data dir.
pub const VAULT_STORE_FILE: &str = "vault.redb";
/// Records re-wrapped per write transaction during a rotation: small enough that deposits
/// wait only briefly, large enough that a rotation of a million records is not a million fsyncs.
pub const ROTATION_BATCH: usize = 256;
/// Records examined per write transaction during a rotation, so that a re-run over a store
/// that is mostly re-wrapped already does not hold the write lock for a full scan.
const ROTATION_SCAN: usize = 16 * ROTATION_BATCH;
/// Longest KEK id stored beside a record (it is length-prefixed by one byte).
pub const MAX_KEK_ID_LEN: usize = 255;
/// Mode of the database file.
const VAULT_FILE_MODE: u32 = 0o600;
/// Format version of a record; part of the AAD.
const RECORD_VERSION: u8 = 1;
/// Prefix of every record's associated data.
const AAD_PREFIX: &[u8] = b"zgvault/v1/vault";
/// Length of the sealed K in a record.
const SEALED_LEN: usize = KEY_LEN + SEALED_OVERHEAD;
/// Largest record accepted from the database.
const MAX_RECORD_LEN: usize = 1 + Address::len_bytes() + 1 + MAX_KEK_ID_LEN + SEALED_LEN;

/// Associated data and plaintext of the `/health` KEK probe (not a secret).
const PROBE_AAD: &[u8] = b"zgvault/v1/vault-health-probe";
const PROBE: &[u8] = b"probe";
/// Associated data of the probe that tells two KEKs with the same id apart.
const COLLISION_AAD: &[u8] = b"zgvault/v1/vault-kek-identity-probe";

const KEYS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("vault_keys");
const SHREDS: TableDefinition<'_, &[u8], u64> = TableDefinition::new("vault_shreds");
const DEPOSITED_AT: TableDefinition<'_, &[u8], u64> = TableDefinition::new("vault_deposited_at");
const AUDIT_ANCHOR: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("vault_audit_anchor");
/// The one key of [`AUDIT_ANCHOR`].
const AUDIT_ANCHOR_KEY: &str = "head";
/// Length of an anchor value: line count (8 BE) and the last line's SHA-256.
const AUDIT_ANCHOR_LEN: usize = 8 + 32;

/// A log's length and the SHA-256 of its last line (zeros when empty): what the vault anchors
/// in `vault.redb`, and what an operator copies off the host to detect a cut log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    /// Lines in the log.
    pub lines: usize,
    /// SHA-256 of the last line's bytes (without its newline).
    pub hash: [u8; 32],
}

impl AuditHead {
    /// The head of an empty log (its hash is the first line's `prev`).
    pub const EMPTY: Self = Self {
        lines: 0,
        hash: [0; 32],
    };
}

/// A stored file key with the address that deposited it.
#[derive(Debug)]
pub struct VaultEntry {
    /// K (secret; `Debug` redacted).
    pub key: FileKey,
    /// The file owner who deposited K.
    pub depositor: Address,
}

/// What a [`VaultStore::rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RotationReport {
    /// Records re-wrapped from an older KEK to the new one.
    pub rewrapped: u64,
    /// Records already under the new KEK (deposited after the switch, or by an earlier run).
    pub already_current: u64,
}

struct Keks {
    current: Arc<dyn Kek>,
    by_id: HashMap<String, Arc<dyn Kek>>,
}

/// The vault's sealed key store. Cheap to clone (one database, shared); every method takes
/// `&self` and may be called from several threads.
#[derive(Clone)]
pub struct VaultStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    path: PathBuf,
    keks: RwLock<Keks>,
    /// Unit tests only: runs once, right before the next deposit takes its write
    /// transaction (see `tests::a_rotation_just_before_a_deposit_locks_leaves_it_under_the_new_kek`).
    #[cfg(test)]
    before_put_write: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultStore")
            .field("path", &self.inner.path)
            .field("current_kek", &self.current_kek_id())
            .finish_non_exhaustive()
    }
}

impl VaultStore {
    /// Opens (or creates) the store in `data_dir`. New records are sealed under `current`;
    /// records under any of `previous` (an unfinished rotation) stay readable.
    pub fn open(data_dir: &Path, current: Arc<dyn Kek>, previous: &[Arc<dyn Kek>]) -> Result<Self> {
        let path = data_dir.join(VAULT_STORE_FILE);
        // Create the file 0600 before redb opens it, so it is never readable by others.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(VAULT_FILE_MODE)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("create", &path, e)),
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(VAULT_FILE_MODE))
            .map_err(|e| Error::io("chmod", &path, e))?;
        let db = Database::create(&path).map_err(|e| Error::store(&path, "open", e))?;
        let mut by_id: HashMap<String, Arc<dyn Kek>> = HashMap::new();
        for kek in previous.iter().chain(std::iter::once(&current)) {
            check_kek_id(kek.id())?;
            if let Some(loaded) = by_id.get(kek.id()) {
                check_same_key(loaded.as_ref(), kek.as_ref())?;
            }
            by_id.insert(kek.id().to_owned(), Arc::clone(kek));
        }
        let store = Self {
            inner: Arc::new(Inner {
                db,
                path,
                keks: RwLock::new(Keks { current, by_id }),
                #[cfg(test)]
                before_put_write: std::sync::Mutex::default(),
            }),
        };
        store.write("create tables", |txn| {
            txn.open_table(KEYS)?;
            txn.open_table(SHREDS)?;
            txn.open_table(DEPOSITED_AT)?;
            txn.open_table(AUDIT_ANCHOR)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The id of the KEK new records are sealed under.
    pub fn current_kek_id(&self) -> String {
        self.keks().current.id().to_owned()
    }

    /// The KEK new records are sealed under (and new audit lines MACed with).
    pub fn current_kek(&self) -> Arc<dyn Kek> {
        Arc::clone(&self.keks().current)
    }

    /// The loaded KEK with id `id` (current or previous).
    pub fn kek(&self, id: &str) -> Option<Arc<dyn Kek>> {
        self.keks().by_id.get(id).cloned()
    }

    /// The audit log's head as last anchored here, `None` when nothing was anchored yet.
    /// It may lag the log after a crash (see [`VaultStore::set_audit_anchor`]), never lead it.
    pub fn audit_anchor(&self) -> Result<Option<AuditHead>> {
        let path = &self.inner.path;
        let value = self.read(|txn| {
            Ok(txn
                .open_table(AUDIT_ANCHOR)?
                .get(AUDIT_ANCHOR_KEY)?
                .map(|v| v.value().to_vec()))
        })?;
        let Some(value) = value else {
            return Ok(None);
        };
        let corrupt = || {
            Error::store(
                path,
                "read the audit anchor",
                "it is not 40 bytes: run `zgvault-node vault audit new-log` to anchor a new log",
            )
        };
        let (lines, hash) = value
            .split_first_chunk::<8>()
            .filter(|(_, hash)| hash.len() == 32)
            .ok_or_else(corrupt)?;
        Ok(Some(AuditHead {
            lines: usize::try_from(u64::from_be_bytes(*lines)).map_err(|_| corrupt())?,
            hash: <[u8; 32]>::try_from(hash).map_err(|_| corrupt())?,
        }))
    }

    /// Anchors the audit log's head (`None`: forget it, for a new log). A `durable` update
    /// is fsync'd before this returns; any other one is written without an fsync and becomes
    /// durable with the next durable commit of this store (a deposit, a shred, a rotation
    /// batch, a durable anchor) or when the store closes, so after a crash the anchor can lag
    /// the log by the lines written since.
    pub fn set_audit_anchor(&self, head: Option<AuditHead>, durable: bool) -> Result<()> {
        let path = &self.inner.path;
        let what = "anchor the audit log";
        let mut txn = self
            .inner
            .db
            .begin_write()
            .map_err(|e| Error::store(path, what, e))?;
        if !durable {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| Error::store(path, what, e))?;
        }
        {
            let mut table = txn
                .open_table(AUDIT_ANCHOR)
                .map_err(|e| Error::store(path, what, e))?;
            match head {
                Some(head) => {
                    let mut value = [0u8; AUDIT_ANCHOR_LEN];
                    value[..8].copy_from_slice(&(head.lines as u64).to_be_bytes());
                    value[8..].copy_from_slice(&head.hash);
                    table.insert(AUDIT_ANCHOR_KEY, value.as_slice())
                }
                None => table.remove(AUDIT_ANCHOR_KEY).map(|_| None),
            }
            .map_err(|e| Error::store(path, what, e))?;
        }
        txn.commit().map_err(|e| Error::store(path, what, e))
    }

    /// Stores K for `file_id` (replacing any earlier record), sealed under the current KEK.
    /// Returns after the commit is on disk. Ignores shred tombstones.
    pub fn put(&self, file_id: B256, key: &FileKey, depositor: Address) -> Result<()> {
        self.put_unless_shredded(file_id, key, depositor, u64::MAX)
            .map(|_| ())
    }

    /// [`VaultStore::put`] of a deposit signed at `issued_at`, unless the owner shredded the
    /// file at or after that time: checked in the transaction that would store it.
    pub fn put_unless_shredded(
        &self,
        file_id: B256,
        key: &FileKey,
        depositor: Address,
        issued_at: u64,
    ) -> Result<DepositOutcome> {
        let path = &self.inner.path;
        #[cfg(test)]
        self.before_put_write();
        let txn = self
            .inner
            .db
            .begin_write()
            .map_err(|e| Error::store(path, "store file key", e))?;
        // Read the current KEK while holding the write lock: a rotation switches KEKs inside
        // its first write transaction, so no record sealed under the old KEK can be committed
        // behind its scan.
        let kek = self.keks().current.clone();
        let value = seal_record(kek.as_ref(), file_id, key, depositor)?;
        let insert = || -> Result<DepositOutcome, redb::Error> {
            // `u64::MAX` is the unchecked put: it is after every tombstone.
            if let Some(at) = tombstone(&txn, SHREDS, file_id)?
                && issued_at != u64::MAX
                && issued_at <= at
            {
                return Ok(DepositOutcome::Shredded { at });
            }
            txn.open_table(KEYS)?
                .insert(file_id.as_slice(), value.as_slice())?;
            set_deposited_at(&txn, DEPOSITED_AT, file_id.as_slice(), issued_at)?;
            Ok(DepositOutcome::Stored)
        };
        let outcome = insert().map_err(|e| Error::store(path, "store file key", e))?;
        txn.commit()
            .map_err(|e| Error::store(path, "store file key", e))?;
        Ok(outcome)
    }

    /// The owner's shred signed at `issued_at`: deletes K of `file_id` unless it was
    /// deposited after `issued_at`, and raises the file's tombstone to `issued_at`, in one
    /// transaction.
    pub fn shred(&self, file_id: B256, issued_at: u64) -> Result<ShredOutcome> {
        let mut outcome = ShredOutcome::NotHeld;
        self.write("shred file key", |txn| {
            outcome = shred_record(
                txn,
                KEYS,
                DEPOSITED_AT,
                SHREDS,
                file_id.as_slice(),
                file_id,
                issued_at,
            )?;
            Ok(())
        })?;
        Ok(outcome)
    }

    /// The `issuedAt` of the latest shred of `file_id`, if it was ever shredded here.
    pub fn shredded_at(&self, file_id: B256) -> Result<Option<u64>> {
        self.read(|txn| {
            Ok(txn
                .open_table(SHREDS)?
                .get(file_id.as_slice())?
                .map(|v| v.value()))
        })
    }

    /// Seals and opens a probe under the current KEK: fails when its backend (the token)
    /// cannot be used. For `/health`.
    pub fn probe_kek(&self) -> Result<()> {
        let kek = self.keks().current.clone();
        let sealed = kek.seal(PROBE_AAD, PROBE)?;
        let opened = kek.open(PROBE_AAD, &sealed)?;
        if opened.as_slice() == PROBE {
            Ok(())
        } else {
            Err(Error::KekTampered {
                kek: kek.id().to_owned(),
                detail: "the health probe opened to other bytes",
            })
        }
    }

    /// K for `file_id`, if one was deposited.
    pub fn get(&self, file_id: B256) -> Result<Option<FileKey>> {
        Ok(self.entry(file_id)?.map(|entry| entry.key))
    }

    /// K and its depositor for `file_id`, if one was deposited.
    pub fn entry(&self, file_id: B256) -> Result<Option<VaultEntry>> {
        let value = self.read(|txn| {
            let table = txn.open_table(KEYS)?;
            Ok(table.get(file_id.as_slice())?.map(|v| v.value().to_vec()))
        })?;
        value
            .map(|value| self.open_record(file_id, &value))
            .transpose()
    }

    /// Deletes the record of `file_id`. Returns whether there was one.
    pub fn delete(&self, file_id: B256) -> Result<bool> {
        let mut removed = false;
        self.write("delete file key", |txn| {
            removed = txn.open_table(KEYS)?.remove(file_id.as_slice())?.is_some();
            txn.open_table(DEPOSITED_AT)?.remove(file_id.as_slice())?;
            Ok(())
        })?;
        Ok(removed)
    }

    /// Number of stored records.
    pub fn len(&self) -> Result<u64> {
        self.read(|txn| Ok(txn.open_table(KEYS)?.len()?))
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Records per KEK id: before dropping an old KEK from the configuration, check that it
    /// holds none. Unparsable records are counted under `"<corrupt>"`.
    pub fn count_by_kek(&self) -> Result<BTreeMap<String, u64>> {
        self.read(|txn| {
            let mut counts = BTreeMap::new();
            for item in txn.open_table(KEYS)?.iter()? {
                let (_, value) = item?;
                let id = parse(value.value())
                    .map(|r| r.kek_id.to_owned())
                    .unwrap_or_else(|_| "<corrupt>".to_owned());
                *counts.entry(id).or_insert(0) += 1;
            }
            Ok(counts)
        })
    }

    /// Makes `new_kek` current and re-wraps every record under it, [`ROTATION_BATCH`] per
    /// transaction, while reads and deposits go on. Safe to interrupt and to run again with
    /// the same KEK: it continues where it stopped. The old KEKs stay loaded (records not yet
    /// re-wrapped need them); drop them from the configuration once [`Self::count_by_kek`]
    /// shows none left.
    ///
    /// If it fails (the new KEK's backend went away, a record does not open), the KEK that
    /// was current before stays current for new deposits; both remain loaded.
    ///
    /// Refused ([`Error::KekIdCollision`]) when a loaded KEK (current or previous) has the new
    /// KEK's id but is another key: the rotation would count every record under the old key
    /// as current, and retiring the old key would lose them all. The same key under its own
    /// id (re-running an interrupted rotation, or an offline one) is fine.
    pub fn rotate(&self, new_kek: Arc<dyn Kek>) -> Result<RotationReport> {
        check_kek_id(new_kek.id())?;
        let loaded = self.keks().by_id.get(new_kek.id()).cloned();
        if let Some(loaded) = loaded {
            check_same_key(loaded.as_ref(), new_kek.as_ref())?;
        }
        let before = self.keks().current.clone();
        self.rewrap_all(new_kek).inspect_err(|e| {
            tracing::warn!(error = %e, "KEK rotation interrupted; run it again to finish");
            self.inner
                .keks
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .current = before;
        })
    }

    fn rewrap_all(&self, new_kek: Arc<dyn Kek>) -> Result<RotationReport> {
        let new_id = new_kek.id().to_owned();
        let path = &self.inner.path;
        let mut report = RotationReport::default();
        let mut cursor: Option<Vec<u8>> = None;
        let mut first = true;
        loop {
            let txn = self
                .inner
                .db
                .begin_write()
                .map_err(|e| Error::store(path, "rotate KEK", e))?;
            if first {
                // Switch inside the write lock: every later `put` seals under the new KEK.
                let mut keks = self.inner.keks.write().unwrap_or_else(|p| p.into_inner());
                keks.by_id.insert(new_id.clone(), Arc::clone(&new_kek));
                keks.current = Arc::clone(&new_kek);
                first = false;
            }
            let mut table = txn
                .open_table(KEYS)
                .map_err(|e| Error::store(path, "rotate KEK", e))?;
            let mut todo: Vec<(B256, Vec<u8>)> = Vec::new();
            let mut exhausted = true;
            {
                let lower = match &cursor {
                    Some(c) => Bound::Excluded(c.as_slice()),
                    None => Bound::Unbounded,
                };
                let range = table
                    .range::<&[u8]>((lower, Bound::Unbounded))
                    .map_err(|e| Error::store(path, "rotate KEK", e))?;
                for (scanned, item) in range.enumerate() {
                    if scanned >= ROTATION_SCAN {
                        exhausted = false;
                        break;
                    }
                    let (k, v) = item.map_err(|e| Error::store(path, "rotate KEK", e))?;
                    let key = k.value();
                    cursor = Some(key.to_vec());
                    let file_id = B256::try_from(key).map_err(|_| Error::KekTampered {
                        kek: new_id.clone(),
                        detail: "a record key is not 32 bytes",
                    })?;
                    if parse(v.value()).is_ok_and(|r| r.kek_id == new_id) {
                        report.already_current += 1;
                    } else {
                        todo.push((file_id, v.value().to_vec()));
                    }
                    if todo.len() >= ROTATION_BATCH {
                        exhausted = false;
                        break;
                    }
                }
            }
            for (file_id, value) in &todo {
                let entry = self.open_record(*file_id, value)?;
                let sealed = seal_record(new_kek.as_ref(), *file_id, &entry.key, entry.depositor)?;
                table
                    .insert(file_id.as_slice(), sealed.as_slice())
                    .map_err(|e| Error::store(path, "rotate KEK", e))?;
            }
            drop(table);
            txn.commit()
                .map_err(|e| Error::store(path, "rotate KEK", e))?;
            report.rewrapped += todo.len() as u64;
            if exhausted {
                tracing::info!(
                    kek = %new_id,
                    rewrapped = report.rewrapped,
                    already_current = report.already_current,
                    "KEK rotation finished"
                );
                return Ok(report);
            }
        }
    }

    /// Unit tests only: the hook set for the next deposit, run where it would wait for the
    /// write lock.
    #[cfg(test)]
    fn before_put_write(&self) {
        let hook = self
            .inner
            .before_put_write
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(hook) = hook {
            hook();
        }
    }

    fn keks(&self) -> std::sync::RwLockReadGuard<'_, Keks> {
        self.inner.keks.read().unwrap_or_else(|p| p.into_inner())
    }

    fn open_record(&self, file_id: B256, value: &[u8]) -> Result<VaultEntry> {
        let record = parse(value)?;
        let kek = self
            .keks()
            .by_id
            .get(record.kek_id)
            .cloned()
            .ok_or_else(|| Error::KekNotLoaded {
                file_id,
                kek: record.kek_id.to_owned(),
            })?;
        let tampered = |detail| Error::KekTampered {
            kek: record.kek_id.to_owned(),
            detail,
        };
        let aad = record_aad(file_id, record.version, record.depositor);
        let plain = kek.open(&aad, record.sealed).inspect_err(|e| {
            if matches!(e, Error::KekTampered { .. }) {
                tracing::warn!(%file_id, kek = record.kek_id, "vault record failed authentication");
            }
        })?;
        let key = FileKey::from_slice(&plain).map_err(|_| tampered("K is not 32 bytes"))?;
        Ok(VaultEntry {
            key,
            depositor: record.depositor,
        })
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T> {
        crate::db::read(&self.inner.db, &self.inner.path, f)
    }

    fn write(
        &self,
        what: &'static str,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<()> {
        crate::db::write(&self.inner.db, &self.inner.path, what, f)
    }
}

/// A record's fields, borrowed from its bytes.
struct Record<'a> {
    version: u8,
    depositor: Address,
    kek_id: &'a str,
    sealed: &'a [u8],
}

fn parse(value: &[u8]) -> Result<Record<'_>> {
    let tampered = |detail| Error::KekTampered {
        kek: "<unknown: the record is unreadable>".to_owned(),
        detail,
    };
    if value.len() > MAX_RECORD_LEN {
        return Err(tampered("record longer than any vault record"));
    }
    let (&version, rest) = value
        .split_first()
        .ok_or_else(|| tampered("empty record"))?;
    if version != RECORD_VERSION {
        return Err(tampered("unknown record version"));
    }
    let (depositor, rest) = rest
        .split_first_chunk::<20>()
        .ok_or_else(|| tampered("record truncated"))?;
    let (&id_len, rest) = rest
        .split_first()
        .ok_or_else(|| tampered("record truncated"))?;
    let (kek_id, sealed) = rest
        .split_at_checked(usize::from(id_len))
        .ok_or_else(|| tampered("record truncated"))?;
    let kek_id = std::str::from_utf8(kek_id).map_err(|_| tampered("KEK id is not UTF-8"))?;
    if sealed.len() != SEALED_LEN {
        return Err(Error::KekTampered {
            kek: kek_id.to_owned(),
            detail: "sealed key has the wrong length (truncated or extended)",
        });
    }
    Ok(Record {
        version,
        depositor: Address::from(*depositor),
        kek_id,
        sealed,
    })
}

fn seal_record(kek: &dyn Kek, file_id: B256, key: &FileKey, depositor: Address) -> Result<Vec<u8>> {
    let id = kek.id().as_bytes();
    let id_len = u8::try_from(id.len()).map_err(|_| Error::Internal {
        what: "KEK id length checked at load",
    })?;
    let sealed = kek.seal(
        &record_aad(file_id, RECORD_VERSION, depositor),
        key.as_bytes(),
    )?;
    if sealed.len() != SEALED_LEN {
        return Err(Error::Internal {
            what: "a KEK backend returned a sealed key of unexpected length",
        });
    }
    let mut out = Vec::with_capacity(1 + 20 + 1 + id.len() + SEALED_LEN);
    out.push(RECORD_VERSION);
    out.extend_from_slice(depositor.as_slice());
    out.push(id_len);
    out.extend_from_slice(id);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn record_aad(file_id: B256, version: u8, depositor: Address) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 32 + 1 + 20);
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(file_id.as_slice());
    aad.push(version);
    aad.extend_from_slice(depositor.as_slice());
    aad
}

/// Whether `b` is the same key as `a`: a probe sealed by each opens under the other. Refuses
/// with [`Error::KekIdCollision`] otherwise (both carry the same id).
fn check_same_key(a: &dyn Kek, b: &dyn Kek) -> Result<()> {
    let collision = || Error::KekIdCollision {
        id: b.id().to_owned(),
    };
    for (sealer, opener) in [(a, b), (b, a)] {
        let sealed = sealer.seal(COLLISION_AAD, PROBE)?;
        match opener.open(COLLISION_AAD, &sealed) {
            Ok(plain) if plain.as_slice() == PROBE => {}
            Ok(_) | Err(Error::KekTampered { .. }) => return Err(collision()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn check_kek_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_KEK_ID_LEN {
        return Err(Error::KekIdLength {
            id: id.to_owned(),
            max: MAX_KEK_ID_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, B256};
    use zgvault_proto::FileKey;

    use super::*;
    use crate::custody::FileKek;

    fn kek(dir: &Path, name: &str) -> Arc<dyn Kek> {
        Arc::new(FileKek::open_or_create(&dir.join(name), b"test passphrase").expect("kek"))
    }

    fn file_id(i: u8) -> B256 {
        B256::repeat_byte(i)
    }

    fn key(i: u8) -> FileKey {
        FileKey::from_bytes(&mut [i; 32])
    }

    /// A rotation that runs from start to end between the moment a deposit begins and the
    /// moment it holds the write lock: the deposit must seal under the KEK that is current
    /// once it holds the lock, the rotation's new one, or its record would sit under the old
    /// KEK behind the rotation's scan (and be lost when the old KEK is retired). No timing: the
    /// rotation runs in the deposit's own thread, at the last point before `begin_write`, so
    /// a store that picks its KEK any earlier fails this every time.
    #[test]
    fn a_rotation_just_before_a_deposit_locks_leaves_it_under_the_new_kek() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (kek(dir.path(), "kek-a"), kek(dir.path(), "kek-b"));
        let store = VaultStore::open(dir.path(), Arc::clone(&a), &[]).expect("open");
        let owner = Address::repeat_byte(7);
        for i in 0..10 {
            store.put(file_id(i), &key(i), owner).expect("put");
        }
        let rotating = store.clone();
        let to = Arc::clone(&b);
        *store.inner.before_put_write.lock().expect("hook") = Some(Box::new(move || {
            let report = rotating.rotate(to).expect("rotate");
            assert_eq!(report.rewrapped, 10);
        }));
        store.put(file_id(100), &key(100), owner).expect("put");
        assert!(
            store.inner.before_put_write.lock().expect("hook").is_none(),
            "the hook ran"
        );

        let counts = store.count_by_kek().expect("count");
        assert_eq!(counts.len(), 1, "every record under one KEK: {counts:?}");
        assert_eq!(counts.get(b.id()), Some(&11));
        // The old KEK can go: everything opens under the new one alone.
        drop(store);
        let store = VaultStore::open(dir.path(), b, &[]).expect("reopen without the old KEK");
        for i in (0..10).chain([100]) {
            let held = store.get(file_id(i)).expect("get").expect("held");
            assert_eq!(held.as_bytes(), key(i).as_bytes());
        }
    }
}
