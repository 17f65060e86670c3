//! The vault's audit log against a real file KEK: append, reopen and continue, every kind of
//! damage detected and the first bad line named, a cut caught by the anchor in the store,
//! the history verifiable across a KEK rotation, and the way out of a log without MACs or
//! with a torn line (a new log that seals the old one).
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use common::audit::{lines, rechain, write_lines};
use sha2::{Digest, Sha256};
use zgvault_node::Error;
use zgvault_node::custody::{
    AUDIT_FILE, AuditAction, AuditDecision, AuditHead, AuditLog, AuditRecord, FileKek, Kek,
    MAX_AUDIT_LINE, VaultStore, verify_log,
};

fn record(i: u8, released: bool) -> AuditRecord {
    let actions = [
        AuditAction::Release,
        AuditAction::Deposit,
        AuditAction::Shred,
        AuditAction::Rotate,
    ];
    let action = actions[usize::from(i) % actions.len()];
    AuditRecord {
        action,
        note: (action == AuditAction::Rotate).then(|| "from file:ab to pkcs11:t:k".to_owned()),
        requester: Address::repeat_byte(i),
        file_id: B256::repeat_byte(i.wrapping_add(0x40)),
        decision: if released {
            AuditDecision::Allowed
        } else {
            AuditDecision::Refused {
                code: "ACCESS_DENIED".into(),
            }
        },
        request_hash: B256::repeat_byte(i.wrapping_add(0x80)),
    }
}

fn kek(dir: &Path, name: &str) -> Arc<dyn Kek> {
    Arc::new(FileKek::open_or_create(&dir.join(name), b"audit test passphrase").unwrap())
}

/// A vault store (the audit log's keys and anchor) in `dir`, under a new file KEK.
fn store(dir: &Path) -> (VaultStore, Arc<dyn Kek>) {
    let kek = kek(dir, "kek.json");
    (VaultStore::open(dir, kek.clone(), &[]).unwrap(), kek)
}

/// A log of five lines: three written, reopened, two more.
fn five_lines(dir: &Path, store: &VaultStore) -> PathBuf {
    let path = dir.join(AUDIT_FILE);
    {
        let log = AuditLog::open(&path, store).unwrap();
        for i in 1..=3 {
            assert_eq!(log.append(&record(i, i % 2 == 0)).unwrap(), u64::from(i));
        }
    }
    let log = AuditLog::open(&path, store).unwrap();
    assert_eq!(log.head().lines, 3);
    assert_eq!(log.append(&record(4, true)).unwrap(), 4);
    assert_eq!(log.append(&record(5, false)).unwrap(), 5);
    path
}

fn broken_at<T: std::fmt::Debug>(result: zgvault_node::Result<T>) -> usize {
    match result {
        Err(Error::AuditChainBroken { line, .. }) => line,
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn appends_continue_the_chain_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kek) = store(dir.path());
    let path = five_lines(dir.path(), &store);
    let summary = verify_log(&path, std::slice::from_ref(&kek), None).unwrap();
    assert_eq!(summary.lines, 5);
    assert_eq!(summary.lines_by_key.get(kek.id()), Some(&5));
    assert_eq!(summary.vouched_by_later_lines, 0);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let all = lines(&path);
    assert!(all[0].contains(&format!("\"prev\":\"{}\"", "0".repeat(64))));
    assert!(all[1].contains("\"decision\":\"allowed\""));
    assert!(all[0].contains("\"code\":\"ACCESS_DENIED\""));
    // Each line names its KEK and ends with its MAC; readable JSON, no secret.
    for line in &all {
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(json["key"], kek.id(), "{line}");
        assert_eq!(json["mac"].as_str().unwrap().len(), 64, "{line}");
        assert!(line.ends_with("\"}"), "{line}");
        assert!(line.len() < MAX_AUDIT_LINE);
    }
    // The head survives a reopen, and is what the verifier reports.
    let head = AuditLog::open(&path, &store).unwrap().head();
    assert_eq!(head.lines, 5);
    assert_eq!(hex::encode(head.hash), summary.head);
    assert_eq!(AuditLog::open(&path, &store).unwrap().head(), head);
}

