//! The threshold schemes end to end: split/encrypt, node answers, verify-then-combine, and
//! the culprits named when nodes misbehave.

// Helpers outside `#[test]` fns unwrap too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

use alloy_primitives::{Address, B256};
use zgvault_proto::{
    Error, FileKey,
    request::FileRef,
    threshold::{
        BLS_CAPSULE_LEN, BLS_CAPSULE_VERSION, BLS_PARTIAL_LEN, BlsCapsule, BlsKeySet,
        BlsSecretShare, Culprit, CulpritReason, MAX_BLS_KEY_SET_BYTES, SHAMIR_SHARE_LEN,
        ShamirCommitments, ShamirShare, deal_bls_key_set, split_new_file_key,
    },
};

fn file(n: u8) -> FileRef {
    FileRef {
        chain_id: 16602,
        registry: Address::repeat_byte(0x42),
        file_id: B256::repeat_byte(n),
    }
}

/// All subsets of `0..n` with exactly `k` elements.
fn subsets(n: u32, k: usize) -> Vec<Vec<u32>> {
    (0u32..(1 << n))
        .filter(|mask| mask.count_ones() as usize == k)
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
        .collect()
}

// ----- BLS -----------------------------------------------------------------------------------

struct BlsSetup {
    keys: BlsKeySet,
    shares: Vec<BlsSecretShare>,
    key: FileKey,
    capsule: BlsCapsule,
    partials: Vec<[u8; BLS_PARTIAL_LEN]>,
}

/// `needed` of `nodes`, one file key encrypted, every node's partial computed.
fn bls_setup(needed: usize, nodes: usize) -> BlsSetup {
    let (keys, shares) = deal_bls_key_set(needed, nodes).unwrap();
    let key = FileKey::generate().unwrap();
    let capsule = keys.encrypt_file_key(&file(1), &key).unwrap();
    let partials = shares
        .iter()
        .map(|s| *s.decrypt_share(&file(1), &capsule).to_bytes())
        .collect();
    BlsSetup {
        keys,
        shares,
        key,
        capsule,
        partials,
    }
}

#[test]
fn bls_any_needed_of_n_recover_k() {
    let s = bls_setup(3, 5);
    assert_eq!(s.keys.shares_needed(), 3);
    assert_eq!(s.capsule.to_bytes().len(), BLS_CAPSULE_LEN);
    for subset in subsets(5, 3) {
        let mut combiner = s.keys.combiner(&file(1), &s.capsule, 5);
        for &i in &subset {
            combiner.add(i, &s.partials[i as usize]).unwrap();
        }
        assert!(combiner.is_ready());
        let recovered = combiner.finish().unwrap();
        assert_eq!(recovered.key, s.key, "subset {subset:?}");
        assert_eq!(recovered.used, subset);
        assert!(recovered.culprits.is_empty());
    }
}

#[test]
fn fail_bls_fewer_than_needed() {
    let s = bls_setup(3, 5);
    for subset in subsets(5, 2) {
        let mut combiner = s.keys.combiner(&file(1), &s.capsule, 5);
        for &i in &subset {
            combiner.add(i, &s.partials[i as usize]).unwrap();
        }
        assert!(!combiner.is_ready());
        assert!(matches!(
            combiner.finish(),
            Err(Error::NotEnoughShares { good: 2, needed: 3, ref culprits }) if culprits.0.is_empty()
        ));
    }
}

#[test]
fn bls_culprits_named_and_k_recovered_from_the_good_ones() {
    let s = bls_setup(3, 6);
    let mut combiner = s.keys.combiner(&file(1), &s.capsule, 6);
    // node 0: garbage bytes; node 1: another node's (valid) partial; node 2: wrong length.
    assert_eq!(
        combiner.add(0, &[0xab; BLS_PARTIAL_LEN]),
        Err(CulpritReason::Malformed)
    );
    assert_eq!(
        combiner.add(1, &s.partials[4]),
        Err(CulpritReason::InvalidShare)
    );
    assert_eq!(combiner.add(2, &[1, 2, 3]), Err(CulpritReason::Malformed));
    // unknown index, then good shares, then a duplicate.
    assert_eq!(
        combiner.add(6, &s.partials[3]),
        Err(CulpritReason::UnknownNode)
    );
    for i in 3..6 {
        combiner.add(i, &s.partials[i as usize]).unwrap();
    }
    assert_eq!(
        combiner.add(3, &s.partials[3]),
        Err(CulpritReason::Duplicate)
    );
    let recovered = combiner.finish().unwrap();
    assert_eq!(recovered.key, s.key);
    assert_eq!(recovered.used, vec![3, 4, 5]);
    let named: Vec<(u32, CulpritReason)> = recovered
        .culprits
        .iter()
        .map(|c| (c.node_index, c.reason))
        .collect();
    assert_eq!(
        named,
        vec![
            (0, CulpritReason::Malformed),
            (1, CulpritReason::InvalidShare),
            (2, CulpritReason::Malformed),
            (6, CulpritReason::UnknownNode),
            (3, CulpritReason::Duplicate),
        ]
    );
}

