//! The custodial vault's key store: sealed records, restart, tampering, KEK rotation under
//! concurrent reads and deposits, interrupted rotation, and a model-based test.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use alloy_primitives::{Address, B256};
use proptest::prelude::*;
use redb::{Database, ReadableDatabase, TableDefinition};
use zeroize::Zeroizing;
use zgvault_node::Error;
use zgvault_node::custody::{FileKek, Kek, ROTATION_BATCH, VAULT_STORE_FILE, VaultStore};
use zgvault_proto::FileKey;

const KEYS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("vault_keys");

fn kek(dir: &Path, name: &str) -> Arc<dyn Kek> {
    Arc::new(FileKek::open_or_create(&dir.join(name), b"test passphrase").unwrap())
}

fn file_id(i: u64) -> B256 {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&i.to_be_bytes());
    B256::from(b)
}

fn key_of(i: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&i.to_le_bytes());
    k[8..16].copy_from_slice(&(i ^ 0x5a5a_5a5a).to_be_bytes());
    k[31] = 0xee;
    k
}

fn file_key(i: u64) -> FileKey {
    FileKey::from_bytes(&mut key_of(i))
}

fn owner() -> Address {
    Address::repeat_byte(0x11)
}

#[test]
fn records_survive_a_restart_and_the_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let a = kek(dir.path(), "kek-a");
    {
        let store = VaultStore::open(dir.path(), a.clone(), &[]).unwrap();
        assert!(store.is_empty().unwrap());
        for i in 0..10 {
            store.put(file_id(i), &file_key(i), owner()).unwrap();
        }
        assert!(store.delete(file_id(3)).unwrap());
        assert!(!store.delete(file_id(3)).unwrap());
    }
    let store = VaultStore::open(dir.path(), a.clone(), &[]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(VAULT_STORE_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(store.len().unwrap(), 9);
    for i in 0..10 {
        let got = store.entry(file_id(i)).unwrap();
        if i == 3 {
            assert!(got.is_none());
        } else {
            let got = got.unwrap();
            assert_eq!(got.key.as_bytes(), &key_of(i));
            assert_eq!(got.depositor, owner());
        }
    }
    assert!(store.get(file_id(99)).unwrap().is_none());
    let entry = format!("{:?}", store.entry(file_id(1)).unwrap().unwrap());
    assert!(entry.contains("<redacted>"), "{entry}");
    assert!(
        !entry.contains(&hex::encode(key_of(1))),
        "K leaked in Debug"
    );
}

/// Rewrites one record of the database behind the vault's back.
fn edit(dir: &Path, f: impl FnOnce(&mut redb::Table<'_, &'static [u8], &'static [u8]>)) {
    let db = Database::create(dir.join(VAULT_STORE_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(KEYS).unwrap();
        f(&mut table);
    }
    txn.commit().unwrap();
}

fn raw(dir: &Path, id: B256) -> Vec<u8> {
    let db = Database::create(dir.join(VAULT_STORE_FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(KEYS).unwrap();
    table.get(id.as_slice()).unwrap().unwrap().value().to_vec()
}

#[test]
fn fail_modified_moved_or_truncated_record() {
    let dir = tempfile::tempdir().unwrap();
    let a = kek(dir.path(), "kek-a");
    {
        let store = VaultStore::open(dir.path(), a.clone(), &[]).unwrap();
        for i in 0..6 {
            store.put(file_id(i), &file_key(i), owner()).unwrap();
        }
    }
    let value = raw(dir.path(), file_id(0));
    edit(dir.path(), |t| {
        // Flipped bit in the sealed key.
        let mut flipped = value.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        t.insert(file_id(0).as_slice(), flipped.as_slice()).unwrap();
        // Moved to another file.
        t.insert(file_id(1).as_slice(), value.as_slice()).unwrap();
        // Truncated, and extended.
        t.insert(file_id(2).as_slice(), &value[..value.len() - 1])
            .unwrap();
        let mut longer = value.clone();
        longer.push(0);
        t.insert(file_id(3).as_slice(), longer.as_slice()).unwrap();
        // Another depositor claimed.
        let mut other = value.clone();
        other[1] ^= 0xff;
        t.insert(file_id(4).as_slice(), other.as_slice()).unwrap();
        // Cut down to a few bytes.
        t.insert(file_id(5).as_slice(), &value[..3]).unwrap();
    });
    let store = VaultStore::open(dir.path(), a, &[]).unwrap();
    for i in 0..6 {
        let err = store.get(file_id(i)).unwrap_err();
        assert!(
            matches!(err, Error::KekTampered { .. }),
            "record {i}: {err}"
        );
        assert!(err.to_string().contains("restore"), "{err}");
    }
}

#[test]
fn fail_record_under_a_kek_that_is_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let a = kek(dir.path(), "kek-a");
    let b = kek(dir.path(), "kek-b");
    VaultStore::open(dir.path(), a.clone(), &[])
        .unwrap()
        .put(file_id(1), &file_key(1), owner())
        .unwrap();
    let store = VaultStore::open(dir.path(), b.clone(), &[]).unwrap();
    let err = store.get(file_id(1)).unwrap_err();
    assert!(matches!(err, Error::KekNotLoaded { .. }), "{err}");
    assert!(err.to_string().contains("previous KEK"), "{err}");
    // Loaded as a previous KEK, it opens again.
    drop(store);
    let store = VaultStore::open(dir.path(), b, &[a]).unwrap();
    assert_eq!(
        store.get(file_id(1)).unwrap().unwrap().as_bytes(),
        &key_of(1)
    );
}

#[test]
fn rotation_under_concurrent_reads_and_deposits_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = kek(dir.path(), "kek-a");
    let b = kek(dir.path(), "kek-b");
    let store = VaultStore::open(dir.path(), a.clone(), &[]).unwrap();
    let initial = 2 * ROTATION_BATCH as u64 + 37;
    for i in 0..initial {
        store.put(file_id(i), &file_key(i), owner()).unwrap();
    }
    let rotating = AtomicBool::new(true);
    let passes = AtomicUsize::new(0);
    let deposited = AtomicUsize::new(0);
    let report = std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                // Keep reading every file until the rotation is over, then one more pass.
                loop {
                    let done = !rotating.load(Ordering::Acquire);
                    for i in 0..initial {
                        let got = store.get(file_id(i)).unwrap().unwrap();
                        assert_eq!(got.as_bytes(), &key_of(i), "file {i}");
                    }
                    passes.fetch_add(1, Ordering::Relaxed);
                    if done {
                        break;
                    }
                }
            });
        }
        s.spawn(|| {
            let mut i = initial;
            while rotating.load(Ordering::Acquire) {
                store.put(file_id(i), &file_key(i), owner()).unwrap();
                assert_eq!(
                    store.get(file_id(i)).unwrap().unwrap().as_bytes(),
                    &key_of(i)
                );
                i += 1;
                deposited.fetch_add(1, Ordering::Relaxed);
            }
        });
        let report = store.rotate(b.clone());
        rotating.store(false, Ordering::Release);
        report
    })
    .unwrap();
    assert!(passes.load(Ordering::Relaxed) >= 2);
    let total = initial + deposited.load(Ordering::Relaxed) as u64;
    assert_eq!(store.len().unwrap(), total);
    // Deposits committed before the switch were re-wrapped too; later ones were already B.
    assert!(report.rewrapped >= initial, "{report:?}");
    assert!(
        report.rewrapped + report.already_current <= total,
        "{report:?}"
    );
    // Nothing left under A, even deposits that raced with the switch.
    let counts = store.count_by_kek().unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(counts.get(b.id()), Some(&total));
    assert_eq!(store.current_kek_id(), b.id());

    // After a restart with only the new KEK, every file opens.
    drop(store);
    let store = VaultStore::open(dir.path(), b.clone(), &[]).unwrap();
    for i in 0..total {
        assert_eq!(
            store.get(file_id(i)).unwrap().unwrap().as_bytes(),
            &key_of(i)
        );
    }
    // A second rotation to the same KEK has nothing to do.
    let again = store.rotate(b).unwrap();
    assert_eq!(again.rewrapped, 0);
    assert_eq!(again.already_current, total);
}

