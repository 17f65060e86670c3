//! The share store: an embedded transactional database (redb) in `data_dir`, every value
//! sealed at rest under the node's store key.
//!
//! Tables:
//!
//! | table | key | value (sealed) |
//! |---|---|---|
//! | `meta` | `"bls_share"` | `1 ‖ node index (4 BE) ‖ BLS secret share (32)` |
//! | `shamir_deposits` | `fileId (32) ‖ node index (4 BE)` | `1 ‖ share value (32) ‖ commitments (33·t)` |
//! | `shreds` | `fileId (32)` | not sealed (not secret): the latest shred's `issuedAt` (8 BE) |
//! | `shamir_deposited_at` | `fileId (32) ‖ node index (4 BE)` | not sealed: the stored deposit's `issuedAt` (8 BE) |
//!
//! A shred deletes the deposit and records its tombstone in one transaction; a deposit
//! issued at or before the tombstone is refused in the transaction that would store it
//! ([`ShareStore::put_deposit_unless_shredded`]), so a shred racing a deposit cannot lose.
//! A shred deletes only a deposit issued at or before it: a replayed older shred keeps a newer
//! deposit ([`ShredOutcome::KeptNewer`]). A deposit without a `deposited_at` entry (stored
//! before the table existed, or by the unchecked [`ShareStore::put_deposit`]) counts as older
//! than any shred.
//!
//! A sealed value is `nonce (12, random) ‖ ChaCha20-Poly1305(store key, nonce, aad, value)`
//! with `aad = "zgvault/v1/store" ‖ table name ‖ 0x00 ‖ record key`: a value moved to another
//! record, flipped or truncated fails to open ([`Error::StoreTampered`]).
//!
//! Durability: redb commits with `Durability::Immediate` (fsync before `commit` returns), and
//! a deposit is acknowledged only after its commit, so a node killed at any moment restarts
//! with every share it acknowledged.

use std::{
    fmt,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use alloy_primitives::B256;
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use rand_core::{OsRng, RngCore};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use zeroize::Zeroizing;
use zgvault_proto::threshold::{
    BLS_SECRET_SHARE_LEN, BlsSecretShare, SHAMIR_SHARE_LEN, ShamirCommitments, ShamirShare,
};

use crate::{
    error::{Error, Result},
    keys::StoreKey,
};

/// File name of the database in `data_dir`.
pub const STORE_FILE: &str = "shares.redb";
/// Mode of the database file.
const STORE_FILE_MODE: u32 = 0o600;
/// Version byte at the start of every record's plaintext.
const RECORD_VERSION: u8 = 1;
/// Length of the random nonce in front of each sealed value.
const NONCE_LEN: usize = 12;
/// Prefix of every record's associated data.
const AAD_PREFIX: &[u8] = b"zgvault/v1/store";
/// Key of the BLS share in `meta`.
const BLS_SHARE_KEY: &str = "bls_share";

const META_TABLE: &str = "meta";
const DEPOSITS_TABLE: &str = "shamir_deposits";
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new(META_TABLE);
const DEPOSITS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new(DEPOSITS_TABLE);
const SHREDS: TableDefinition<'_, &[u8], u64> = TableDefinition::new("shreds");
const DEPOSITED_AT: TableDefinition<'_, &[u8], u64> = TableDefinition::new("shamir_deposited_at");

/// What a shred did to the record it was addressed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShredOutcome {
    /// The record was deleted.
    Deleted,
    /// Nothing was held.
    NotHeld,
    /// A deposit signed after the shred (at `deposited_at`) is held and was kept: the shred
    /// is older than it (a replay, or a shred overtaken by a new deposit).
    KeptNewer {
        /// The kept deposit's `issuedAt`.
        deposited_at: u64,
    },
}

impl ShredOutcome {
    /// Whether the shred deleted a record (the wire's `ShredAck.held`).
    pub fn deleted(self) -> bool {
        self == Self::Deleted
    }
}

