//! The attack a keyed audit chain stops: someone who can write the audit log file, but has
//! neither the KEK nor the HSM, rewrites history *consistently*: turns a past release from
//! "allowed" into "refused", or deletes a line and renumbers the rest, then recomputes the
//! SHA-256 `prev` of every following line. The vault must refuse to start on such a log and
//! `zgvault-node vault verify-audit` must fail naming the first bad line. Against the real
//! backends: a passphrase-sealed KEK file and a SoftHSM2 token.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use crate::common;
use crate::softhsm_common;

use std::process::Command;

use common::audit::{audit_path, lines as read_lines, rechain, write_history};
use zgvault_node::{Error, KekConfig, NodeConfig, Vault, custody::DEFAULT_SOFTHSM_MODULE};

const HSM_TEST: &str = "audit_rewrite_is_refused_with_a_softhsm_token";
const TOKEN: &str = "zgv-audit-rewrite";
/// Lines of history written before the attack.
const HISTORY: u8 = 6;

/// A custodial vault in a fresh 0700 folder with the KEK `kek`, its secret files written.
fn vault_dir(kek: KekConfig) -> (tempfile::TempDir, NodeConfig) {
    common::custodial_dir(kek, softhsm_common::PIN)
}

fn file_kek() -> KekConfig {
    KekConfig::file("kek.json", Some("kek.pass".into()))
}

fn hsm_kek() -> KekConfig {
    KekConfig::pkcs11(
        DEFAULT_SOFTHSM_MODULE,
        TOKEN,
        "vault-kek-1",
        Some("hsm.pin".into()),
    )
}

/// The vault refuses to start, and the CLI verifier fails, both naming `line`.
fn assert_refused(config: &NodeConfig, line: usize, what: &str) {
    let mut problems = Vec::new();
    match Vault::open(config) {
        Err(Error::AuditChainBroken { line: got, .. }) if got == line => {}
        Err(other) => problems.push(format!(
            "the vault refused, but not for line {line}: {other}"
        )),
        Ok(_) => problems.push(format!(
            "the vault started on the rewritten audit log instead of refusing line {line}"
        )),
    }
    let output = Command::new(env!("CARGO_BIN_EXE_zgvault-node"))
        .args(["vault", "verify-audit", "--config"])
        .arg(config.data_dir.join("node.toml"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() != Some(1) {
        problems.push(format!(
            "`zgvault-node vault verify-audit` exited with {} on the rewritten log (stdout {:?}, \
             stderr {stderr:?})",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim_end()
        ));
    } else if !stderr.contains(&format!("line {line} ")) {
        problems.push(format!("the verifier does not name line {line}: {stderr}"));
    }
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

/// Both attacks on a vault with the KEK `kek`, whose id starts with `kek_id`.
fn rewrites_are_refused(kek: KekConfig, kek_id: &str) {
    // A past release turned from "allowed" into "refused": the first bad line is that one.
    let (_dir, config) = vault_dir(kek.clone());
    write_history(&config, 1, HISTORY);
    let path = audit_path(&config);
    let written = read_lines(&path);
    let mut lines = written.clone();
    assert!(
        lines[1].contains("\"decision\":\"allowed\""),
        "{}",
        lines[1]
    );
    lines[1] = lines[1].replace(
        "\"decision\":\"allowed\",\"code\":null",
        "\"decision\":\"refused\",\"code\":\"ACCESS_DENIED\"",
    );
    rechain(&path, lines);
    assert_refused(&config, 2, "a decision changed");
    assert!(
        written
            .iter()
            .all(|l| l.contains(&format!("\"key\":\"{kek_id}"))),
        "every line is MACed under the configured KEK: {written:?}"
    );

    // A line deleted and the rest renumbered: the first bad line is the one now in its place.
    let (_dir, config) = vault_dir(kek);
    write_history(&config, 1, HISTORY);
    let path = audit_path(&config);
    let mut lines = read_lines(&path);
    lines.remove(2);
    rechain(&path, lines);
    assert_refused(&config, 3, "a line deleted");
}

#[test]
fn audit_rewrite_is_refused_with_a_file_kek() {
    rewrites_are_refused(file_kek(), "file:");
}

#[test]
fn audit_rewrite_is_refused_with_a_softhsm_token() {
    softhsm_common::run_with_private_token(module_path!(), HSM_TEST, TOKEN, || {
        rewrites_are_refused(hsm_kek(), &format!("pkcs11:{TOKEN}:vault-kek-1"));
    });
}