/// A KEK that fails its `fail_at`-th seal (1-based), like an HSM going away mid-rotation.
#[derive(Debug)]
struct FailingKek {
    inner: Arc<dyn Kek>,
    fail_at: usize,
    seals: AtomicUsize,
}

impl Kek for FailingKek {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> zgvault_node::Result<Vec<u8>> {
        if self.seals.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(Error::KekUnavailable {
                backend: "test",
                message: "the token went away".into(),
            });
        }
        self.inner.seal(aad, plaintext)
    }
    fn open(&self, aad: &[u8], sealed: &[u8]) -> zgvault_node::Result<Zeroizing<Vec<u8>>> {
        self.inner.open(aad, sealed)
    }
    fn audit_mac(&self, message: &[u8]) -> zgvault_node::Result<[u8; 32]> {
        self.inner.audit_mac(message)
    }
}

#[test]
fn interrupted_rotation_loses_nothing_and_a_rerun_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let a = kek(dir.path(), "kek-a");
    let b = kek(dir.path(), "kek-b");
    let n = 2 * ROTATION_BATCH as u64 + 10;
    {
        let store = VaultStore::open(dir.path(), a.clone(), &[]).unwrap();
        for i in 0..n {
            store.put(file_id(i), &file_key(i), owner()).unwrap();
        }
        let failing = Arc::new(FailingKek {
            inner: b.clone(),
            fail_at: ROTATION_BATCH + 40,
            seals: AtomicUsize::new(0),
        });
        let err = store.rotate(failing).unwrap_err();
        assert!(matches!(err, Error::KekUnavailable { .. }), "{err}");
        // New deposits go on under the KEK that was current before.
        assert_eq!(store.current_kek_id(), a.id());
        // The first batch committed; the second rolled back; every file still opens.
        let counts = store.count_by_kek().unwrap();
        assert_eq!(counts.get(b.id()), Some(&(ROTATION_BATCH as u64)));
        assert_eq!(counts.get(a.id()), Some(&(n - ROTATION_BATCH as u64)));
        for i in 0..n {
            assert_eq!(
                store.get(file_id(i)).unwrap().unwrap().as_bytes(),
                &key_of(i)
            );
        }
    }
    // Restart mid-rotation (both KEKs configured), then run the rotation again.
    let store = VaultStore::open(dir.path(), b.clone(), std::slice::from_ref(&a)).unwrap();
    let report = store.rotate(b.clone()).unwrap();
    assert_eq!(report.already_current, ROTATION_BATCH as u64);
    assert_eq!(report.rewrapped, n - ROTATION_BATCH as u64);
    drop(store);
    let store = VaultStore::open(dir.path(), b, &[]).unwrap();
    for i in 0..n {
        assert_eq!(
            store.get(file_id(i)).unwrap().unwrap().as_bytes(),
            &key_of(i)
        );
    }
}

