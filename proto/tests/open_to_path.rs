//! `open_to_path` is all or nothing: the destination only ever holds verified plaintext.

// Helpers outside `#[test]` fns unwrap too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use common::*;
use zgvault_proto::{Error, Metadata, Suite, open_to_path, seal::HEADER_LEN};

/// Decides whether an error is the expected one.
type ErrorCheck = dyn Fn(&Error) -> bool;

/// Names of everything in `dir`.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn success_writes_the_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let key = vector_key();
    let plain = pattern(2 * C + 7);
    let sealed = seal_random(&key, Suite::Aes256Gcm, &plain);
    let dest = dir.path().join("out.bin");
    let meta = open_to_path(&key, &sealed[..], &dest).unwrap();
    assert_eq!(
        meta,
        Metadata::new("test.bin", "application/octet-stream", plain.len() as u64)
    );
    assert_eq!(fs::read(&dest).unwrap(), plain);
    assert_eq!(
        listing(dir.path()),
        ["out.bin"],
        "no temporary file is left behind"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "plaintext is created private");
    }
}

#[test]
fn failures_write_nothing() {
    let key = vector_key();
    let plain = pattern(3 * C);
    let sealed = seal_random(&key, Suite::default(), &plain);
    let mut flipped_last = sealed.clone();
    *flipped_last.last_mut().unwrap() ^= 1;
    let mut appended = sealed.clone();
    appended.push(0);
    let cases: Vec<(&str, Vec<u8>, &ErrorCheck)> = vec![
        ("truncated", sealed[..sealed.len() - 1].to_vec(), &|e| {
            matches!(e, Error::Truncated { chunk: 2, .. })
        }),
        ("last chunk flipped", flipped_last, &|e| {
            matches!(e, Error::ChunkAuthFailed { index: 2 })
        }),
        ("appended", appended, &|e| {
            matches!(e, Error::TrailingData { .. })
        }),
        ("header only", sealed[..HEADER_LEN].to_vec(), &|e| {
            matches!(e, Error::Truncated { .. })
        }),
        ("empty", Vec::new(), &|e| {
            matches!(e, Error::TruncatedHeader { got: 0, .. })
        }),
    ];
    for (what, data, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        let err = open_to_path(&key, &data[..], &dest).unwrap_err();
        assert!(expected(&err), "{what}: {err:?}");
        assert!(!dest.exists(), "{what}: destination must not exist");
        assert!(
            listing(dir.path()).is_empty(),
            "{what}: temp file left: {:?}",
            listing(dir.path())
        );
    }
    // Wrong key.
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.bin");
    assert!(matches!(
        open_to_path(&other_key(), &sealed[..], &dest),
        Err(Error::WrongKey)
    ));
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn an_existing_destination_survives_a_failure_and_is_replaced_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("report.csv");
    fs::write(&dest, b"old content").unwrap();
    let key = vector_key();
    let sealed = seal_random(&key, Suite::default(), &pattern(C + 1));
    let err = open_to_path(&key, &sealed[..sealed.len() - 3], &dest).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }));
    assert_eq!(fs::read(&dest).unwrap(), b"old content");
    assert_eq!(listing(dir.path()), ["report.csv"]);

    open_to_path(&key, &sealed[..], &dest).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), pattern(C + 1));
}

#[test]
fn bad_destinations_are_reported_with_the_path() {
    let key = vector_key();
    let sealed = seal_random(&key, Suite::default(), b"hi");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/out.bin");
    let err = open_to_path(&key, &sealed[..], &missing).unwrap_err();
    assert!(
        matches!(err, Error::PathIo { op: "create", ref path, .. } if path.starts_with(dir.path())),
        "{err:?}"
    );
    assert!(err.to_string().contains("no/such/dir"), "{err}");
    let err = open_to_path(&key, &sealed[..], std::path::Path::new("/")).unwrap_err();
    assert!(matches!(err, Error::PathIo { .. }), "{err:?}");
}
