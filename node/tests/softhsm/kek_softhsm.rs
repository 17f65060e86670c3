//! The custodial vault's KEK in a real PKCS#11 token (SoftHSM2, installed by scripts/setup).
//! One test function: SoftHSM2 is configured per process through SOFTHSM2_CONF.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use crate::softhsm_common;

use std::path::PathBuf;

use zeroize::Zeroizing;
use zgvault_node::Error;
use zgvault_node::custody::{DEFAULT_SOFTHSM_MODULE, Kek, Pkcs11Config, Pkcs11Kek};

fn config(pin: &str) -> Pkcs11Config {
    Pkcs11Config {
        module: PathBuf::from(DEFAULT_SOFTHSM_MODULE),
        token_label: "zgv-test".into(),
        pin: Zeroizing::new(pin.into()),
        key_label: "vault-kek-1".into(),
    }
}

const TEST_NAME: &str = "softhsm_kek_seals_survives_restart_and_fails_closed";

#[test]
fn softhsm_kek_seals_survives_restart_and_fails_closed() {
    softhsm_common::run_with_private_token(module_path!(), TEST_NAME, "zgv-test", scenario);
}

fn scenario() {
    // First start: the KEK is created in the token, non-extractable.
    let kek = Pkcs11Kek::open(&config("1234")).unwrap();
    assert!(
        kek.key_is_locked_in().unwrap(),
        "KEK must be sensitive and non-extractable"
    );
    // Its audit key, beside it in the token: non-extractable, and used only for MACs.
    assert!(
        kek.audit_key_is_locked_in().unwrap(),
        "the audit key must be sensitive and non-extractable"
    );
    let mac = kek.audit_mac(b"an audit line").unwrap();
    assert_eq!(kek.audit_mac(b"an audit line").unwrap(), mac);
    assert_ne!(kek.audit_mac(b"another audit line").unwrap(), mac);
    let sealed = kek
        .seal(b"file-1", b"thirty-two bytes of file key K!!")
        .unwrap();
    assert_eq!(
        kek.open(b"file-1", &sealed).unwrap().as_slice(),
        b"thirty-two bytes of file key K!!"
    );
    // Another file's slot, and a flipped bit: refused, never garbage.
    assert!(matches!(
        kek.open(b"file-2", &sealed),
        Err(Error::KekTampered { .. })
    ));
    let mut bad = sealed.clone();
    bad[20] ^= 1;
    assert!(matches!(
        kek.open(b"file-1", &bad),
        Err(Error::KekTampered { .. })
    ));
    assert!(matches!(
        kek.open(b"file-1", &[0; 5]),
        Err(Error::KekTampered { .. })
    ));
    let id = kek.id().to_owned();

    // A second key in the same token, open at the same time (a rotation needs both).
    let mut second = config("1234");
    second.key_label = "vault-kek-2".into();
    let kek2 = Pkcs11Kek::open(&second).unwrap();
    let sealed2 = kek2.seal(b"file-1", b"other").unwrap();
    assert_eq!(kek2.open(b"file-1", &sealed2).unwrap().as_slice(), b"other");
    assert!(matches!(
        kek.open(b"file-1", &sealed2),
        Err(Error::KekTampered { .. })
    ));
    assert_ne!(kek2.id(), id);
    assert_ne!(
        kek2.audit_mac(b"an audit line").unwrap(),
        mac,
        "one audit key per KEK"
    );
    drop(kek2);
    drop(kek);

    // Restart: the same key is found by label and opens the old record; the same audit key
    // makes the same MACs, also when opened without permission to create keys.
    let kek = Pkcs11Kek::open(&config("1234")).unwrap();
    assert_eq!(kek.id(), id);
    assert_eq!(kek.audit_mac(b"an audit line").unwrap(), mac);
    assert_eq!(
        Pkcs11Kek::open_existing(&config("1234"))
            .unwrap()
            .audit_mac(b"an audit line")
            .unwrap(),
        mac
    );
    assert_eq!(
        kek.open(b"file-1", &sealed).unwrap().as_slice(),
        b"thirty-two bytes of file key K!!"
    );
    drop(kek);

    // Wrong PIN, missing token, missing module: clear errors, nothing opened.
    let err = Pkcs11Kek::open(&config("9999")).unwrap_err();
    assert!(matches!(err, Error::KekAuth { what: "PIN", .. }), "{err}");
    let mut other = config("1234");
    other.token_label = "no-such-token".into();
    let err = Pkcs11Kek::open(&other).unwrap_err().to_string();
    assert!(err.contains("softhsm2-util --init-token"), "{err}");
    let mut missing = config("1234");
    missing.module = PathBuf::from("/nonexistent/libpkcs11.so");
    let err = Pkcs11Kek::open(&missing).unwrap_err().to_string();
    assert!(err.contains("scripts/setup"), "{err}");
    assert!(
        !format!("{:?}", config("1234")).contains("1234"),
        "PIN leaked in Debug"
    );
}
