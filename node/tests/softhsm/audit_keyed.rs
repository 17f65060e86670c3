//! The operator's side of the keyed audit log, through the `zgvault-node` binary:
//! `vault audit verify` (JSON, exit 1 naming the first bad line, `--log`, the older
//! `vault verify-audit`), a log cut at a line boundary refused by `run` and the verifier,
//! the migration of a log written before MACs (`vault audit new-log`), and, with a real
//! SoftHSM2 token, a vault whose token KEK predates audit keys upgrading, then rotating to a
//! key file with its whole history still verifiable.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use crate::common;
use crate::softhsm_common;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use alloy_primitives::{Address, B256};
use common::audit::{audit_path, lines, write_history, write_lines};
use cryptoki::{
    context::{CInitializeArgs, CInitializeFlags, Pkcs11},
    mechanism::Mechanism,
    object::{Attribute, KeyType, ObjectClass},
    session::UserType,
    types::AuthPin,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;
use zgvault_node::{
    Error, KekConfig, NodeConfig, Vault,
    custody::{DEFAULT_SOFTHSM_MODULE, Pkcs11Config, Pkcs11Kek, VaultStore},
};
use zgvault_proto::FileKey;

const HSM_TEST: &str = "audit_keys_in_a_softhsm_token_upgrade_and_survive_a_rotation";
const TOKEN: &str = "zgv-audit-keyed";
const KEY_LABEL: &str = "vault-kek-1";

fn file_kek() -> KekConfig {
    KekConfig::file("kek.json", Some("kek.pass".into()))
}

fn hsm_kek() -> KekConfig {
    KekConfig::pkcs11(
        DEFAULT_SOFTHSM_MODULE,
        TOKEN,
        KEY_LABEL,
        Some("hsm.pin".into()),
    )
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, Some(0), "{}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap()
    }

    /// The command failed with exit 1 and an `error: …` line; returns that line.
    fn failure(&self) -> &str {
        assert_eq!(self.code, Some(1), "stdout {}", self.stdout);
        assert!(self.stderr.contains("error: "), "{}", self.stderr);
        &self.stderr
    }
}

