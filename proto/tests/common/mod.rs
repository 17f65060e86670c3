//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::Write;

use zgvault_proto::{
    Error, FileKey, Metadata, SealWriter, Suite,
    seal::{CHUNK_SIZE, HEADER_LEN, SALT_LEN, SEALED_CHUNK_SIZE},
};

pub const C: usize = CHUNK_SIZE;

/// The key of the test vectors: bytes 0x00, 0x01, ..., 0x1f.
pub fn vector_key() -> FileKey {
    let bytes: Vec<u8> = (0u8..32).collect();
    FileKey::from_slice(&bytes).unwrap()
}

/// A different key, for wrong-key cases.
pub fn other_key() -> FileKey {
    FileKey::from_slice(&[0xee; 32]).unwrap()
}

/// The salt of the test vectors: bytes 0xa0, 0xa1, ..., 0xbf.
pub fn vector_salt() -> [u8; SALT_LEN] {
    std::array::from_fn(|i| 0xa0 + i as u8)
}

/// Deterministic plaintext: `byte[i] = i mod 251` (251 is prime, so chunks differ).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Seals `plain` with a fixed salt.
pub fn seal_fixed(
    key: &FileKey,
    suite: Suite,
    salt: &[u8; SALT_LEN],
    name: &str,
    media_type: &str,
    plain: &[u8],
) -> Vec<u8> {
    let meta = Metadata::new(name, media_type, plain.len() as u64);
    let mut w = SealWriter::with_fixed_salt_for_tests(Vec::new(), key, suite, &meta, salt).unwrap();
    w.write_all(plain).unwrap();
    w.finish().unwrap()
}

/// Seals `plain` with a random salt.
pub fn seal_random(key: &FileKey, suite: Suite, plain: &[u8]) -> Vec<u8> {
    zgvault_proto::seal_bytes(key, suite, "test.bin", "application/octet-stream", plain).unwrap()
}

/// Byte range of sealed chunk `i` (full chunks; the last chunk may be shorter).
pub fn chunk_range(sealed_len: usize, i: usize) -> std::ops::Range<usize> {
    let start = HEADER_LEN + i * SEALED_CHUNK_SIZE;
    start..(start + SEALED_CHUNK_SIZE).min(sealed_len)
}

/// Opens and returns the error, failing the test if it opened.
pub fn open_err(key: &FileKey, sealed: &[u8]) -> Error {
    match zgvault_proto::open_bytes(key, sealed) {
        Ok((meta, _)) => panic!("tampered file opened: {meta:?}"),
        Err(e) => e,
    }
}

/// The variant name of an error (`Truncated { .. }` -> `"Truncated"`).
pub fn variant(err: &Error) -> String {
    format!("{err:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// SHA-256 as hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
