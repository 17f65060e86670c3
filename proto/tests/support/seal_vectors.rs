//! The sealed-format known-answer vectors: their file layout, how each is made and each
//! negative case applied. Shared by the check (`tests/vectors.rs`) and the explicit
//! regenerator (`examples/seal_vectors.rs`), so both use one definition.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::PathBuf;

use crate::common::*;
use serde::{Deserialize, Serialize};
use zgvault_proto::{
    FileKey, Suite,
    seal::{HEADER_LEN, KEY_CHECK_OFFSET, SEALED_CHUNK_SIZE, SUITE_OFFSET, VERSION_OFFSET},
};

/// Above this sealed length the ciphertext is stored as sha256 + length only.
pub const MAX_HEX_LEN: usize = 1024;

#[derive(Serialize, Deserialize)]
pub struct VectorFile {
    pub description: String,
    pub key_hex: String,
    pub salt_hex: String,
    pub plaintext_rule: String,
    pub vectors: Vec<Vector>,
    pub negative: Vec<Negative>,
}

#[derive(Serialize, Deserialize)]
pub struct Vector {
    pub name: String,
    pub suite: String,
    pub file_name: String,
    pub media_type: String,
    pub plaintext_len: usize,
    pub sealed_len: usize,
    pub header_hex: String,
    pub sealed_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_hex: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct Negative {
    pub name: String,
    /// The vector the mutation is applied to.
    pub base: String,
    pub mutation: Mutation,
    /// Open with this key instead of the vector key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hex: Option<String>,
    /// Variant name of the expected error.
    pub error: String,
    /// Full `Debug` form of the expected error (pins the structured fields too).
    pub error_debug: String,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mutation {
    /// No change (used with a different key).
    None,
    /// Keep only the first `len` bytes.
    Truncate { len: usize },
    /// XOR `mask` into the byte at `offset`.
    Xor { offset: usize, mask: u8 },
    /// Append bytes.
    Append { hex: String },
    /// Swap sealed chunks `a` and `b` (both full).
    SwapChunks { a: usize, b: usize },
    /// Replace the body with the body of another vector sealed under the same key but with
    /// a different salt (second salt: every vector-salt byte XOR 0xff).
    BodyFromOtherSalt,
}

pub const SIZES: [(&str, usize); 7] = [
    ("empty", 0),
    ("one_byte", 1),
    ("short", 100),
    ("chunk", C),
    ("chunk_plus_one", C + 1),
    ("three_chunks", 3 * C),
    ("three_chunks_plus", 3 * C + 17),
];

pub fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/seal.json")
}

pub fn suite_by_name(name: &str) -> Suite {
    Suite::ALL.into_iter().find(|s| s.name() == name).unwrap()
}

pub fn seal_vector(suite: Suite, size: usize, salt: &[u8; 32]) -> Vec<u8> {
    seal_fixed(
        &vector_key(),
        suite,
        salt,
        "data.bin",
        "application/octet-stream",
        &pattern(size),
    )
}

pub fn other_salt() -> [u8; 32] {
    vector_salt().map(|b| b ^ 0xff)
}

pub fn apply(sealed: &[u8], mutation: &Mutation, suite: Suite, size: usize) -> Vec<u8> {
    let mut v = sealed.to_vec();
    match mutation {
        Mutation::None => {}
        Mutation::Truncate { len } => v.truncate(*len),
        Mutation::Xor { offset, mask } => v[*offset] ^= mask,
        Mutation::Append { hex } => v.extend_from_slice(&hex::decode(hex).unwrap()),
        Mutation::SwapChunks { a, b } => {
            let (ra, rb) = (chunk_range(v.len(), *a), chunk_range(v.len(), *b));
            assert_eq!(ra.len(), SEALED_CHUNK_SIZE);
            assert_eq!(rb.len(), SEALED_CHUNK_SIZE);
            let ca = sealed[ra.clone()].to_vec();
            v[ra].copy_from_slice(&sealed[rb.clone()]);
            v[rb].copy_from_slice(&ca);
        }
        Mutation::BodyFromOtherSalt => {
            let other = seal_vector(suite, size, &other_salt());
            v.truncate(HEADER_LEN);
            v.extend_from_slice(&other[HEADER_LEN..]);
        }
    }
    v
}

pub fn negatives() -> Vec<Negative> {
    let x = "xchacha20poly1305";
    let a = "aes256gcm";
    let n = |name: &str, base: String, mutation: Mutation| Negative {
        name: name.into(),
        base,
        mutation,
        key_hex: None,
        error: String::new(),
        error_debug: String::new(),
    };
    let three = |s: &str| format!("{s}_three_chunks");
    let plus = |s: &str| format!("{s}_chunk_plus_one");
    let boundary = HEADER_LEN + SEALED_CHUNK_SIZE;
    let mut list = vec![
        n(
            "fail_truncated_header",
            plus(x),
            Mutation::Truncate {
                len: HEADER_LEN - 1,
            },
        ),
        n(
            "fail_header_only",
            plus(x),
            Mutation::Truncate { len: HEADER_LEN },
        ),
        n(
            "fail_truncated_at_chunk_boundary",
            plus(x),
            Mutation::Truncate { len: boundary },
        ),
        n(
            "fail_truncated_mid_chunk",
            plus(a),
            Mutation::Truncate { len: boundary + 5 },
        ),
        n(
            "fail_truncated_whole_chunk_file",
            three(x),
            Mutation::Truncate {
                len: boundary + SEALED_CHUNK_SIZE,
            },
        ),
        n(
            "fail_appended_byte",
            plus(x),
            Mutation::Append { hex: "00".into() },
        ),
        n(
            "fail_appended_byte_aes",
            plus(a),
            Mutation::Append { hex: "ff".into() },
        ),
        n(
            "fail_chunks_swapped",
            three(x),
            Mutation::SwapChunks { a: 0, b: 1 },
        ),
        n(
            "fail_chunks_swapped_aes",
            three(a),
            Mutation::SwapChunks { a: 1, b: 2 },
        ),
        n(
            "fail_body_from_other_file",
            three(x),
            Mutation::BodyFromOtherSalt,
        ),
        n(
            "fail_body_bit_flip",
            plus(x),
            Mutation::Xor {
                offset: boundary + 1,
                mask: 0x80,
            },
        ),
        n(
            "fail_tag_bit_flip",
            plus(a),
            Mutation::Xor {
                offset: boundary - 1,
                mask: 0x01,
            },
        ),
        n(
            "fail_magic",
            format!("{x}_empty"),
            Mutation::Xor {
                offset: 0,
                mask: 0x20,
            },
        ),
        n(
            "fail_unknown_version",
            format!("{x}_one_byte"),
            Mutation::Xor {
                offset: VERSION_OFFSET,
                mask: 0x04,
            },
        ),
        n(
            "fail_retired_format_1",
            format!("{x}_one_byte"),
            Mutation::Xor {
                offset: VERSION_OFFSET,
                mask: 0x03,
            },
        ),
        n(
            "fail_unknown_suite",
            format!("{x}_one_byte"),
            Mutation::Xor {
                offset: SUITE_OFFSET,
                mask: 0x04,
            },
        ),
        n(
            "fail_suite_swapped",
            format!("{x}_short"),
            Mutation::Xor {
                offset: SUITE_OFFSET,
                mask: 0x03,
            },
        ),
        n(
            "fail_salt_bit_flip",
            format!("{x}_short"),
            Mutation::Xor {
                offset: 20,
                mask: 0x10,
            },
        ),
        n(
            "fail_metadata_bit_flip",
            format!("{a}_short"),
            Mutation::Xor {
                offset: 100,
                mask: 0x01,
            },
        ),
        n(
            "fail_key_check_bit_flip",
            format!("{x}_short"),
            Mutation::Xor {
                offset: KEY_CHECK_OFFSET,
                mask: 0x01,
            },
        ),
    ];
    let mut wrong = n("fail_wrong_key", format!("{x}_short"), Mutation::None);
    wrong.key_hex = Some(hex::encode([0xee; 32]));
    list.push(wrong);
    let mut wrong = n("fail_wrong_key_aes", format!("{a}_short"), Mutation::None);
    wrong.key_hex = Some(hex::encode([0xee; 32]));
    list.push(wrong);
    list
}

/// Runs a negative case and returns the error it produces.
pub fn run_negative(neg: &Negative, bases: &[Vector]) -> zgvault_proto::Error {
    let base = bases
        .iter()
        .find(|v| v.name == neg.base)
        .expect("unknown base vector");
    let suite = suite_by_name(&base.suite);
    let sealed = seal_vector(suite, base.plaintext_len, &vector_salt());
    let mutated = apply(&sealed, &neg.mutation, suite, base.plaintext_len);
    let key = match &neg.key_hex {
        Some(k) => FileKey::from_hex(k).unwrap(),
        None => vector_key(),
    };
    open_err(&key, &mutated)
}

/// Writes `tests/vectors/seal.json` anew. Only `examples/seal_vectors.rs` calls it, so no
/// test run (not even `--include-ignored`) can rewrite the checked-in vectors.
pub fn regenerate() {
    let mut vectors = Vec::new();
    for suite in Suite::ALL {
        for (label, size) in SIZES {
            let sealed = seal_vector(suite, size, &vector_salt());
            vectors.push(Vector {
                name: format!("{}_{label}", suite.name()),
                suite: suite.name().into(),
                file_name: "data.bin".into(),
                media_type: "application/octet-stream".into(),
                plaintext_len: size,
                sealed_len: sealed.len(),
                header_hex: hex::encode(&sealed[..HEADER_LEN]),
                sealed_sha256: sha256_hex(&sealed),
                sealed_hex: (sealed.len() <= MAX_HEX_LEN).then(|| hex::encode(&sealed)),
            });
        }
    }
    let mut negative = negatives();
    for neg in &mut negative {
        let err = run_negative(neg, &vectors);
        neg.error = variant(&err);
        neg.error_debug = format!("{err:?}");
    }
    let file = VectorFile {
        description: "zgvault sealed-file format v2 known-answer vectors. Each vector seals \
                      `plaintext_len` bytes under key_hex with salt_hex (fixed for testing only), \
                      name `file_name` and media type `media_type`. Negative vectors apply \
                      `mutation` to the sealed bytes of `base` and must fail with `error`."
            .into(),
        key_hex: hex::encode(vector_key().as_bytes()),
        salt_hex: hex::encode(vector_salt()),
        plaintext_rule: "plaintext[i] = i mod 251".into(),
        vectors,
        negative,
    };
    let json = serde_json::to_string_pretty(&file).unwrap();
    std::fs::write(vectors_path(), json + "\n").unwrap();
}

pub fn load() -> VectorFile {
    let text = std::fs::read_to_string(vectors_path()).expect("tests/vectors/seal.json is missing");
    serde_json::from_str(&text).unwrap()
}