/// `zgvault-node ARGS… --config <data_dir>/node.toml [EXTRA…]`.
fn cli(args: &str, config: &NodeConfig, extra: &[&Path]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_zgvault-node"))
        .args(args.split(' '))
        .arg("--config")
        .arg(config.data_dir.join("node.toml"))
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn audit_verify_reports_json_and_names_the_first_bad_line() {
    let (_dir, config) = common::custodial_dir(file_kek(), softhsm_common::PIN);
    write_history(&config, 1, 4);
    let report = cli("vault audit verify", &config, &[]).json();
    assert_eq!(report["lines"], 4, "{report}");
    assert_eq!(report["anchor_source"], "store", "{report}");
    assert_eq!(report["anchored_lines"], 4, "{report}");
    assert_eq!(report["vouched_by_later_lines"], 0, "{report}");
    let by_key = report["lines_by_key"].as_object().unwrap();
    assert!(
        by_key.len() == 1 && by_key.keys().all(|k| k.starts_with("file:")),
        "{report}"
    );
    let path = audit_path(&config);
    assert_eq!(
        report["head"],
        hex::encode(Sha256::digest(lines(&path)[3].as_bytes())),
        "the head is the SHA-256 of the last line"
    );
    // The older command still works, printing the line count.
    let old = cli("vault verify-audit", &config, &[]);
    assert_eq!(old.code, Some(0), "{}", old.stderr);
    assert_eq!(old.stdout.trim(), "4");

    // A file kept elsewhere is verified with --log (no anchor: it is not the vault's log).
    let kept = config.data_dir.join("kept.jsonl");
    std::fs::copy(&path, &kept).unwrap();
    let report = cli("vault audit verify", &config, &[Path::new("--log"), &kept]).json();
    assert_eq!(report["lines"], 4, "{report}");
    assert!(report["anchor_source"].is_null(), "{report}");

    // An edited line: exit 1, the line named, what to do said.
    let mut all = lines(&path);
    all[1] = all[1].replace("\"allowed\"", "\"refused\"");
    write_lines(&path, &all);
    for command in ["vault audit verify", "vault verify-audit"] {
        let run = cli(command, &config, &[]);
        let stderr = run.failure();
        assert!(stderr.contains("line 2 "), "{stderr}");
        assert!(stderr.contains("vault audit new-log"), "{stderr}");
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

#[test]
fn fail_log_cut_at_a_line_boundary_is_refused_at_start_and_by_the_verifier() {
    let (_dir, config) = common::custodial_dir(file_kek(), softhsm_common::PIN);
    write_history(&config, 1, 5);
    let path = audit_path(&config);
    let all = lines(&path);
    write_lines(&path, &all[..3]);
    assert!(matches!(
        Vault::open(&config),
        Err(Error::AuditCut {
            lines: 3,
            anchored: 5,
            ..
        })
    ));
    // `run` opens the vault before it touches the chain: it refuses, exit 1.
    let stderr = cli("run", &config, &[]).failure().to_owned();
    assert!(
        stderr.contains("has 3 lines, but the vault anchored 5"),
        "{stderr}"
    );
    let stderr = cli("vault audit verify", &config, &[]).failure().to_owned();
    assert!(stderr.contains("vault audit new-log"), "{stderr}");
    // Putting the lines back is the repair: the log verifies again.
    write_lines(&path, &all);
    assert_eq!(cli("vault audit verify", &config, &[]).json()["lines"], 5);
}

/// A vault that ran an older zgvault-node: its log has no MACs. It refuses to start until
/// the operator starts a new log, which keeps the old file and seals its SHA-256.
#[test]
fn migration_of_a_log_without_macs_through_new_log() {
    let (_dir, config) = common::custodial_dir(file_kek(), softhsm_common::PIN);
    drop(Vault::open(&config).unwrap());
    let path = audit_path(&config);
    let line = format!(
        "{{\"seq\":1,\"time_ms\":1,\"action\":\"release\",\"requester\":\"{}\",\"file_id\":\"{}\",\"decision\":\"allowed\",\"code\":null,\"request_hash\":\"{}\",\"prev\":\"{}\"}}",
        Address::repeat_byte(1),
        B256::repeat_byte(2),
        B256::repeat_byte(3),
        "0".repeat(64)
    );
    let old = format!("{line}\n");
    std::fs::write(&path, &old).unwrap();
    let head = hex::encode(Sha256::digest(line.as_bytes()));

    for command in ["run", "vault audit verify"] {
        let run = cli(command, &config, &[]);
        let stderr = run.failure();
        assert!(
            stderr.contains("has no MACs") && stderr.contains(&head),
            "{stderr}"
        );
        assert!(stderr.contains("vault audit new-log"), "{stderr}");
    }

    let report = cli("vault audit new-log", &config, &[]).json();
    let kept = PathBuf::from(report["previous"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), old);
    assert_eq!(report["previous_head"], head, "{report}");
    assert!(
        report["previous_verdict"]
            .as_str()
            .unwrap()
            .contains("no MACs"),
        "{report}"
    );
    let first = &lines(&path)[0];
    assert!(
        first.contains("\"action\":\"new_log\"")
            && first.contains(&hex::encode(Sha256::digest(old.as_bytes()))),
        "{first}"
    );
    // The vault starts and continues the new log.
    write_history(&config, 2, 3);
    let report = cli("vault audit verify", &config, &[]).json();
    assert_eq!(report["lines"], 3, "{report}");
    assert_eq!(report["anchored_lines"], 3, "{report}");
}

#[test]
fn audit_keys_in_a_softhsm_token_upgrade_and_survive_a_rotation() {
    softhsm_common::run_with_private_token(module_path!(), HSM_TEST, TOKEN, hsm_scenario);
}

fn pkcs11_config() -> Pkcs11Config {
    Pkcs11Config {
        module: PathBuf::from(DEFAULT_SOFTHSM_MODULE),
        token_label: TOKEN.into(),
        pin: Zeroizing::new(softhsm_common::PIN.into()),
        key_label: KEY_LABEL.into(),
    }
}

/// The KEK as a vault from before audit keys made it: an AES key in the token, no audit key.
fn create_kek_as_before_audit_keys() {
    let ctx = Pkcs11::new(DEFAULT_SOFTHSM_MODULE).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == TOKEN)
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    session
        .login(
            UserType::User,
            Some(&AuthPin::new(softhsm_common::PIN.into())),
        )
        .unwrap();
    session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Label(KEY_LABEL.as_bytes().to_vec()),
            ],
        )
        .unwrap();
}

