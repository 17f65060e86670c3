//! Known-answer vectors for the sealed-file format: `tests/vectors/seal.json`.
//!
//! The file is made by `cargo run -p zgvault-proto --example seal_vectors` and checked in;
//! `seal_vectors_match` fails on any change to the format. To change the format on purpose,
//! bump the version, run that command, and review the diff.

// Helpers outside `#[test]` fns unwrap too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/seal_vectors.rs"]
mod seal_vectors;

use common::*;
use seal_vectors::*;
use zgvault_proto::{Suite, open_bytes, seal::HEADER_LEN};

#[test]
fn seal_vectors_match() {
    let file = load();
    assert_eq!(file.key_hex, hex::encode(vector_key().as_bytes()));
    assert_eq!(file.salt_hex, hex::encode(vector_salt()));
    assert_eq!(
        file.vectors.len(),
        2 * SIZES.len(),
        "every size for both suites"
    );
    let key = vector_key();
    for v in &file.vectors {
        let suite = suite_by_name(&v.suite);
        let plain = pattern(v.plaintext_len);
        let sealed = seal_fixed(
            &key,
            suite,
            &vector_salt(),
            &v.file_name,
            &v.media_type,
            &plain,
        );
        assert_eq!(sealed.len(), v.sealed_len, "{}", v.name);
        assert_eq!(
            hex::encode(&sealed[..HEADER_LEN]),
            v.header_hex,
            "{}: header",
            v.name
        );
        assert_eq!(sha256_hex(&sealed), v.sealed_sha256, "{}: sha256", v.name);
        if let Some(hex_ct) = &v.sealed_hex {
            assert_eq!(&hex::encode(&sealed), hex_ct, "{}", v.name);
            // The stored bytes open on their own, independent of our sealing code.
            let (meta, out) = open_bytes(&key, &hex::decode(hex_ct).unwrap()).unwrap();
            assert_eq!((meta.size as usize, out), (v.plaintext_len, plain.clone()));
        }
        let (meta, out) = open_bytes(&key, &sealed).unwrap();
        assert_eq!(out, plain, "{}", v.name);
        assert_eq!(meta.name, v.file_name);
    }
    for name in [
        "empty",
        "one_byte",
        "chunk",
        "chunk_plus_one",
        "three_chunks",
    ] {
        for suite in Suite::ALL {
            let full = format!("{}_{name}", suite.name());
            assert!(
                file.vectors.iter().any(|v| v.name == full),
                "missing vector {full}"
            );
        }
    }
}

#[test]
fn negative_vectors_fail_as_recorded() {
    let file = load();
    assert!(file.negative.len() >= 15);
    for neg in &file.negative {
        assert!(neg.name.starts_with("fail_"), "{}", neg.name);
        let err = run_negative(neg, &file.vectors);
        assert_eq!(variant(&err), neg.error, "{}", neg.name);
        assert_eq!(format!("{err:?}"), neg.error_debug, "{}", neg.name);
    }
    // The list in this file and the checked-in list agree, so no case silently disappears.
    let names: Vec<_> = negatives().into_iter().map(|n| n.name).collect();
    let stored: Vec<_> = file.negative.iter().map(|n| n.name.clone()).collect();
    assert_eq!(names, stored);
}
