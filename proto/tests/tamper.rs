//! Every way a sealed file can be damaged or attacked, each with the error it must produce.

// Helpers outside `#[test]` fns unwrap too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;

use common::*;
use zgvault_proto::{
    Error, OpenReader, Suite,
    seal::{
        CHUNK_SIZE_OFFSET, HEADER_LEN, KEY_CHECK_OFFSET, MAC_OFFSET, MAGIC, METADATA_OFFSET,
        SALT_OFFSET, SEALED_CHUNK_SIZE, SUITE_OFFSET, TAG_LEN, VERSION_OFFSET,
    },
};

/// A three-chunk file (the last chunk short) under the vector key.
fn three_chunks(suite: Suite) -> (Vec<u8>, Vec<u8>) {
    let plain = pattern(2 * C + 1000);
    let sealed = seal_random(&vector_key(), suite, &plain);
    (sealed, plain)
}

fn flip(data: &[u8], offset: usize, bit: u8) -> Vec<u8> {
    let mut v = data.to_vec();
    v[offset] ^= 1 << bit;
    v
}

/// What a single-bit flip at `offset` of the header must be reported as.
fn expected_header_error(offset: usize) -> &'static str {
    match offset {
        o if o < VERSION_OFFSET => "NotSealedFile",
        VERSION_OFFSET => "UnsupportedVersion",
        SUITE_OFFSET => "UnknownSuite",
        o if o < SALT_OFFSET => "UnsupportedChunkSize",
        o if o < KEY_CHECK_OFFSET => "HeaderTampered",
        _ => "KeyCheckTampered",
    }
}

