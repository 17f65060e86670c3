//! Segment proof verification: the positives, and every kind of tampering (`fail_*`).
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod common;

use alloy::primitives::B256;
use common::mod251;
use zgvault_client::{
    Error, ProofError,
    zg::{FileRoot, SegmentProof, root_of_bytes},
};

/// 1 048 577 bytes: 5 segments, the vector file; segment 4 has a short path.
fn five_segments() -> FileRoot {
    root_of_bytes(&mod251(1_048_577)).unwrap()
}

fn reason(result: Result<(), Error>) -> ProofError {
    match result {
        Err(Error::InvalidProof { reason, .. }) => reason,
        other => panic!("expected an invalid proof, got {other:?}"),
    }
}

#[test]
fn every_segment_proof_verifies() {
    let root = five_segments();
    let tree = root.segment_tree().unwrap();
    for (i, leaf) in root.segment_roots().iter().enumerate() {
        let proof = tree.proof(i as u64).unwrap();
        proof.verify(&root.root(), leaf, i as u64, 5).unwrap();
    }
}

#[test]
fn single_segment_proof_is_the_root_alone() {
    let root = root_of_bytes(b"one segment").unwrap();
    let proof = root.segment_proof(0).unwrap();
    assert_eq!(
        proof,
        SegmentProof {
            lemma: vec![root.root()],
            path: vec![]
        }
    );
    proof.verify(&root.root(), &root.root(), 0, 1).unwrap();
    assert!(matches!(
        reason(proof.verify(&root.root(), &root.root(), 1, 1)),
        ProofError::Position { .. }
    ));
}

#[test]
fn fail_tampered_lemma() {
    let root = five_segments();
    let leaf = root.segment_roots()[1];
    let good = root.segment_proof(1).unwrap();
    for k in 1..good.lemma.len() - 1 {
        let mut bad = good.clone();
        bad.lemma[k].0[0] ^= 1;
        assert!(matches!(
            reason(bad.verify(&root.root(), &leaf, 1, 5)),
            ProofError::PathMismatch { .. }
        ));
    }
    let mut bad = good.clone();
    bad.lemma[0] = B256::repeat_byte(7);
    assert!(matches!(
        reason(bad.verify(&root.root(), &leaf, 1, 5)),
        ProofError::LeafMismatch { .. }
    ));
    let mut bad = good;
    bad.lemma.pop();
    assert!(matches!(
        reason(bad.verify(&root.root(), &leaf, 1, 5)),
        ProofError::Shape { .. }
    ));
}

#[test]
fn fail_wrong_path() {
    let root = five_segments();
    let leaf = root.segment_roots()[2];
    let good = root.segment_proof(2).unwrap();
    for k in 0..good.path.len() {
        let mut bad = good.clone();
        bad.path[k] = !bad.path[k];
        assert!(
            bad.verify(&root.root(), &leaf, 2, 5).is_err(),
            "flipped path bit {k}"
        );
    }
    let mut bad = good;
    bad.path.push(true);
    assert!(matches!(
        reason(bad.verify(&root.root(), &leaf, 2, 5)),
        ProofError::Shape { .. }
    ));
}

#[test]
fn fail_wrong_index() {
    let root = five_segments();
    let tree = root.segment_tree().unwrap();
    for i in 0..5u64 {
        let leaf = root.segment_roots()[i as usize];
        let proof = tree.proof(i).unwrap();
        for other in (0..6).filter(|&o| o != i) {
            assert!(matches!(
                reason(proof.verify(&root.root(), &leaf, other, 5)),
                ProofError::Position { .. }
            ));
        }
        // The same proof claimed for a file with another number of segments.
        assert!(proof.verify(&root.root(), &leaf, i, 9).is_err());
    }
    assert!(matches!(
        tree.proof(5),
        Err(Error::SegmentOutOfRange {
            index: 5,
            segments: 5
        })
    ));
}

#[test]
fn fail_wrong_root() {
    let root = five_segments();
    let other = root_of_bytes(&mod251(1_048_576)).unwrap();
    let leaf = root.segment_roots()[3];
    let proof = root.segment_proof(3).unwrap();
    assert!(matches!(
        reason(proof.verify(&other.root(), &leaf, 3, 5)),
        ProofError::RootMismatch { .. }
    ));
    // A proof of another file's segment does not verify against this root either.
    let foreign = other.segment_proof(3).unwrap();
    assert!(
        foreign
            .verify(&root.root(), &other.segment_roots()[3], 3, 5)
            .is_err()
    );
}

#[test]
fn fail_segment_bytes_of_the_wrong_length() {
    let root = five_segments();
    assert!(matches!(
        root.segment_root_of(4, &[0u8; 255]),
        Err(Error::SegmentLength {
            index: 4,
            expected: 256,
            got: 255,
            ..
        })
    ));
    assert!(matches!(
        root.segment_root_of(5, &[]),
        Err(Error::SegmentOutOfRange { .. })
    ));
}

proptest::proptest! {
    /// Whatever a node sends as a proof, verifying it returns a result, never panics, and
    /// accepts only the genuine proof of that segment.
    #[test]
    fn fail_arbitrary_proofs_never_panic(
        lemma in proptest::collection::vec(proptest::array::uniform32(0u8..4), 0..8),
        path in proptest::collection::vec(proptest::bool::ANY, 0..8),
        index in proptest::prelude::any::<u64>(),
        leaves in proptest::prelude::any::<u64>(),
        small in 0u64..9,
    ) {
        let root = B256::repeat_byte(1);
        let proof = SegmentProof { lemma: lemma.into_iter().map(B256::from).collect(), path };
        let leaf = proof.lemma.first().copied().unwrap_or_default();
        let _ = proof.verify(&root, &leaf, index, leaves);
        let _ = proof.verify(&root, &leaf, small, small);
        proptest::prop_assert!(proof.verify(&root, &B256::repeat_byte(9), 0, 1).is_err());
    }
}