/// In a shred's write transaction: deletes the record `key` of `records` unless its
/// `deposited_at` entry is newer than `issued_at`, then raises the tombstone of `file_id`.
pub(crate) fn shred_record(
    txn: &redb::WriteTransaction,
    records: TableDefinition<'_, &[u8], &[u8]>,
    deposited: TableDefinition<'_, &[u8], u64>,
    shreds: TableDefinition<'_, &[u8], u64>,
    key: &[u8],
    file_id: B256,
    issued_at: u64,
) -> Result<ShredOutcome, redb::Error> {
    let at = txn.open_table(deposited)?.get(key)?.map(|v| v.value());
    let outcome = match at {
        Some(deposited_at) if deposited_at > issued_at => {
            if txn.open_table(records)?.get(key)?.is_some() {
                ShredOutcome::KeptNewer { deposited_at }
            } else {
                ShredOutcome::NotHeld
            }
        }
        _ => {
            txn.open_table(deposited)?.remove(key)?;
            if txn.open_table(records)?.remove(key)?.is_some() {
                ShredOutcome::Deleted
            } else {
                ShredOutcome::NotHeld
            }
        }
    };
    raise_tombstone(txn, shreds, file_id, issued_at)?;
    Ok(outcome)
}

/// In a deposit's write transaction: records the stored deposit's `issued_at`; the unchecked
/// put (`u64::MAX`) removes the entry, so the record counts as older than any shred.
pub(crate) fn set_deposited_at(
    txn: &redb::WriteTransaction,
    deposited: TableDefinition<'_, &[u8], u64>,
    key: &[u8],
    issued_at: u64,
) -> Result<(), redb::Error> {
    let mut table = txn.open_table(deposited)?;
    if issued_at == u64::MAX {
        table.remove(key)?;
    } else {
        table.insert(key, issued_at)?;
    }
    Ok(())
}

/// What a deposit checked against the file's shred tombstone came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepositOutcome {
    /// Stored durably.
    Stored,
    /// Refused: the owner shredded the file at `at` (Unix seconds), at or after the
    /// deposit's `issued_at`.
    Shredded {
        /// The tombstone's `issuedAt`.
        at: u64,
    },
}

/// Reads the tombstone of `file_id` in `table` inside a write transaction.
pub(crate) fn tombstone(
    txn: &redb::WriteTransaction,
    table: TableDefinition<'_, &[u8], u64>,
    file_id: B256,
) -> Result<Option<u64>, redb::Error> {
    Ok(txn
        .open_table(table)?
        .get(file_id.as_slice())?
        .map(|v| v.value()))
}

/// Raises the tombstone of `file_id` in `table` to `issued_at` (never lowers it).
pub(crate) fn raise_tombstone(
    txn: &redb::WriteTransaction,
    table: TableDefinition<'_, &[u8], u64>,
    file_id: B256,
    issued_at: u64,
) -> Result<(), redb::Error> {
    let old = tombstone(txn, table, file_id)?;
    if old.is_none_or(|old| old < issued_at) {
        txn.open_table(table)?
            .insert(file_id.as_slice(), issued_at)?;
    }
    Ok(())
}

/// A Shamir share held for a file, with the commitments it was deposited under.
#[derive(Debug)]
pub struct StoredDeposit {
    /// The share (secret).
    pub share: ShamirShare,
    /// The commitments of the deposit; the gate compares their hash with the registered one.
    pub commitments: ShamirCommitments,
}

