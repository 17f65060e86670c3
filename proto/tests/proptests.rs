//! Property tests: round trips over random sizes and write splits, random damage is always
//! detected, and random bytes never panic a decoder.

// Helpers outside `#[test]` fns unwrap too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::*;
use proptest::prelude::*;
use zgvault_proto::{
    Error, FileKey, Metadata, OpenReader, SealWriter, SealedHeader, Suite, open_bytes,
    seal::{HEADER_LEN, MAGIC, VERSION},
    sealed_len,
};

/// Sizes clustered around the chunk boundaries, where the off-by-ones live.
fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..300,
        (C - 3)..(C + 3),
        (2 * C - 3)..(2 * C + 3),
        0usize..(3 * C + 10),
    ]
}

fn suite_strategy() -> impl Strategy<Value = Suite> {
    prop_oneof![Just(Suite::XChaCha20Poly1305), Just(Suite::Aes256Gcm)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any size, any sequence of write-call lengths, any read-call length: same bytes out.
    #[test]
    fn round_trip_with_random_splits(
        size in size_strategy(),
        suite in suite_strategy(),
        splits in prop::collection::vec(1usize..(C + 500), 1..12),
        read_len in 1usize..(2 * C),
    ) {
        let key = FileKey::generate().unwrap();
        let plain = pattern(size);
        let meta = Metadata::new("p", "", size as u64);
        let mut w = SealWriter::with_suite(Vec::new(), &key, suite, &meta).unwrap();
        let mut rest = &plain[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = splits[i % splits.len()].min(rest.len());
            w.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
            i += 1;
        }
        let sealed = w.finish().unwrap();
        prop_assert_eq!(sealed.len() as u64, sealed_len(size as u64).unwrap());

        let mut r = OpenReader::new(&sealed[..], &key).unwrap();
        let mut out = Vec::with_capacity(size);
        let mut buf = vec![0u8; read_len];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 { break; }
            out.extend_from_slice(&buf[..n]);
        }
        prop_assert_eq!(out, plain);
    }

    /// Any single-byte change anywhere in a two-chunk file is detected.
    #[test]
    fn random_damage_is_detected(
        suite in suite_strategy(),
        size in (C - 2)..(C + 300),
        pos in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let key = vector_key();
        let sealed = seal_random(&key, suite, &pattern(size));
        let mut bad = sealed.clone();
        let at = pos.index(bad.len());
        bad[at] ^= mask;
        prop_assert!(open_bytes(&key, &bad).is_err());
    }

    /// Any truncation of a sealed file is detected.
    #[test]
    fn random_truncation_is_detected(size in size_strategy(), cut in any::<prop::sample::Index>()) {
        let key = vector_key();
        let sealed = seal_random(&key, Suite::default(), &pattern(size));
        let cut = cut.index(sealed.len());
        let err = open_bytes(&key, &sealed[..cut]).unwrap_err();
        prop_assert!(
            matches!(err, Error::Truncated { .. } | Error::TruncatedHeader { .. }),
            "{:?}", err
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary bytes: the header decoder and the full open path return errors, never panic.
    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        let key = vector_key();
        let _ = SealedHeader::decode(&data);
        prop_assert!(open_bytes(&key, &data).is_err());
    }

    /// Random bytes behind a valid-looking prefix reach the deeper checks; still no panic.
    #[test]
    fn random_bytes_after_a_plausible_prefix_never_panic(
        suite in 0u8..4,
        chunk in prop_oneof![Just(65536u32), any::<u32>()],
        rest in prop::collection::vec(any::<u8>(), 0..(HEADER_LEN + 400)),
    ) {
        let mut data = MAGIC.to_vec();
        data.push(VERSION);
        data.push(suite);
        data.extend_from_slice(&chunk.to_be_bytes());
        data.extend_from_slice(&rest);
        let key = vector_key();
        if let Ok(header) = SealedHeader::decode(&data) {
            prop_assert!(header.open_metadata(&key).is_err());
        }
        prop_assert!(open_bytes(&key, &data).is_err());
    }
}

/// A genuine header followed by random bytes: verified header, then a body that must fail.
#[test]
fn valid_header_with_random_body_fails_cleanly() {
    let key = vector_key();
    let sealed = seal_random(&key, Suite::default(), &pattern(C + 5));
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..(2 * C)), |body| {
            let mut data = sealed[..HEADER_LEN].to_vec();
            data.extend_from_slice(&body);
            let err = open_bytes(&key, &data).unwrap_err();
            prop_assert!(
                matches!(
                    err,
                    Error::Truncated { .. }
                        | Error::ChunkAuthFailed { .. }
                        | Error::TrailingData { .. }
                ),
                "{:?}",
                err
            );
            Ok(())
        })
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A BLS capsule comes from the chain and from requesters: any bytes decode to an error
    /// or to a capsule that nodes answer for and that then fails to open, never a panic.
    #[test]
    fn random_bls_capsules_never_panic(
        body in prop::collection::vec(any::<u8>(), zgvault_proto::threshold::BLS_CAPSULE_LEN - 1),
        version in prop_oneof![Just(2u8), any::<u8>()],
    ) {
        use zgvault_proto::{request::FileRef, threshold::{BlsCapsule, deal_bls_key_set}};
        let mut bytes = vec![version];
        bytes.extend_from_slice(&body);
        let _ = BlsCapsule::from_bytes(&body);
        if let Ok(capsule) = BlsCapsule::from_bytes(&bytes) {
            let (keys, shares) = deal_bls_key_set(1, 1).unwrap();
            let file = FileRef {
                chain_id: 1,
                registry: alloy_primitives::Address::ZERO,
                file_id: alloy_primitives::B256::ZERO,
            };
            let answer = shares[0].decrypt_share(&file, &capsule);
            let mut combiner = keys.combiner(&file, &capsule, 1);
            prop_assert!(combiner.add(0, answer.to_bytes().as_slice()).is_ok());
            prop_assert!(matches!(combiner.finish(), Err(Error::CapsuleNotForFile)));
        }
    }
}
