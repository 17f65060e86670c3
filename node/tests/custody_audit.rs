//! The vault's audit log: append, reopen and continue, and every kind of damage detected.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use alloy_primitives::{Address, B256};
use zgvault_node::Error;
use zgvault_node::custody::{
    AUDIT_FILE, AuditAction, AuditDecision, AuditLog, AuditRecord, verify_chain,
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

/// A log of five lines: three written, reopened, two more.
fn five_lines(dir: &Path) -> std::path::PathBuf {
    let path = dir.join(AUDIT_FILE);
    {
        let log = AuditLog::open(&path).unwrap();
        for i in 1..=3 {
            assert_eq!(log.append(&record(i, i % 2 == 0)).unwrap(), u64::from(i));
        }
    }
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.head().0, 3);
    assert_eq!(log.append(&record(4, true)).unwrap(), 4);
    assert_eq!(log.append(&record(5, false)).unwrap(), 5);
    path
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

#[test]
fn appends_continue_the_chain_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = five_lines(dir.path());
    assert_eq!(verify_chain(&path).unwrap(), 5);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let all = lines(&path);
    assert!(all[0].contains(&format!("\"prev\":\"{}\"", "0".repeat(64))));
    assert!(all[1].contains("\"decision\":\"allowed\""));
    assert!(all[0].contains("\"code\":\"ACCESS_DENIED\""));
    assert!(
        all.iter()
            .all(|l| l.len() < zgvault_node::custody::MAX_AUDIT_LINE)
    );
    // The head survives a reopen.
    let head = AuditLog::open(&path).unwrap().head();
    assert_eq!(head.0, 5);
    assert_eq!(AuditLog::open(&path).unwrap().head(), head);
}

#[test]
fn fail_edited_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = five_lines(dir.path());
    let mut all = lines(&path);
    all[1] = lines(&path)[1].replace(
        "\"allowed\",\"code\":null",
        "\"refused\",\"code\":\"RATE_LIMITED\"",
    );
    assert_ne!(all[1], lines(&path)[1]);
    write_lines(&path, &all);
    let err = verify_chain(&path).unwrap_err();
    assert!(
        matches!(err, Error::AuditChainBroken { line: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("edited"), "{err}");
    assert!(matches!(
        AuditLog::open(&path),
        Err(Error::AuditChainBroken { line: 3, .. })
    ));
}

#[test]
fn fail_removed_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = five_lines(dir.path());
    let mut all = lines(&path);
    all.remove(2);
    write_lines(&path, &all);
    let err = verify_chain(&path).unwrap_err();
    assert!(
        matches!(err, Error::AuditChainBroken { line: 3, .. }),
        "{err}"
    );
    // Removing the first line is caught too.
    let mut all = lines(&path);
    all.remove(0);
    write_lines(&path, &all);
    assert!(matches!(
        verify_chain(&path),
        Err(Error::AuditChainBroken { line: 1, .. })
    ));
}

#[test]
fn torn_last_line_is_reported_as_a_crash_not_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let path = five_lines(dir.path());
    let whole = fs::read(&path).unwrap();
    // A crash during the sixth append: half a line, no newline.
    let mut torn = whole.clone();
    torn.extend_from_slice(&whole[..whole.len() / 10]);
    fs::write(&path, &torn).unwrap();
    let err = verify_chain(&path).unwrap_err();
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
    assert!(matches!(
        AuditLog::open(&path),
        Err(Error::AuditTornTail { .. })
    ));
    // A huge last "line" is bounded, not read into memory whole.
    let mut huge = whole;
    huge.extend(std::iter::repeat_n(b'x', 1 << 20));
    huge.push(b'\n');
    fs::write(&path, &huge).unwrap();
    assert!(matches!(
        verify_chain(&path),
        Err(Error::AuditChainBroken { line: 6, .. })
    ));
}

#[test]
fn fail_refusal_code_that_could_carry_anything() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(&dir.path().join(AUDIT_FILE)).unwrap();
    for code in ["", "lower", "HAS SPACE", &"A".repeat(100)] {
        let mut r = record(1, false);
        r.decision = AuditDecision::Refused { code: code.into() };
        assert!(log.append(&r).is_err(), "{code:?}");
    }
    assert_eq!(log.head().0, 0);
}

#[test]
fn lines_written_before_actions_existed_still_verify_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let old = format!(
        "{{\"seq\":1,\"time_ms\":1,\"requester\":\"{}\",\"file_id\":\"{}\",\"decision\":\"released\",\"code\":null,\"request_hash\":\"{}\",\"prev\":\"{}\"}}\n",
        Address::repeat_byte(1),
        B256::repeat_byte(2),
        B256::repeat_byte(3),
        "0".repeat(64)
    );
    fs::write(&path, old).unwrap();
    assert_eq!(verify_chain(&path).unwrap(), 1);
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.append(&record(3, false)).unwrap(), 2);
    assert_eq!(verify_chain(&path).unwrap(), 2);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains("\"action\":\"rotate\""),
        "{text}"
    );
}
