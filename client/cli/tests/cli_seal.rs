//! `zgvault seal` / `zgvault open` run as a user would, on real files.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn zgvault(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zgvault"))
        .args(args)
        .output()
        .unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sealed_fixture(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let plain = dir.join("people.csv");
    let bytes: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i},name{i}\n").into_bytes())
        .collect();
    std::fs::write(&plain, &bytes).unwrap();
    let sealed = dir.join("people.zgv");
    let out = zgvault(&["seal", p(&plain), "-o", p(&sealed), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    (sealed, dir.join("people.zgv.key"), bytes)
}

#[test]
fn seal_then_open_round_trips_with_a_private_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("people.csv");
    std::fs::write(&plain, b"id,name\n1,ada\n").unwrap();
    let sealed = dir.path().join("people.zgv");
    let out = zgvault(&["seal", p(&plain), "-o", p(&sealed), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = dir.path().join("people.zgv.key");
    assert_eq!(v["keyFile"].as_str().unwrap(), p(&key));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(v["plaintextSize"], 14);

    // The printed root is the 0G root of the sealed file, as `zgvault root` computes it.
    let root = zgvault(&["root", p(&sealed), "--json"]);
    let r: Value = serde_json::from_slice(&root.stdout).unwrap();
    assert_eq!(v["rootHash"], r["rootHash"]);
    assert_eq!(v["sealedSize"], r["size"]);

    let back = dir.path().join("back.csv");
    let out = zgvault(&[
        "open",
        p(&sealed),
        "-o",
        p(&back),
        "--key-file",
        p(&key),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["name"], "people.csv");
    assert_eq!(m["mediaType"], "text/csv");
    assert_eq!(std::fs::read(&back).unwrap(), b"id,name\n1,ada\n");
}

#[test]
fn seal_with_a_given_key_and_aes_suite() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key, bytes) = sealed_fixture(dir.path());
    let plain = dir.path().join("people.csv");
    let sealed = dir.path().join("aes.zgv");
    let out = zgvault(&[
        "seal",
        p(&plain),
        "-o",
        p(&sealed),
        "--key-file",
        p(&key),
        "--suite",
        "aes256gcm",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let back = dir.path().join("aes.csv");
    let out = zgvault(&["open", p(&sealed), "-o", p(&back), "--key-file", p(&key)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&back).unwrap() == bytes);
}

#[test]
fn fail_wrong_key_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (sealed, _, _) = sealed_fixture(dir.path());
    let other = dir.path().join("other.key");
    std::fs::write(&other, format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let back = dir.path().join("back.csv");
    let out = zgvault(&["open", p(&sealed), "-o", p(&back), "--key-file", p(&other)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).to_lowercase().contains("key"),
        "{}",
        stderr(&out)
    );
    assert!(!back.exists());
}

#[test]
fn fail_tampered_or_truncated_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (sealed, key, _) = sealed_fixture(dir.path());
    let mut bytes = std::fs::read(&sealed).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 0x40;
    let tampered = dir.path().join("tampered.zgv");
    std::fs::write(&tampered, &bytes).unwrap();
    let truncated = dir.path().join("truncated.zgv");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    for bad in [&tampered, &truncated] {
        let back = dir.path().join("back.csv");
        let out = zgvault(&["open", p(bad), "-o", p(&back), "--key-file", p(&key)]);
        assert!(!out.status.success(), "{} opened", bad.display());
        assert!(!back.exists(), "partial plaintext left behind");
    }
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn fail_readable_key_existing_output_and_empty_input() {
    let dir = tempfile::tempdir().unwrap();
    let (sealed, key, _) = sealed_fixture(dir.path());
    let back = dir.path().join("back.csv");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = zgvault(&["open", p(&sealed), "-o", p(&back), "--key-file", p(&key)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = zgvault(&["seal", p(&dir.path().join("people.csv")), "-o", p(&sealed)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));

    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let out = zgvault(&["seal", p(&empty), "-o", p(&dir.path().join("e.zgv"))]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    assert!(
        !dir.path().join("e.zgv.key").exists(),
        "key of a failed seal left behind"
    );
}
