//! KEK rotation from a key file to a real PKCS#11 token (SoftHSM2, installed by scripts/setup)
//! and back out to a new key file, with readers running throughout.
//! One test function: SoftHSM2 is configured per process through SOFTHSM2_CONF.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use crate::softhsm_common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use alloy_primitives::{Address, B256};
use zeroize::Zeroizing;
use zgvault_node::custody::{
    DEFAULT_SOFTHSM_MODULE, FileKek, Kek, Pkcs11Config, Pkcs11Kek, ROTATION_BATCH, VaultStore,
};
use zgvault_proto::FileKey;

const TEST_NAME: &str = "vault_rotates_from_a_key_file_into_softhsm_while_serving";
const TOKEN: &str = "zgv-rotation";

fn config(key_label: &str) -> Pkcs11Config {
    Pkcs11Config {
        module: PathBuf::from(DEFAULT_SOFTHSM_MODULE),
        token_label: TOKEN.into(),
        pin: Zeroizing::new("1234".into()),
        key_label: key_label.into(),
    }
}

#[test]
fn vault_rotates_from_a_key_file_into_softhsm_while_serving() {
    softhsm_common::run_with_private_token(module_path!(), TEST_NAME, TOKEN, scenario);
}

fn file_id(i: u64) -> B256 {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&i.to_be_bytes());
    B256::from(b)
}

fn key_of(i: u64) -> [u8; 32] {
    let mut k = [0x3c; 32];
    k[..8].copy_from_slice(&i.to_le_bytes());
    k
}

fn read_all_until(store: &VaultStore, n: u64, rotating: &AtomicBool) -> usize {
    let mut passes = 0;
    loop {
        let done = !rotating.load(Ordering::Acquire);
        for i in 0..n {
            let got = store.get(file_id(i)).unwrap().unwrap();
            assert_eq!(got.as_bytes(), &key_of(i), "file {i}");
        }
        passes += 1;
        if done {
            return passes;
        }
    }
}

fn rotate_while_reading(store: &VaultStore, n: u64, to: Arc<dyn Kek>) {
    let rotating = AtomicBool::new(true);
    let report = std::thread::scope(|s| {
        let reader = s.spawn(|| read_all_until(store, n, &rotating));
        let report = store.rotate(to.clone());
        rotating.store(false, Ordering::Release);
        assert!(reader.join().unwrap() >= 1);
        report
    })
    .unwrap();
    assert_eq!(report.rewrapped, n, "{report:?}");
    let counts = store.count_by_kek().unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(counts.get(to.id()), Some(&n));
}

fn scenario() {
    let dir = tempfile::tempdir().unwrap();
    let file_kek: Arc<dyn Kek> =
        Arc::new(FileKek::open_or_create(&dir.path().join("kek.json"), b"pw").unwrap());
    let n = ROTATION_BATCH as u64 + 44;
    let store = VaultStore::open(dir.path(), file_kek.clone(), &[]).unwrap();
    for i in 0..n {
        store
            .put(
                file_id(i),
                &FileKey::from_bytes(&mut key_of(i)),
                Address::repeat_byte(7),
            )
            .unwrap();
    }

    // File KEK → token key, readers running throughout.
    let hsm: Arc<dyn Kek> = Arc::new(Pkcs11Kek::open(&config("vault-kek-1")).unwrap());
    rotate_while_reading(&store, n, hsm.clone());
    drop(store);

    // Restart with only the token key: every K is there, the key file is no longer needed.
    drop(file_kek);
    std::fs::remove_file(dir.path().join("kek.json")).unwrap();
    let store = VaultStore::open(dir.path(), hsm.clone(), &[]).unwrap();
    for i in 0..n {
        assert_eq!(
            store.get(file_id(i)).unwrap().unwrap().as_bytes(),
            &key_of(i)
        );
    }

    // And out again (token key → a new key file), e.g. to leave a failing HSM. Rotating
    // between two keys of one token needs two `Pkcs11Kek`s alive at once, which the PKCS#11
    // backend does not support yet (a second `C_Initialize` in one process is refused).
    let file_b: Arc<dyn Kek> =
        Arc::new(FileKek::open_or_create(&dir.path().join("kek-b.json"), b"pw-b").unwrap());
    rotate_while_reading(&store, n, file_b.clone());
    drop(store);
    drop(hsm);
    let store = VaultStore::open(dir.path(), file_b, &[]).unwrap();
    for i in 0..n {
        assert_eq!(
            store.get(file_id(i)).unwrap().unwrap().as_bytes(),
            &key_of(i)
        );
    }
}