/// The sealed share store. Cheap to clone (one database, shared).
#[derive(Clone)]
pub struct ShareStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    path: PathBuf,
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for ShareStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl ShareStore {
    /// Opens (or creates) the store in `data_dir` with the node's store key.
    pub fn open(data_dir: &Path, key: &StoreKey) -> Result<Self> {
        let path = data_dir.join(STORE_FILE);
        let db = Database::create(&path).map_err(|e| Error::store(&path, "open", e))?;
        // Values are sealed, but which files a node serves is nobody else's business either.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(STORE_FILE_MODE))
            .map_err(|e| Error::io("chmod", &path, e))?;
        let cipher = ChaCha20Poly1305::new(key.as_bytes().into());
        let store = Self {
            inner: Arc::new(Inner { db, path, cipher }),
        };
        // Create the tables so read transactions never see a missing table.
        store.write("create tables", |txn| {
            txn.open_table(META)?;
            txn.open_table(DEPOSITS)?;
            txn.open_table(SHREDS)?;
            txn.open_table(DEPOSITED_AT)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The node's BLS key share, if one was imported.
    pub fn bls_share(&self) -> Result<Option<BlsSecretShare>> {
        let Some(plain) = self.read_meta(BLS_SHARE_KEY)? else {
            return Ok(None);
        };
        let record = BLS_SHARE_KEY.to_owned();
        let tampered = || Error::StoreTampered {
            record: record.clone(),
        };
        let (version, rest) = plain.split_first().ok_or_else(tampered)?;
        let (index, share) = rest.split_first_chunk::<4>().ok_or_else(tampered)?;
        let share = <&[u8; BLS_SECRET_SHARE_LEN]>::try_from(share).map_err(|_| tampered())?;
        if *version != RECORD_VERSION {
            return Err(tampered());
        }
        Ok(Some(BlsSecretShare::from_bytes(
            u32::from_be_bytes(*index),
            share,
        )?))
    }

    /// Stores the node's BLS key share (replacing any previous one), durably.
    pub fn put_bls_share(&self, share: &BlsSecretShare) -> Result<()> {
        let mut plain = Zeroizing::new(Vec::with_capacity(1 + 4 + BLS_SECRET_SHARE_LEN));
        plain.push(RECORD_VERSION);
        plain.extend_from_slice(&share.node_index().to_be_bytes());
        plain.extend_from_slice(share.to_bytes().as_slice());
        let sealed = self.seal(META_TABLE, BLS_SHARE_KEY.as_bytes(), &plain)?;
        self.write("store BLS share", |txn| {
            txn.open_table(META)?
                .insert(BLS_SHARE_KEY, sealed.as_slice())?;
            Ok(())
        })
    }

    /// Stores a Shamir deposit durably: when this returns `Ok`, the share survives a crash.
    /// Ignores shred tombstones (see [`ShareStore::put_deposit_unless_shredded`]).
    pub fn put_deposit(
        &self,
        file_id: B256,
        share: &ShamirShare,
        commitments: &ShamirCommitments,
    ) -> Result<()> {
        self.put_deposit_unless_shredded(file_id, share, commitments, u64::MAX)
            .map(|_| ())
    }

    /// Stores a Shamir deposit issued at `issued_at` durably, unless the owner shredded the
    /// file at or after that time (then nothing is written).
    pub fn put_deposit_unless_shredded(
        &self,
        file_id: B256,
        share: &ShamirShare,
        commitments: &ShamirCommitments,
        issued_at: u64,
    ) -> Result<DepositOutcome> {
        let key = deposit_key(file_id, share.node_index());
        let commitment_bytes = commitments.to_bytes();
        let mut plain = Zeroizing::new(Vec::with_capacity(
            1 + SHAMIR_SHARE_LEN + commitment_bytes.len(),
        ));
        plain.push(RECORD_VERSION);
        plain.extend_from_slice(share.to_bytes().as_slice());
        plain.extend_from_slice(&commitment_bytes);
        let sealed = self.seal(DEPOSITS_TABLE, &key, &plain)?;
        let mut outcome = DepositOutcome::Stored;
        self.write("store deposit", |txn| {
            // `u64::MAX` is the unchecked put: it is after every tombstone.
            if let Some(at) = tombstone(txn, SHREDS, file_id)?
                && issued_at != u64::MAX
                && issued_at <= at
            {
                outcome = DepositOutcome::Shredded { at };
                return Ok(());
            }
            txn.open_table(DEPOSITS)?
                .insert(key.as_slice(), sealed.as_slice())?;
            set_deposited_at(txn, DEPOSITED_AT, key.as_slice(), issued_at)
        })?;
        Ok(outcome)
    }

    /// The owner's shred signed at `issued_at`: deletes this node's share of `file_id` unless
    /// it was deposited after `issued_at`, and raises the file's tombstone to `issued_at`, in
    /// one transaction.
    pub fn shred(&self, file_id: B256, node_index: u32, issued_at: u64) -> Result<ShredOutcome> {
        let key = deposit_key(file_id, node_index);
        let mut outcome = ShredOutcome::NotHeld;
        self.write("shred", |txn| {
            outcome = shred_record(
                txn,
                DEPOSITS,
                DEPOSITED_AT,
                SHREDS,
                key.as_slice(),
                file_id,
                issued_at,
            )?;
            Ok(())
        })?;
        Ok(outcome)
    }

    /// The owner's shred on a node that has no index in the key set, so holds no share: only
    /// raises the file's tombstone to `issued_at`, so that an older deposit cannot land after
    /// it. Nothing is held, so nothing is deleted.
    pub fn shred_unheld(&self, file_id: B256, issued_at: u64) -> Result<ShredOutcome> {
        self.write("shred", |txn| {
            raise_tombstone(txn, SHREDS, file_id, issued_at)
        })?;
        Ok(ShredOutcome::NotHeld)
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

    /// The share deposited for `(file_id, node_index)`, if any.
    pub fn deposit(&self, file_id: B256, node_index: u32) -> Result<Option<StoredDeposit>> {
        let key = deposit_key(file_id, node_index);
        let sealed = self.read(|txn| {
            let table = txn.open_table(DEPOSITS)?;
            Ok(table.get(key.as_slice())?.map(|v| v.value().to_vec()))
        })?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plain = self.open_record(DEPOSITS_TABLE, &key, &sealed)?;
        let tampered = || Error::StoreTampered {
            record: hex::encode(key),
        };
        let (version, rest) = plain.split_first().ok_or_else(tampered)?;
        let (share, commitments) = rest
            .split_first_chunk::<SHAMIR_SHARE_LEN>()
            .ok_or_else(tampered)?;
        if *version != RECORD_VERSION {
            return Err(tampered());
        }
        Ok(Some(StoredDeposit {
            share: ShamirShare::from_bytes(node_index, share)?,
            commitments: ShamirCommitments::from_bytes(commitments)?,
        }))
    }

    /// Deletes the share for `(file_id, node_index)` (the owner's `shred`). Returns whether
    /// one was stored.
    pub fn delete_deposit(&self, file_id: B256, node_index: u32) -> Result<bool> {
        let key = deposit_key(file_id, node_index);
        let mut removed = false;
        self.write("delete deposit", |txn| {
            removed = txn.open_table(DEPOSITS)?.remove(key.as_slice())?.is_some();
            txn.open_table(DEPOSITED_AT)?.remove(key.as_slice())?;
            Ok(())
        })?;
        Ok(removed)
    }

    /// Number of stored deposits.
    pub fn deposit_count(&self) -> Result<u64> {
        self.read(|txn| Ok(txn.open_table(DEPOSITS)?.len()?))
    }

    /// A cheap read that fails if the database is unusable (for `/health`).
    pub fn check(&self) -> Result<()> {
        self.deposit_count().map(|_| ())
    }

    fn read_meta(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let sealed = self.read(|txn| {
            let table = txn.open_table(META)?;
            Ok(table.get(name)?.map(|v| v.value().to_vec()))
        })?;
        sealed
            .map(|sealed| self.open_record(META_TABLE, name.as_bytes(), &sealed))
            .transpose()
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

    fn seal(&self, table: &str, key: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|source| Error::Rng { source })?;
        let aad = record_aad(table, key);
        let ciphertext = self
            .inner
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Internal {
                what: "store record encryption",
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    fn open_record(&self, table: &str, key: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let tampered = || Error::StoreTampered {
            record: format!("{table}/{}", hex::encode(key)),
        };
        let (nonce, ciphertext) = sealed
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(tampered)?;
        let aad = record_aad(table, key);
        self.inner
            .cipher
            .decrypt(
                &Nonce::from(*nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| tampered())
    }
}

fn deposit_key(file_id: B256, node_index: u32) -> [u8; 36] {
    let mut key = [0u8; 36];
    key[..32].copy_from_slice(file_id.as_slice());
    key[32..].copy_from_slice(&node_index.to_be_bytes());
    key
}

fn record_aad(table: &str, key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + table.len() + 1 + key.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(table.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key);
    aad
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use redb::ReadableTable;
    use zgvault_proto::threshold::{deal_bls_key_set, split_new_file_key};

    use super::*;
    use crate::keys::NodeKeys;

    fn open(dir: &Path) -> ShareStore {
        let keys = NodeKeys::load_or_create(dir).unwrap();
        ShareStore::open(dir, &keys.store).unwrap()
    }

    #[test]
    fn deposits_and_bls_share_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let split = split_new_file_key(2, 3).unwrap();
        let (_set, bls) = deal_bls_key_set(2, 3).unwrap();
        let file_a = B256::repeat_byte(0xa);
        let file_b = B256::repeat_byte(0xb);
        {
            let store = open(dir.path());
            assert!(store.bls_share().unwrap().is_none());
            store.put_bls_share(&bls[1]).unwrap();
            store
                .put_deposit(file_a, &split.shares[0], &split.commitments)
                .unwrap();
            store
                .put_deposit(file_b, &split.shares[1], &split.commitments)
                .unwrap();
        }
        let store = open(dir.path());
        let share = store.bls_share().unwrap().unwrap();
        assert_eq!(share.node_index(), 1);
        assert_eq!(*share.to_bytes(), *bls[1].to_bytes());
        let got = store.deposit(file_a, 0).unwrap().unwrap();
        assert_eq!(*got.share.to_bytes(), *split.shares[0].to_bytes());
        assert_eq!(got.commitments, split.commitments);
        got.share.verify(&got.commitments).unwrap();
        assert!(store.deposit(file_a, 1).unwrap().is_none());
        assert_eq!(store.deposit_count().unwrap(), 2);
        assert!(store.delete_deposit(file_a, 0).unwrap());
        assert!(!store.delete_deposit(file_a, 0).unwrap());
        assert!(store.deposit(file_a, 0).unwrap().is_none());
    }

    #[test]
    fn fail_tampered_or_moved_record() {
        let dir = tempfile::tempdir().unwrap();
        let split = split_new_file_key(2, 3).unwrap();
        let file_a = B256::repeat_byte(0xa);
        let file_b = B256::repeat_byte(0xb);
        {
            let store = open(dir.path());
            store
                .put_deposit(file_a, &split.shares[0], &split.commitments)
                .unwrap();
        }
        // Another process edits the database behind the node's back.
        {
            let db = Database::create(dir.path().join(STORE_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut table = txn.open_table(DEPOSITS).unwrap();
                let key_a = deposit_key(file_a, 0);
                let value = table
                    .get(key_a.as_slice())
                    .unwrap()
                    .unwrap()
                    .value()
                    .to_vec();
                // Moved to another file's record: opens under the wrong AAD.
                table
                    .insert(deposit_key(file_b, 0).as_slice(), value.as_slice())
                    .unwrap();
                let mut flipped = value.clone();
                let last = flipped.len() - 1;
                flipped[last] ^= 1;
                table.insert(key_a.as_slice(), flipped.as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = open(dir.path());
        assert!(matches!(
            store.deposit(file_a, 0),
            Err(Error::StoreTampered { .. })
        ));
        assert!(matches!(
            store.deposit(file_b, 0),
            Err(Error::StoreTampered { .. })
        ));
    }

    #[test]
    fn an_older_shred_keeps_a_newer_deposit() {
        let dir = tempfile::tempdir().unwrap();
        let split = split_new_file_key(2, 3).unwrap();
        let file = B256::repeat_byte(0xc);
        let store = open(dir.path());
        let put = |at| {
            store
                .put_deposit_unless_shredded(file, &split.shares[0], &split.commitments, at)
                .unwrap()
        };
        assert_eq!(put(200), DepositOutcome::Stored);
        // A shred signed before the deposit (a replay): the deposit stays.
        assert_eq!(
            store.shred(file, 0, 100).unwrap(),
            ShredOutcome::KeptNewer { deposited_at: 200 }
        );
        assert!(store.deposit(file, 0).unwrap().is_some());
        assert_eq!(store.shredded_at(file).unwrap(), Some(100));
        // At the deposit's time or later: deleted.
        assert_eq!(store.shred(file, 0, 200).unwrap(), ShredOutcome::Deleted);
        assert!(store.deposit(file, 0).unwrap().is_none());
        assert_eq!(store.shred(file, 0, 300).unwrap(), ShredOutcome::NotHeld);
        assert_eq!(store.shredded_at(file).unwrap(), Some(300));
        // An older shred never lowers the tombstone.
        assert_eq!(store.shred(file, 0, 150).unwrap(), ShredOutcome::NotHeld);
        assert_eq!(store.shredded_at(file).unwrap(), Some(300));
        // A record without `deposited_at` (the unchecked put, or stored before the table
        // existed) is older than any shred.
        let legacy = B256::repeat_byte(0xd);
        store
            .put_deposit(legacy, &split.shares[0], &split.commitments)
            .unwrap();
        assert_eq!(store.shred(legacy, 0, 1).unwrap(), ShredOutcome::Deleted);
    }

    #[test]
    fn fail_other_store_key() {
        let dir = tempfile::tempdir().unwrap();
        let (_set, bls) = deal_bls_key_set(1, 1).unwrap();
        open(dir.path()).put_bls_share(&bls[0]).unwrap();
        let other = StoreKey::from_bytes(Zeroizing::new([9; 32]));
        let store = ShareStore::open(dir.path(), &other).unwrap();
        assert!(matches!(
            store.bls_share(),
            Err(Error::StoreTampered { .. })
        ));
    }
}