#[test]
fn fail_edited_line() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kek) = store(dir.path());
    let path = five_lines(dir.path(), &store);
    let mut all = lines(&path);
    all[1] = lines(&path)[1].replace(
        "\"allowed\",\"code\":null",
        "\"refused\",\"code\":\"RATE_LIMITED\"",
    );
    assert_ne!(all[1], lines(&path)[1]);
    write_lines(&path, &all);
    // The edited line itself is named: its MAC no longer matches.
    let err = verify_log(&path, &[kek], None).unwrap_err();
    assert!(
        matches!(err, Error::AuditChainBroken { line: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("changed"), "{err}");
    assert!(err.to_string().contains("vault audit new-log"), "{err}");
    assert_eq!(broken_at(AuditLog::open(&path, &store)), 2);
}

#[test]
fn fail_removed_line() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kek) = store(dir.path());
    let path = five_lines(dir.path(), &store);
    let mut all = lines(&path);
    all.remove(2);
    write_lines(&path, &all);
    let keks = std::slice::from_ref(&kek);
    assert_eq!(broken_at(verify_log(&path, keks, None)), 3);
    assert_eq!(broken_at(AuditLog::open(&path, &store)), 3);
    // Removing the first line is caught too.
    let mut all = lines(&path);
    all.remove(0);
    write_lines(&path, &all);
    assert_eq!(broken_at(verify_log(&path, keks, None)), 1);
}

#[test]
fn torn_last_line_is_reported_as_a_crash_and_a_new_log_starts_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kek) = store(dir.path());
    let path = five_lines(dir.path(), &store);
    let whole = fs::read(&path).unwrap();
    // A crash during the sixth append: half a line, no newline.
    let mut torn = whole.clone();
    torn.extend_from_slice(&whole[..whole.len() / 10]);
    fs::write(&path, &torn).unwrap();
    let err = verify_log(&path, std::slice::from_ref(&kek), None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::AuditTornTail {
                line: 6,
                valid_lines: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("crash"), "{err}");
    assert!(err.to_string().contains("vault audit new-log"), "{err}");
    assert!(matches!(
        AuditLog::open(&path, &store),
        Err(Error::AuditTornTail { .. })
    ));

    // The way out: a new log. The torn file is kept as it is, and the new log's first line
    // records its SHA-256; the vault continues on the new log.
    let (log, report) = AuditLog::start_new(&path, &store).unwrap();
    let kept = report.previous.clone().unwrap();
    assert_eq!(fs::read(&kept).unwrap(), torn);
    assert_eq!(report.previous_lines, 5);
    assert_eq!(report.anchored_lines, Some(5));
    assert_eq!(
        report.previous_sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&torn)).as_str())
    );
    assert!(report.previous_verdict.contains("incomplete"), "{report:?}");
    assert_eq!(log.head().lines, 1);
    let first = &lines(&path)[0];
    assert!(first.contains("\"action\":\"new_log\""), "{first}");
    assert!(
        first.contains(report.previous_sha256.as_deref().unwrap()),
        "{first}"
    );
    assert_eq!(log.append(&record(1, true)).unwrap(), 2);
    drop(log);
    assert_eq!(AuditLog::open(&path, &store).unwrap().head().lines, 2);
    assert_eq!(verify_log(&path, &[kek], None).unwrap().lines, 2);

    // A huge last "line" is bounded, not read into memory whole.
    let mut huge = whole;
    huge.extend(std::iter::repeat_n(b'x', 1 << 20));
    huge.push(b'\n');
    fs::write(&path, &huge).unwrap();
    assert_eq!(broken_at(verify_log(&path, &[], None)), 6);
}

#[test]
fn fail_refusal_code_that_could_carry_anything() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store(dir.path());
    let log = AuditLog::open(&dir.path().join(AUDIT_FILE), &store).unwrap();
    for code in ["", "lower", "HAS SPACE", &"A".repeat(100)] {
        let mut r = record(1, false);
        r.decision = AuditDecision::Refused { code: code.into() };
        assert!(log.append(&r).is_err(), "{code:?}");
    }
    assert_eq!(log.head().lines, 0);
}

