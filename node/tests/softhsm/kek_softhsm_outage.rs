//! The KEK's token going away while the vault runs (a removed HSM, a lost connection),
//! with a real SoftHSM2 token: every seal and open fails closed with "unavailable" while
//! it is gone, and still after it is back (the session and key handle died with it), and a
//! restart of the vault (a fresh PKCS#11 context) opens everything sealed before.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use crate::softhsm_common;

use std::path::PathBuf;

use zeroize::Zeroizing;
use zgvault_node::Error;
use zgvault_node::custody::{DEFAULT_SOFTHSM_MODULE, Kek, Pkcs11Config, Pkcs11Kek};

const TEST_NAME: &str = "a_token_outage_fails_closed_until_a_restart";
const K: &[u8] = b"thirty-two bytes of file key K!!";

#[test]
fn a_token_outage_fails_closed_until_a_restart() {
    softhsm_common::run_with_private_token(module_path!(), TEST_NAME, "zgv-outage", scenario);
}

/// The token folder named in the SoftHSM2 config the fixture set for this process.
fn token_dir() -> PathBuf {
    let conf = std::fs::read_to_string(std::env::var_os("SOFTHSM2_CONF").unwrap()).unwrap();
    let line = conf
        .lines()
        .find_map(|l| l.strip_prefix("directories.tokendir = "))
        .unwrap();
    PathBuf::from(line.trim())
}

fn config() -> Pkcs11Config {
    Pkcs11Config {
        module: PathBuf::from(DEFAULT_SOFTHSM_MODULE),
        token_label: "zgv-outage".into(),
        pin: Zeroizing::new(softhsm_common::PIN.into()),
        key_label: "vault-kek-1".into(),
    }
}

fn unavailable<T: std::fmt::Debug>(result: zgvault_node::Result<T>) -> bool {
    matches!(result, Err(Error::Pkcs11 { .. }))
}

fn scenario() {
    let kek = Pkcs11Kek::open(&config()).unwrap();
    let sealed = kek.seal(b"file-1", K).unwrap();

    // The token disappears: nothing is sealed or opened, and nothing is taken for
    // tampering (which would tell the operator the records are bad).
    let tokens = token_dir();
    let away = tokens.with_extension("away");
    std::fs::rename(&tokens, &away).unwrap();
    assert!(unavailable(kek.seal(b"file-2", K)));
    assert!(unavailable(kek.open(b"file-1", &sealed)));

    // It comes back: this process's session and key handle are gone with it, so the KEK
    // still refuses (fails closed) rather than guessing.
    std::fs::rename(&away, &tokens).unwrap();
    assert!(unavailable(kek.open(b"file-1", &sealed)));

    // The vault restarts (the last user of the module finalises it, the next initialises
    // it afresh): the same key, found by label, opens what was sealed before the outage.
    drop(kek);
    let restarted = Pkcs11Kek::open_existing(&config()).unwrap();
    assert_eq!(restarted.open(b"file-1", &sealed).unwrap().as_slice(), K);
    let after = restarted.seal(b"file-3", K).unwrap();
    assert_eq!(restarted.open(b"file-3", &after).unwrap().as_slice(), K);
}