#[test]
fn fail_bls_not_enough_good_shares_names_every_culprit() {
    let s = bls_setup(3, 4);
    let mut combiner = s.keys.combiner(&file(1), &s.capsule, 4);
    combiner.add(0, &s.partials[0]).unwrap();
    let _ = combiner.add(1, &s.partials[2]);
    combiner.report(2, CulpritReason::Unreachable);
    combiner.add(3, &s.partials[3]).unwrap();
    let err = combiner.finish().unwrap_err();
    match &err {
        Error::NotEnoughShares {
            good,
            needed,
            culprits,
        } => {
            assert_eq!((*good, *needed), (2, 3));
            assert_eq!(
                culprits.0,
                vec![
                    Culprit {
                        node_index: 1,
                        reason: CulpritReason::InvalidShare
                    },
                    Culprit {
                        node_index: 2,
                        reason: CulpritReason::Unreachable
                    },
                ]
            );
        }
        other => panic!("unexpected {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("node 1 (share does not verify)"), "{text}");
    assert!(text.contains("node 2 (no answer)"), "{text}");
}

#[test]
fn fail_bls_share_for_another_file_does_not_verify() {
    let s = bls_setup(2, 3);
    // Same network key, another file: the answers sign another label.
    let other_key = FileKey::generate().unwrap();
    let other_capsule = s.keys.encrypt_file_key(&file(2), &other_key).unwrap();
    let wrong_file: Vec<_> = s
        .shares
        .iter()
        .map(|sh| *sh.decrypt_share(&file(2), &other_capsule).to_bytes())
        .collect();
    let mut combiner = s.keys.combiner(&file(1), &s.capsule, 3);
    for (i, partial) in wrong_file.iter().enumerate() {
        assert_eq!(
            combiner.add(i as u32, partial),
            Err(CulpritReason::InvalidShare)
        );
    }
    // A node that answers for our capsule under the other file's label fails too.
    let mut combiner = s.keys.combiner(&file(1), &s.capsule, 3);
    let misderived = s.shares[0].decrypt_share(&file(2), &s.capsule);
    assert_eq!(
        combiner.add(0, misderived.to_bytes().as_slice()),
        Err(CulpritReason::InvalidShare)
    );
    // And the capsule of file 1 cannot be opened as file 2's.
    let mut combiner = s.keys.combiner(&file(2), &s.capsule, 3);
    assert_eq!(
        combiner.add(0, &s.partials[0]),
        Err(CulpritReason::InvalidShare)
    );
}

/// Answers of every node for `capsule` as `file`, combined as `file`.
fn bls_open(s: &BlsSetup, capsule: &BlsCapsule) -> Result<FileKey, Error> {
    let mut combiner = s.keys.combiner(&file(1), capsule, s.shares.len());
    for share in &s.shares {
        let partial = share.decrypt_share(&file(1), capsule);
        combiner
            .add(share.node_index(), partial.to_bytes().as_slice())
            .unwrap();
    }
    combiner.finish().map(|r| r.key)
}

#[test]
fn fail_bls_tampered_capsule_does_not_open() {
    let s = bls_setup(2, 3);
    assert!(bls_open(&s, &s.capsule).unwrap() == s.key);
    let bytes = s.capsule.to_bytes();
    // A flipped bit of the sealed key or of its tag: the nodes answer (their answer depends
    // on the label only), the answers verify, and the capsule does not open.
    for at in [BLS_CAPSULE_LEN - 1, BLS_CAPSULE_LEN - 20, 1 + 48] {
        let mut tampered = bytes.clone();
        tampered[at] ^= 1;
        let tampered = BlsCapsule::from_bytes(&tampered).unwrap();
        assert!(
            matches!(bls_open(&s, &tampered), Err(Error::CapsuleNotForFile)),
            "byte {at}"
        );
    }
    // Another valid U (another capsule's) with this sealed key: another label, no key.
    let other = s
        .keys
        .encrypt_file_key(&file(1), &s.key)
        .unwrap()
        .to_bytes();
    let mut spliced = bytes.clone();
    spliced[1..49].copy_from_slice(&other[1..49]);
    let spliced = BlsCapsule::from_bytes(&spliced).unwrap();
    assert!(matches!(
        bls_open(&s, &spliced),
        Err(Error::CapsuleNotForFile)
    ));
}

#[test]
fn fail_bls_capsule_encodings() {
    let s = bls_setup(2, 3);
    let bytes = s.capsule.to_bytes();
    assert_eq!(bytes.len(), BLS_CAPSULE_LEN);
    assert_eq!(bytes[0], BLS_CAPSULE_VERSION);
    assert!(matches!(
        BlsCapsule::from_bytes(&bytes[..BLS_CAPSULE_LEN - 1]),
        Err(Error::FieldLength { .. })
    ));
    // Another version byte.
    let mut v = bytes.clone();
    v[0] = 1;
    assert!(matches!(
        BlsCapsule::from_bytes(&v),
        Err(Error::CapsuleInvalid)
    ));
    // U not on the curve, and U the identity.
    assert!(matches!(
        BlsCapsule::from_bytes(&[0xff; BLS_CAPSULE_LEN]),
        Err(Error::CapsuleInvalid)
    ));
    let mut identity = bytes.clone();
    identity[1..49].fill(0);
    identity[1] = 0xc0;
    assert!(matches!(
        BlsCapsule::from_bytes(&identity),
        Err(Error::CapsuleInvalid)
    ));
    // The first format's 176-byte capsules are refused by name.
    let err = BlsCapsule::from_bytes(&[0u8; 176]).unwrap_err();
    assert!(matches!(err, Error::CapsuleRetired));
    assert!(err.to_string().contains("put the file again"), "{err}");
}

#[test]
fn bls_key_set_and_secret_share_serialization() {
    let s = bls_setup(3, 4);
    let bytes = s.keys.to_bytes();
    assert_eq!(bytes.len(), 3 * 48);
    assert_eq!(BlsKeySet::from_bytes(&bytes).unwrap(), s.keys);
    let mut identity = [0u8; 48];
    identity[0] = 0xc0;
    assert!(matches!(
        BlsKeySet::from_bytes(&[&bytes[..48], &identity[..]].concat()),
        Err(Error::InvalidKeySet { reason, .. }) if reason.contains("identity")
    ));
    for bad in [
        Vec::new(),
        bytes[..47].to_vec(),
        vec![0u8; MAX_BLS_KEY_SET_BYTES + 48],
        vec![0xff; 48],
        [&bytes[..48], &identity[..]].concat(),
    ] {
        assert!(
            matches!(
                BlsKeySet::from_bytes(&bad),
                Err(Error::InvalidKeySet { .. })
            ),
            "{} bytes accepted",
            bad.len()
        );
    }
    let stored = s.shares[2].to_bytes();
    let restored = BlsSecretShare::from_bytes(2, &stored).unwrap();
    let partial = restored.decrypt_share(&file(1), &s.capsule);
    assert_eq!(*partial.to_bytes(), s.partials[2]);
    assert!(format!("{restored:?}").contains("redacted"));
    assert!(format!("{partial:?}").contains("redacted"));
}

#[test]
fn fail_bls_bad_parameters() {
    for (needed, nodes) in [(0, 3), (4, 3), (1, 257)] {
        assert!(matches!(
            deal_bls_key_set(needed, nodes),
            Err(Error::InvalidThreshold { .. })
        ));
    }
}

// ----- Shamir --------------------------------------------------------------------------------

#[test]
fn shamir_any_t_of_n_recover_k() {
    let split = split_new_file_key(3, 5).unwrap();
    assert_eq!(split.commitments.shares_needed(), 3);
    for share in &split.shares {
        share.verify(&split.commitments).unwrap();
    }
    for subset in subsets(5, 3) {
        let mut combiner = split.commitments.combiner(5);
        for &i in &subset {
            combiner
                .add(i, split.shares[i as usize].to_bytes().as_slice())
                .unwrap();
        }
        let recovered = combiner.finish().unwrap();
        assert_eq!(recovered.key, split.key, "subset {subset:?}");
        assert_eq!(recovered.used, subset);
    }
}

#[test]
fn shamir_n_of_n() {
    for (needed, nodes) in [(2, 2), (4, 4)] {
        let split = split_new_file_key(needed, nodes).unwrap();
        let mut combiner = split.commitments.combiner(nodes);
        for share in split.shares.iter().rev().take(needed) {
            combiner
                .add(share.node_index(), share.to_bytes().as_slice())
                .unwrap();
        }
        assert_eq!(combiner.finish().unwrap().key, split.key);
    }
}

#[test]
fn fail_shamir_fewer_than_t() {
    let split = split_new_file_key(3, 5).unwrap();
    for subset in subsets(5, 2) {
        let mut combiner = split.commitments.combiner(5);
        for &i in &subset {
            combiner
                .add(i, split.shares[i as usize].to_bytes().as_slice())
                .unwrap();
        }
        assert!(matches!(
            combiner.finish(),
            Err(Error::NotEnoughShares {
                good: 2,
                needed: 3,
                ..
            })
        ));
    }
}

#[test]
fn shamir_culprits_named_and_k_recovered_from_the_good_ones() {
    let split = split_new_file_key(2, 5).unwrap();
    let share = |i: usize| *split.shares[i].to_bytes();
    let mut combiner = split.commitments.combiner(5);
    // node 0 sends node 1's share; node 1 sends a flipped bit; node 2 sends zero (not a valid
    // share); node 3 sends bytes >= the group order.
    assert_eq!(combiner.add(0, &share(1)), Err(CulpritReason::InvalidShare));
    let mut flipped = share(1);
    flipped[31] ^= 1;
    assert_eq!(combiner.add(1, &flipped), Err(CulpritReason::InvalidShare));
    assert_eq!(
        combiner.add(2, &[0; SHAMIR_SHARE_LEN]),
        Err(CulpritReason::Malformed)
    );
    assert_eq!(
        combiner.add(3, &[0xff; SHAMIR_SHARE_LEN]),
        Err(CulpritReason::Malformed)
    );
    assert_eq!(combiner.add(9, &share(4)), Err(CulpritReason::UnknownNode));
    assert!(!combiner.is_ready());
    combiner.add(4, &share(4)).unwrap();
    assert!(!combiner.is_ready());
    combiner.report(1, CulpritReason::Unsealable); // already named: keeps the first reason
    let err = combiner.finish().unwrap_err();
    assert!(
        matches!(err, Error::NotEnoughShares { good: 1, needed: 2, ref culprits } if culprits.0.len() == 5)
    );

    let mut combiner = split.commitments.combiner(5);
    assert_eq!(combiner.add(0, &share(1)), Err(CulpritReason::InvalidShare));
    combiner.add(2, &share(2)).unwrap();
    combiner.add(4, &share(4)).unwrap();
    let recovered = combiner.finish().unwrap();
    assert_eq!(recovered.key, split.key);
    assert_eq!(
        recovered.culprits,
        vec![Culprit {
            node_index: 0,
            reason: CulpritReason::InvalidShare
        }]
    );
}

#[test]
fn fail_shamir_share_for_another_file_does_not_verify() {
    let a = split_new_file_key(2, 3).unwrap();
    let b = split_new_file_key(2, 3).unwrap();
    assert_ne!(a.key, b.key);
    for share in &b.shares {
        assert!(matches!(
            share.verify(&a.commitments),
            Err(Error::ShareInvalid { .. })
        ));
    }
    let mut combiner = a.commitments.combiner(3);
    for share in &b.shares {
        assert_eq!(
            combiner.add(share.node_index(), share.to_bytes().as_slice()),
            Err(CulpritReason::InvalidShare)
        );
    }
}

#[test]
fn shamir_commitments_serialization() {
    let split = split_new_file_key(3, 4).unwrap();
    let bytes = split.commitments.to_bytes();
    assert_eq!(bytes.len(), 3 * 33);
    let parsed = ShamirCommitments::from_bytes(&bytes).unwrap();
    assert_eq!(parsed, split.commitments);
    assert_eq!(parsed.hash(), split.commitments.hash());
    let mut compact_tag = bytes.clone();
    compact_tag[0] = 0x05;
    let mut off_curve = bytes.clone();
    off_curve[1..33].fill(0xff); // x >= p
    for bad in [Vec::new(), bytes[..32].to_vec(), compact_tag, off_curve] {
        assert!(matches!(
            ShamirCommitments::from_bytes(&bad),
            Err(Error::InvalidCommitments { .. })
        ));
    }
    let restored = ShamirShare::from_bytes(2, split.shares[2].to_bytes().as_slice()).unwrap();
    restored.verify(&parsed).unwrap();
    assert!(format!("{restored:?}").contains("redacted"));
    assert!(matches!(
        ShamirShare::from_bytes(2, &[0; 31]),
        Err(Error::InvalidSecretShare)
    ));
}

#[test]
fn fail_shamir_bad_parameters() {
    for (needed, nodes) in [(0, 3), (1, 3), (4, 3), (2, 300)] {
        assert!(matches!(
            split_new_file_key(needed, nodes),
            Err(Error::InvalidThreshold { .. })
        ));
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn shamir_split_combine_any_subset(needed in 2usize..5, extra in 0usize..3, seed in any::<u64>()) {
            let nodes = needed + extra;
            let split = split_new_file_key(needed, nodes).unwrap();
            // A seed-dependent rotation picks which nodes answer.
            let start = (seed as usize) % nodes;
            let mut combiner = split.commitments.combiner(nodes);
            for k in 0..needed {
                let share = &split.shares[(start + k) % nodes];
                combiner.add(share.node_index(), share.to_bytes().as_slice()).unwrap();
            }
            prop_assert_eq!(combiner.finish().unwrap().key, split.key);
        }

        #[test]
        fn combiners_never_panic_on_garbage(index in any::<u32>(), bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let split = split_new_file_key(2, 3).unwrap();
            let mut combiner = split.commitments.combiner(3);
            let _ = combiner.add(index, &bytes);
            prop_assert!(!combiner.is_ready());
        }
    }
}

// ----- BLS known answers (tests/vectors/bls.json, from examples/bls_vectors.rs) ------------

fn bls_vectors() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/bls.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn vector_shares(v: &serde_json::Value) -> Vec<BlsSecretShare> {
    v["shares"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let bytes: [u8; 32] = unhex(s).try_into().unwrap();
            BlsSecretShare::from_bytes(i as u32, &bytes).unwrap()
        })
        .collect()
}

fn vector_file_ref(v: &serde_json::Value) -> FileRef {
    FileRef {
        chain_id: v["file"]["chain_id"].as_u64().unwrap(),
        registry: v["file"]["registry"].as_str().unwrap().parse().unwrap(),
        file_id: v["file"]["file_id"].as_str().unwrap().parse().unwrap(),
    }
}

#[test]
fn kat_bls_capsule_label_answers_and_key() {
    let v = bls_vectors();
    let keys = BlsKeySet::from_bytes(&unhex(&v["key_set"])).unwrap();
    let shares = vector_shares(&v);
    let file = vector_file_ref(&v);
    let capsule = BlsCapsule::from_bytes(&unhex(&v["capsule"])).unwrap();
    assert_eq!(capsule.to_bytes(), unhex(&v["capsule"]));
    assert_eq!(capsule.label(&file).to_vec(), unhex(&v["label"]));
    let expected: Vec<Vec<u8>> = v["partials"]
        .as_array()
        .unwrap()
        .iter()
        .map(unhex)
        .collect();
    for (share, want) in shares.iter().zip(&expected) {
        assert_eq!(
            share.decrypt_share(&file, &capsule).to_bytes().to_vec(),
            *want,
            "node {}",
            share.node_index()
        );
    }
    let key = FileKey::from_slice(&unhex(&v["key"])).unwrap();
    for subset in subsets(5, 3) {
        let mut combiner = keys.combiner(&file, &capsule, 5);
        for i in &subset {
            combiner.add(*i, &expected[*i as usize]).unwrap();
        }
        assert!(combiner.finish().unwrap().key == key, "subset {subset:?}");
    }
}

#[test]
fn fail_kat_bls_capsule_copied_to_another_file() {
    let v = bls_vectors();
    let keys = BlsKeySet::from_bytes(&unhex(&v["key_set"])).unwrap();
    let shares = vector_shares(&v);
    let capsule = BlsCapsule::from_bytes(&unhex(&v["capsule"])).unwrap();
    let other = FileRef {
        file_id: B256::repeat_byte(0x08),
        ..vector_file_ref(&v)
    };
    // The nodes' answers for the other file are not the recorded ones and do not verify as
    // answers for the vector's file.
    let expected: Vec<Vec<u8>> = v["partials"]
        .as_array()
        .unwrap()
        .iter()
        .map(unhex)
        .collect();
    let mut combiner = keys.combiner(&vector_file_ref(&v), &capsule, 5);
    for share in &shares {
        let answer = share.decrypt_share(&other, &capsule).to_bytes().to_vec();
        assert_ne!(answer, expected[share.node_index() as usize]);
        assert_eq!(
            combiner.add(share.node_index(), &answer),
            Err(CulpritReason::InvalidShare)
        );
    }
    // Combined as the other file's, they verify but do not open the capsule.
    let mut combiner = keys.combiner(&other, &capsule, 5);
    for share in &shares {
        let answer = share.decrypt_share(&other, &capsule);
        combiner
            .add(share.node_index(), answer.to_bytes().as_slice())
            .unwrap();
    }
    assert!(matches!(combiner.finish(), Err(Error::CapsuleNotForFile)));
}
