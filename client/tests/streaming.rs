//! The streaming hasher against one-shot hashing and against the naive reference; fragments.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod common;

use std::io::Write;

use alloy::primitives::Bytes;
use common::{naive, naive_padded_chunks, naive_proof, odd_promotion_levels, xorshift};
use proptest::prelude::*;
use zgvault_client::{
    Error,
    zg::{
        self, Fragment, FragmentHasher, RootHasher, SEGMENT_SIZE, Tee, flow_padded_chunks,
        plan_fragments, root_of_bytes,
    },
};

/// Sizes that favour the interesting places: around chunk and segment edges and padding steps.
fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..3000,
        (1usize..6, -300i64..300).prop_map(|(segs, delta)| {
            (segs as i64 * SEGMENT_SIZE as i64 + delta).max(1) as usize
        }),
        1usize..(5 * SEGMENT_SIZE),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_write_splits_equal_one_shot(
        size in size_strategy(),
        seed in any::<u32>(),
        cuts in proptest::collection::vec(0usize..400_000, 0..12),
        threads in 0usize..3,
    ) {
        let data = xorshift(size, seed);
        let one_shot = root_of_bytes(&data).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (size + 1)).collect();
        cuts.push(0);
        cuts.push(size);
        cuts.sort_unstable();
        let mut hasher = RootHasher::with_threads(threads);
        for w in cuts.windows(2) {
            hasher.write_all(&data[w[0]..w[1]]).unwrap();
        }
        prop_assert_eq!(hasher.finish().unwrap(), one_shot);
    }

    #[test]
    fn fast_equals_naive(size in size_strategy(), seed in any::<u32>()) {
        let data = xorshift(size, seed);
        let fast = RootHasher::with_threads(2);
        let fast = { let mut h = fast; h.update(&data).unwrap(); h.finish().unwrap() };
        let slow = naive(&data);
        prop_assert_eq!(fast.root(), slow.root);
        prop_assert_eq!(fast.padded_chunks(), slow.padded_chunks);
        prop_assert_eq!(fast.segment_roots(), &slow.segment_roots[..]);
        let nodes: Vec<_> = fast.nodes().iter().map(|n| (n.root, n.height)).collect();
        prop_assert_eq!(nodes, slow.nodes);
        fast.submission(Bytes::new()).validate().unwrap();
    }

    #[test]
    fn proofs_equal_naive_and_verify(segments in 1usize..70, seed in any::<u32>()) {
        let leaves: Vec<_> = (0..segments)
            .map(|i| common::keccak(&xorshift(8, seed ^ i as u32)))
            .collect();
        let tree = zg::SegmentTree::new(leaves.clone()).unwrap();
        let levels = odd_promotion_levels(leaves.clone());
        prop_assert_eq!(tree.root(), levels.last().unwrap()[0]);
        for (i, leaf) in leaves.iter().enumerate() {
            let proof = tree.proof(i as u64).unwrap();
            let (lemma, path) = naive_proof(&levels, i);
            prop_assert_eq!(&proof.lemma, &lemma);
            prop_assert_eq!(&proof.path, &path);
            proof.verify(&tree.root(), leaf, i as u64, segments as u64).unwrap();
        }
    }

    #[test]
    fn padding_equals_naive(size in 1u64..(1 << 50)) {
        prop_assert_eq!(flow_padded_chunks(size.div_ceil(256)), naive_padded_chunks(size));
    }

    #[test]
    fn fragments_cover_the_file(size in 1u64..1_000_000, fragment in 0u64..70_000) {
        let plan = plan_fragments(size, fragment).unwrap();
        let step = zg::normalize_fragment_size(fragment);
        prop_assert!(step.is_power_of_two() && step >= 256 && step >= fragment);
        let mut offset = 0;
        for (i, f) in plan.iter().enumerate() {
            prop_assert_eq!(f.index, i as u64);
            prop_assert_eq!(f.offset, offset);
            prop_assert!(f.len > 0 && f.len <= step);
            if i + 1 < plan.len() { prop_assert_eq!(f.len, step); }
            offset += f.len;
        }
        prop_assert_eq!(offset, size);
    }
}

#[test]
fn fragment_hasher_matches_the_plan_and_per_fragment_roots() {
    let data = xorshift(10_000, 3);
    for fragment in [1u64, 256, 1000, 1024, 4096, 9_999, 10_000, 16_384] {
        let mut hasher = FragmentHasher::with_threads(fragment, 0);
        for piece in data.chunks(777) {
            hasher.write_all(piece).unwrap();
        }
        let roots = hasher.finish().unwrap();
        let plan = plan_fragments(data.len() as u64, fragment).unwrap();
        let got: Vec<Fragment> = roots.iter().map(|r| r.fragment).collect();
        assert_eq!(got, plan, "fragment size {fragment}");
        for r in &roots {
            let bytes =
                &data[r.fragment.offset as usize..(r.fragment.offset + r.fragment.len) as usize];
            assert_eq!(r.root, root_of_bytes(bytes).unwrap());
        }
    }
    // Exactly one fragment's worth: one fragment, not a second empty one.
    let mut hasher = FragmentHasher::with_threads(1024, 0);
    hasher.update(&data[..1024]).unwrap();
    assert_eq!(hasher.finish().unwrap().len(), 1);
}

#[test]
fn fail_empty_input_everywhere() {
    assert!(matches!(root_of_bytes(&[]), Err(Error::EmptyFile)));
    assert!(matches!(
        RootHasher::with_threads(2).finish(),
        Err(Error::EmptyFile)
    ));
    assert!(matches!(
        FragmentHasher::new(1024).finish(),
        Err(Error::EmptyFile)
    ));
    assert!(matches!(plan_fragments(0, 1024), Err(Error::EmptyFile)));
    assert!(matches!(zg::FileLayout::new(0), Err(Error::EmptyFile)));
    assert!(Error::EmptyFile.to_string().contains("empty"));
}

#[test]
fn tee_writes_the_file_and_hashes_the_same_bytes() {
    let data = xorshift(3 * SEGMENT_SIZE + 5, 11);
    let mut tee = Tee::new(Vec::new(), RootHasher::new());
    for piece in data.chunks(65_536 + 7) {
        tee.write_all(piece).unwrap();
    }
    tee.flush().unwrap();
    let (written, hasher) = tee.into_inner();
    assert_eq!(written, data);
    assert_eq!(hasher.finish().unwrap(), root_of_bytes(&data).unwrap());
}

#[test]
fn hash_file_reads_from_disk_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    let data = xorshift(2 * SEGMENT_SIZE + 123, 5);
    std::fs::write(&path, &data).unwrap();
    let mut seen = 0;
    let roots = zg::hash_file(&path, zg::DEFAULT_FRAGMENT_SIZE, |n| seen += n).unwrap();
    assert_eq!(seen, data.len() as u64);
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].root, root_of_bytes(&data).unwrap());
    let missing = zg::hash_file(&dir.path().join("nope"), 1024, |_| {}).unwrap_err();
    assert!(matches!(missing, Error::Io { action: "open", .. }));
    assert!(missing.to_string().contains("nope"));
}