/// A truncated tail cannot be seen in the file itself (every remaining line is intact and
/// MACed), only against a head kept elsewhere: the anchor in the vault's store.
#[test]
fn fail_log_cut_at_a_line_boundary_is_caught_by_the_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let (store, kek) = store(dir.path());
    let full_head = {
        five_lines(dir.path(), &store);
        AuditLog::open(&path, &store).unwrap().head()
    };
    // The anchor survives closing and reopening the store.
    drop(store);
    let store = VaultStore::open(dir.path(), kek.clone(), &[]).unwrap();
    assert_eq!(store.audit_anchor().unwrap(), Some(full_head));

    let all = lines(&path);
    write_lines(&path, &all[..3]);
    // Without the anchor the cut log verifies: nothing in the file shows the cut.
    let keks = std::slice::from_ref(&kek);
    assert_eq!(verify_log(&path, keks, None).unwrap().lines, 3);
    // Against the anchor it is refused, at start-up and by the verifier.
    let err = AuditLog::open(&path, &store).unwrap_err();
    assert!(
        matches!(
            err,
            Error::AuditCut {
                lines: 3,
                anchored: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("vault audit new-log"), "{err}");
    assert!(matches!(
        verify_log(&path, keks, Some(full_head)),
        Err(Error::AuditCut { .. })
    ));
    // A deleted log is refused the same way, and not recreated empty.
    fs::remove_file(&path).unwrap();
    assert!(matches!(
        AuditLog::open(&path, &store),
        Err(Error::AuditCut {
            lines: 0,
            anchored: 5,
            ..
        })
    ));
    assert!(!path.exists());
    // So is a log replaced by another intact log under the same KEK, as long as this one.
    let other = tempfile::tempdir().unwrap();
    let other_path = other.path().join(AUDIT_FILE);
    {
        let other_store = VaultStore::open(other.path(), kek.clone(), &[]).unwrap();
        let other_log = AuditLog::open(&other_path, &other_store).unwrap();
        for i in 11..=15 {
            other_log.append(&record(i, true)).unwrap();
        }
    }
    fs::copy(&other_path, &path).unwrap();
    assert_eq!(broken_at(AuditLog::open(&path, &store)), 5);

    // An anchor behind the log (the non-durable updates lost in a crash) is no alarm.
    write_lines(&path, &all);
    let behind = AuditHead {
        lines: 3,
        hash: Sha256::digest(all[2].as_bytes()).into(),
    };
    store.set_audit_anchor(Some(behind), true).unwrap();
    assert_eq!(AuditLog::open(&path, &store).unwrap().head(), full_head);
}

/// After a rotation the log is MACed under the new KEK; the old lines stay verifiable with
/// both KEKs configured, and once the old KEK is retired the first line under the new one
/// vouches for them through the chain. An edit of an old line is still caught.
#[test]
fn rotation_keeps_the_whole_history_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let (a, b) = (kek(dir.path(), "kek-a.json"), kek(dir.path(), "kek-b.json"));
    {
        let store = VaultStore::open(dir.path(), a.clone(), &[]).unwrap();
        let log = AuditLog::open(&path, &store).unwrap();
        for i in 1..=3 {
            log.append(&record(i, i % 2 == 0)).unwrap();
        }
        store.rotate(b.clone()).unwrap();
        for i in 4..=6 {
            log.append(&record(i, i % 2 == 0)).unwrap();
        }
    }
    let both = verify_log(&path, &[a.clone(), b.clone()], None).unwrap();
    assert_eq!(both.lines, 6);
    assert_eq!(both.lines_by_key.get(a.id()), Some(&3));
    assert_eq!(both.lines_by_key.get(b.id()), Some(&3));
    assert_eq!(both.vouched_by_later_lines, 0);
    // The old KEK retired: the vault starts, the verifier vouches for lines 1-3 through 4.
    let new_only = verify_log(&path, std::slice::from_ref(&b), None).unwrap();
    assert_eq!(new_only.vouched_by_later_lines, 3);
    let store = VaultStore::open(dir.path(), b.clone(), &[]).unwrap();
    assert_eq!(AuditLog::open(&path, &store).unwrap().head().lines, 6);
    drop(store);
    // Only the old KEK: the lines after 3 cannot be checked, and the verifier says so.
    let err = verify_log(&path, std::slice::from_ref(&a), None).unwrap_err();
    assert!(
        matches!(&err, Error::AuditKeyNotConfigured { line: 4, key, .. } if key == b.id()),
        "{err}"
    );
    assert!(err.to_string().contains("[[vault.previous]]"), "{err}");

    // A release under the old KEK turned into a refusal, the chain recomputed.
    let original = lines(&path);
    let mut all = original.clone();
    all[1] = all[1].replace(
        "\"decision\":\"allowed\",\"code\":null",
        "\"decision\":\"refused\",\"code\":\"ACCESS_DENIED\"",
    );
    rechain(&path, all);
    assert_eq!(
        broken_at(verify_log(&path, &[a.clone(), b.clone()], None)),
        2
    );
    let err = verify_log(&path, std::slice::from_ref(&b), None).unwrap_err();
    assert!(
        matches!(err, Error::AuditChainBroken { line: 4, .. }),
        "with the old KEK retired the first checkable line is named: {err}"
    );
    assert!(err.to_string().contains("not configured"), "{err}");

    // The tail relabelled with a KEK nobody has, to skip its check: refused too.
    let mut all = original;
    all[5] = all[5].replace(b.id(), "file:0000000000000000");
    rechain(&path, all);
    assert!(matches!(
        verify_log(&path, &[a, b], None),
        Err(Error::AuditKeyNotConfigured { line: 6, .. })
    ));
}