fn hsm_scenario() {
    // A vault from before audit keys: its KEK in the token, keys stored under it.
    create_kek_as_before_audit_keys();
    let (_dir, mut config) = common::custodial_dir(hsm_kek(), softhsm_common::PIN);
    {
        let old = Pkcs11Kek::open_existing(&pkcs11_config()).unwrap();
        assert!(!old.audit_key_is_locked_in().unwrap(), "no audit key yet");
        let store = VaultStore::open(&config.data_dir, std::sync::Arc::new(old), &[]).unwrap();
        store
            .put(
                B256::repeat_byte(9),
                &FileKey::generate().unwrap(),
                Address::ZERO,
            )
            .unwrap();
    }
    // The upgraded vault creates the audit key beside the KEK, locked in the token.
    write_history(&config, 1, 2);
    let kek = Pkcs11Kek::open_existing(&pkcs11_config()).unwrap();
    assert!(
        kek.audit_key_is_locked_in().unwrap(),
        "the audit key must be sensitive and non-extractable"
    );
    drop(kek);
    let token_id = format!("pkcs11:{TOKEN}:{KEY_LABEL}");
    let report = cli("vault audit verify", &config, &[]).json();
    assert_eq!(report["lines_by_key"][&token_id], 2, "{report}");

    // Rotation out of the token into a key file (e.g. to retire the HSM).
    config.vault.rotate_to(file_kek());
    common::write_config(&config);
    {
        let vault = Vault::open(&config).unwrap();
        let outcome = vault.rotate(&config.vault.current()).unwrap();
        assert_eq!(outcome.rewrapped, 1);
    }
    write_history(&config, 4, 5);
    let path = audit_path(&config);
    let all = lines(&path);
    assert!(all[2].contains("\"action\":\"rotate\""), "{}", all[2]);
    // Both KEKs configured: every MAC is checked.
    let report = cli("vault audit verify", &config, &[]).json();
    assert_eq!(report["lines"], 5, "{report}");
    assert_eq!(report["lines_by_key"][&token_id], 2, "{report}");
    assert_eq!(report["vouched_by_later_lines"], 0, "{report}");

    // The token KEK retired: the file KEK's first line vouches for the token's lines.
    config.vault.previous.clear();
    common::write_config(&config);
    drop(Vault::open(&config).unwrap());
    let report = cli("vault audit verify", &config, &[]).json();
    assert_eq!(report["lines"], 5, "{report}");
    assert_eq!(report["vouched_by_later_lines"], 2, "{report}");

    // A line MACed in the token, rewritten and re-chained: caught at the first line the
    // configured KEK can check (the rotation's), and at line 1 with the token configured.
    let mut edited = all.clone();
    edited[0] = edited[0].replace(
        "\"refused\",\"code\":\"ACCESS_DENIED\"",
        "\"allowed\",\"code\":null",
    );
    assert_ne!(edited[0], all[0]);
    common::audit::rechain(&path, edited);
    let stderr = cli("vault audit verify", &config, &[]).failure().to_owned();
    assert!(stderr.contains("line 3 "), "{stderr}");
    config.vault.previous = vec![hsm_kek()];
    common::write_config(&config);
    let stderr = cli("vault audit verify", &config, &[]).failure().to_owned();
    assert!(stderr.contains("line 1 "), "{stderr}");
}