#[test]
fn every_header_bit_flip_is_detected_with_the_right_error() {
    let key = vector_key();
    for suite in Suite::ALL {
        let (sealed, _) = three_chunks(suite);
        for offset in 0..HEADER_LEN {
            for bit in 0..8 {
                let err = open_err(&key, &flip(&sealed, offset, bit));
                assert_eq!(
                    variant(&err),
                    expected_header_error(offset),
                    "{suite:?} offset {offset} bit {bit}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn body_bit_flips_name_the_chunk() {
    let key = vector_key();
    for suite in Suite::ALL {
        let (sealed, _) = three_chunks(suite);
        for chunk in 0..3 {
            let range = chunk_range(sealed.len(), chunk);
            // First and last ciphertext byte, a middle byte, and every tag byte.
            let mut offsets = vec![range.start, range.start + 500, range.end - TAG_LEN - 1];
            offsets.extend(range.end - TAG_LEN..range.end);
            for offset in offsets {
                let err = open_err(&key, &flip(&sealed, offset, (offset % 8) as u8));
                assert!(
                    matches!(err, Error::ChunkAuthFailed { index } if index == chunk as u64),
                    "{suite:?} chunk {chunk} offset {offset}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn wrong_key_is_reported_as_such() {
    for suite in Suite::ALL {
        let (sealed, _) = three_chunks(suite);
        assert!(matches!(open_err(&other_key(), &sealed), Error::WrongKey));
    }
}

#[test]
fn unknown_version_and_suite_are_reported_before_any_key_check() {
    let key = vector_key();
    let (sealed, _) = three_chunks(Suite::default());
    for version in [0u8, 3, 255] {
        let mut v = sealed.clone();
        v[VERSION_OFFSET] = version;
        let err = open_err(&other_key(), &v);
        assert!(
            matches!(err, Error::UnsupportedVersion { got, supported: 2 } if got == version),
            "{err:?}"
        );
    }
    // Format 1 (sub-keys not bound to the suite) is retired, and says so.
    let mut v = sealed.clone();
    v[VERSION_OFFSET] = 1;
    let err = open_err(&key, &v);
    assert!(matches!(err, Error::RetiredFormat { got: 1 }), "{err:?}");
    assert!(err.to_string().contains("seal it again"), "{err}");
    for suite in [0u8, 3, 200] {
        let mut v = sealed.clone();
        v[SUITE_OFFSET] = suite;
        assert!(matches!(open_err(&key, &v), Error::UnknownSuite { got } if got == suite));
    }
    // Switching to the other *known* suite is caught by the MAC.
    let mut v = sealed.clone();
    v[SUITE_OFFSET] = Suite::Aes256Gcm.id();
    assert!(matches!(open_err(&key, &v), Error::HeaderTampered));
    let mut v = sealed.clone();
    v[CHUNK_SIZE_OFFSET..SALT_OFFSET].copy_from_slice(&1024u32.to_be_bytes());
    assert!(matches!(
        open_err(&key, &v),
        Error::UnsupportedChunkSize {
            got: 1024,
            expected: 65536
        }
    ));
}

#[test]
fn not_a_sealed_file() {
    let key = vector_key();
    let err = open_err(&key, b"PK\x03\x04 this is a zip file, not ours");
    assert!(
        matches!(err, Error::NotSealedFile { ref found_hex } if found_hex == "504b030420746869")
    );
    assert!(matches!(
        open_err(&key, b"Z"),
        Error::TruncatedHeader { got: 1, .. }
    ));
    assert!(matches!(
        open_err(&key, b""),
        Error::TruncatedHeader { got: 0, .. }
    ));
    assert!(matches!(open_err(&key, b"x"), Error::NotSealedFile { .. }));
}

#[test]
fn truncation_at_every_interesting_offset() {
    let key = vector_key();
    for suite in Suite::ALL {
        let (sealed, _) = three_chunks(suite);
        let total = sealed.len() as u64;
        let header_cuts = [
            0,
            1,
            MAGIC.len() - 1,
            VERSION_OFFSET,
            SUITE_OFFSET,
            CHUNK_SIZE_OFFSET,
            SALT_OFFSET,
            METADATA_OFFSET,
            MAC_OFFSET,
            KEY_CHECK_OFFSET,
            HEADER_LEN - 1,
        ];
        for cut in header_cuts {
            let err = open_err(&key, &sealed[..cut]);
            assert!(
                matches!(err, Error::TruncatedHeader { got, expected: HEADER_LEN } if got == cut),
                "{suite:?} cut {cut}: {err:?}"
            );
        }
        let b0 = HEADER_LEN;
        let b1 = b0 + SEALED_CHUNK_SIZE;
        let b2 = b1 + SEALED_CHUNK_SIZE;
        let body_cuts = [
            (b0, 0),                     // header only
            (b0 + 1, 0),                 // inside chunk 0
            (b1 - TAG_LEN, 0),           // chunk 0 without its tag
            (b1 - 1, 0),                 // one byte short of chunk 0
            (b1, 1),                     // at a chunk boundary
            (b1 + 7, 1),                 // inside chunk 1
            (b2, 2),                     // at the boundary before the last chunk
            (sealed.len() - 1, 2),       // last byte missing
            (sealed.len() - TAG_LEN, 2), // last tag missing
        ];
        for (cut, chunk) in body_cuts {
            let err = open_err(&key, &sealed[..cut]);
            assert!(
                matches!(
                    err,
                    Error::Truncated { expected_len, got_len, chunk: c }
                        if expected_len == total && got_len == cut as u64 && c == chunk
                ),
                "{suite:?} cut {cut}: {err:?}"
            );
        }
    }
}

#[test]
fn truncation_at_a_boundary_of_a_whole_chunk_file() {
    // With 3 full chunks, dropping the last chunk leaves a file that ends exactly after a
    // full chunk: the declared size and the last-chunk flag both catch it.
    let key = vector_key();
    let sealed = seal_random(&key, Suite::default(), &pattern(3 * C));
    let cut = HEADER_LEN + 2 * SEALED_CHUNK_SIZE;
    assert!(matches!(
        open_err(&key, &sealed[..cut]),
        Error::Truncated { chunk: 2, .. }
    ));
}

#[test]
fn appended_bytes_are_detected() {
    let key = vector_key();
    for suite in Suite::ALL {
        for size in [0, 1, C, 2 * C + 1000] {
            let sealed = seal_random(&key, suite, &pattern(size));
            for extra in [&[0u8][..], &[0xff; 17], &sealed[HEADER_LEN..]] {
                let mut v = sealed.clone();
                v.extend_from_slice(extra);
                let err = open_err(&key, &v);
                assert!(
                    matches!(err, Error::TrailingData { expected_len } if expected_len == sealed.len() as u64),
                    "{suite:?} size {size}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn reordered_duplicated_and_dropped_chunks_are_detected() {
    let key = vector_key();
    for suite in Suite::ALL {
        let sealed = seal_random(&key, suite, &pattern(3 * C));
        let chunk = |i| sealed[chunk_range(sealed.len(), i)].to_vec();
        let build = |order: &[usize]| {
            let mut v = sealed[..HEADER_LEN].to_vec();
            for &i in order {
                v.extend_from_slice(&chunk(i));
            }
            v
        };
        for (order, first_bad) in [
            (&[1, 0, 2][..], 0u64),
            (&[0, 2, 1][..], 1),
            (&[0, 0, 2][..], 1),
            (&[0, 1, 1][..], 2),
            (&[2, 1, 0][..], 0),
        ] {
            let err = open_err(&key, &build(order));
            assert!(
                matches!(err, Error::ChunkAuthFailed { index } if index == first_bad),
                "{suite:?} {order:?}: {err:?}"
            );
        }
        // Dropping a middle chunk shifts the last one into its place.
        let err = open_err(&key, &build(&[0, 2]));
        assert!(
            matches!(err, Error::ChunkAuthFailed { index: 1 }),
            "{err:?}"
        );
    }
}

#[test]
fn chunks_from_another_file_under_the_same_key_are_detected() {
    let key = vector_key();
    for suite in Suite::ALL {
        let plain = pattern(3 * C);
        let a = seal_random(&key, suite, &plain);
        let b = seal_random(&key, suite, &plain);
        // Chunk 1 of B spliced into A.
        let mut v = a.clone();
        let r = chunk_range(a.len(), 1);
        v[r.clone()].copy_from_slice(&b[r]);
        assert!(matches!(
            open_err(&key, &v),
            Error::ChunkAuthFailed { index: 1 }
        ));
        // A's header with B's body.
        let mut v = a[..HEADER_LEN].to_vec();
        v.extend_from_slice(&b[HEADER_LEN..]);
        assert!(matches!(
            open_err(&key, &v),
            Error::ChunkAuthFailed { index: 0 }
        ));
    }
}

#[test]
fn no_plaintext_of_a_bad_chunk_is_released() {
    let key = vector_key();
    let (sealed, plain) = three_chunks(Suite::default());
    // Damage chunk 1: exactly chunk 0's plaintext comes out, then the error.
    let bad = flip(&sealed, chunk_range(sealed.len(), 1).start + 3, 0);
    let mut r = OpenReader::new(&bad[..], &key).unwrap();
    let mut out = Vec::new();
    let err = Error::from_io(r.read_to_end(&mut out).unwrap_err());
    assert!(matches!(err, Error::ChunkAuthFailed { index: 1 }));
    assert_eq!(out, plain[..C]);
    // The reader stays failed.
    let mut buf = [0u8; 16];
    assert!(matches!(
        Error::from_io(r.read(&mut buf).unwrap_err()),
        Error::ReaderFailed
    ));

    // Appended data is caught before the last chunk's plaintext is released.
    let mut long = sealed.clone();
    long.push(0);
    let mut r = OpenReader::new(&long[..], &key).unwrap();
    let mut out = Vec::new();
    let err = Error::from_io(r.read_to_end(&mut out).unwrap_err());
    assert!(matches!(err, Error::TrailingData { .. }));
    assert_eq!(out, plain[..2 * C]);
}

#[test]
fn io_errors_keep_their_kind() {
    let key = vector_key();
    let (sealed, _) = three_chunks(Suite::default());
    let mut r = OpenReader::new(&sealed[..HEADER_LEN + 10], &key).unwrap();
    let err = r.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    let bad = flip(&sealed, HEADER_LEN, 0);
    let mut r = OpenReader::new(&bad[..], &key).unwrap();
    let err = r.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}