/// Logs written before lines were MACed (with and without `action`) are refused, saying
/// what to do; a new log keeps them and seals their SHA-256 into its first, keyed line.
#[test]
fn fail_log_without_macs_is_refused_until_a_new_log_is_started() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let first = format!(
        "{{\"seq\":1,\"time_ms\":1,\"requester\":\"{}\",\"file_id\":\"{}\",\"decision\":\"released\",\"code\":null,\"request_hash\":\"{}\",\"prev\":\"{}\"}}",
        Address::repeat_byte(1),
        B256::repeat_byte(2),
        B256::repeat_byte(3),
        "0".repeat(64)
    );
    let second = format!(
        "{{\"seq\":2,\"time_ms\":2,\"action\":\"deposit\",\"requester\":\"{}\",\"file_id\":\"{}\",\"decision\":\"allowed\",\"code\":null,\"request_hash\":\"{}\",\"prev\":\"{}\"}}",
        Address::repeat_byte(1),
        B256::repeat_byte(2),
        B256::repeat_byte(4),
        hex::encode(Sha256::digest(first.as_bytes()))
    );
    let old = format!("{first}\n{second}\n");
    fs::write(&path, &old).unwrap();
    let old_head = hex::encode(Sha256::digest(second.as_bytes()));

    let (store, kek) = store(dir.path());
    let err = AuditLog::open(&path, &store).unwrap_err();
    assert!(
        matches!(&err, Error::AuditUnkeyed { lines: 2, head, .. } if *head == old_head),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&old_head) && text.contains("vault audit new-log"),
        "{text}"
    );
    assert!(matches!(
        verify_log(&path, std::slice::from_ref(&kek), None),
        Err(Error::AuditUnkeyed { .. })
    ));

    let (log, report) = AuditLog::start_new(&path, &store).unwrap();
    assert_eq!(fs::read_to_string(report.previous.unwrap()).unwrap(), old);
    assert_eq!(report.previous_head, old_head);
    assert_eq!(report.previous_lines, 2);
    assert!(
        report.previous_verdict.contains("no MACs"),
        "{}",
        report.previous_verdict
    );
    let sealed = hex::encode(Sha256::digest(old.as_bytes()));
    assert!(lines(&path)[0].contains(&sealed), "{}", lines(&path)[0]);
    log.append(&record(3, false)).unwrap();
    drop(log);
    let summary = verify_log(&path, &[kek], store.audit_anchor().unwrap()).unwrap();
    assert_eq!(summary.lines, 2);
}