fn shared_kek() -> Arc<dyn Kek> {
    static KEK: OnceLock<(tempfile::TempDir, Arc<dyn Kek>)> = OnceLock::new();
    KEK.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let k = kek(dir.path(), "kek");
        (dir, k)
    })
    .1
    .clone()
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u64),
    Delete(u8),
    Get(u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12, any::<u64>()).prop_map(|(f, k)| Op::Put(f, k)),
        2 => (0u8..12).prop_map(Op::Delete),
        3 => (0u8..12).prop_map(Op::Get),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_a_map_across_reopens(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let kek = shared_kek();
        let mut store = VaultStore::open(dir.path(), kek.clone(), &[]).unwrap();
        let mut model: HashMap<u8, u64> = HashMap::new();
        for op in ops {
            match op {
                Op::Put(f, k) => {
                    store.put(file_id(f.into()), &file_key(k), owner()).unwrap();
                    model.insert(f, k);
                }
                Op::Delete(f) => {
                    let was = store.delete(file_id(f.into())).unwrap();
                    prop_assert_eq!(was, model.remove(&f).is_some());
                }
                Op::Get(f) => {
                    let got = store.get(file_id(f.into())).unwrap().map(|k| *k.as_bytes());
                    prop_assert_eq!(got, model.get(&f).map(|k| key_of(*k)));
                }
                Op::Reopen => {
                    drop(store);
                    store = VaultStore::open(dir.path(), kek.clone(), &[]).unwrap();
                }
            }
        }
        drop(store);
        let store = VaultStore::open(dir.path(), kek, &[]).unwrap();
        prop_assert_eq!(store.len().unwrap(), model.len() as u64);
        for f in 0u8..12 {
            let got = store.get(file_id(f.into())).unwrap().map(|k| *k.as_bytes());
            prop_assert_eq!(got, model.get(&f).map(|k| key_of(*k)));
        }
    }
}

/// Another key under a chosen id: like a second HSM whose token and key labels are the same.
#[derive(Debug)]
struct NamedKek {
    id: &'static str,
    inner: Arc<dyn Kek>,
}

impl Kek for NamedKek {
    fn id(&self) -> &str {
        self.id
    }
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> zgvault_node::Result<Vec<u8>> {
        self.inner.seal(aad, plaintext)
    }
    fn open(&self, aad: &[u8], sealed: &[u8]) -> zgvault_node::Result<Zeroizing<Vec<u8>>> {
        self.inner.open(aad, sealed)
    }
    fn audit_mac(&self, message: &[u8]) -> zgvault_node::Result<[u8; 32]> {
        self.inner.audit_mac(message)
    }
}

fn named(id: &'static str, inner: &Arc<dyn Kek>) -> Arc<dyn Kek> {
    Arc::new(NamedKek {
        id,
        inner: Arc::clone(inner),
    })
}

#[test]
fn fail_rotation_to_another_key_under_a_kek_id_already_used() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        kek(dir.path(), "kek-a"),
        kek(dir.path(), "kek-b"),
        kek(dir.path(), "kek-c"),
    );
    let old = named("pkcs11:zgvault:kek-1", &a);
    let store = VaultStore::open(dir.path(), Arc::clone(&old), &[]).unwrap();
    for i in 0..5 {
        store.put(file_id(i), &file_key(i), owner()).unwrap();
    }
    // Another key with the current KEK's id (a new HSM, same labels): refused, nothing moved.
    let err = store.rotate(named("pkcs11:zgvault:kek-1", &b)).unwrap_err();
    assert!(matches!(err, Error::KekIdCollision { .. }), "{err}");
    assert!(err.to_string().contains("new key_label"), "{err}");
    assert_eq!(store.current_kek_id(), "pkcs11:zgvault:kek-1");
    // Rotate to a properly named new KEK, then try the old id with yet another key: the old
    // id is still loaded (previous), so it is refused too.
    store.rotate(named("pkcs11:zgvault:kek-2", &b)).unwrap();
    let err = store.rotate(named("pkcs11:zgvault:kek-1", &c)).unwrap_err();
    assert!(matches!(err, Error::KekIdCollision { .. }), "{err}");
    // The same key under its own id (a re-run, an offline rotation) is fine.
    let report = store.rotate(named("pkcs11:zgvault:kek-2", &b)).unwrap();
    assert_eq!(report.already_current, 5);
    for i in 0..5 {
        assert_eq!(
            store.get(file_id(i)).unwrap().unwrap().as_bytes(),
            &key_of(i)
        );
    }
    drop(store);
    // A configuration loading two different keys under one id refuses to open.
    let err = VaultStore::open(
        dir.path(),
        named("pkcs11:zgvault:kek-2", &c),
        &[named("pkcs11:zgvault:kek-2", &b)],
    )
    .unwrap_err();
    assert!(matches!(err, Error::KekIdCollision { .. }), "{err}");
}

#[test]
fn an_older_shred_keeps_a_newer_key_and_records_without_a_deposit_time_are_older() {
    use zgvault_node::ShredOutcome;
    let dir = tempfile::tempdir().unwrap();
    let a = kek(dir.path(), "kek-a");
    let store = VaultStore::open(dir.path(), Arc::clone(&a), &[]).unwrap();
    store
        .put_unless_shredded(file_id(1), &file_key(1), owner(), 200)
        .unwrap();
    assert_eq!(
        store.shred(file_id(1), 100).unwrap(),
        ShredOutcome::KeptNewer { deposited_at: 200 }
    );
    assert_eq!(store.shredded_at(file_id(1)).unwrap(), Some(100));
    // A rotation keeps the deposit time with the record.
    store.rotate(kek(dir.path(), "kek-b")).unwrap();
    assert_eq!(
        store.shred(file_id(1), 150).unwrap(),
        ShredOutcome::KeptNewer { deposited_at: 200 }
    );
    assert_eq!(
        store.get(file_id(1)).unwrap().unwrap().as_bytes(),
        &key_of(1)
    );
    assert_eq!(store.shred(file_id(1), 200).unwrap(), ShredOutcome::Deleted);
    assert!(store.get(file_id(1)).unwrap().is_none());
    // The unchecked put (and records stored before deposit times were kept) count as older
    // than any shred.
    store.put(file_id(2), &file_key(2), owner()).unwrap();
    assert_eq!(store.shred(file_id(2), 1).unwrap(), ShredOutcome::Deleted);
}
