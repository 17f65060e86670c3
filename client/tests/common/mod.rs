//! Shared by the integration tests: data generators (the same as `scripts/zg-sdk-root.mjs`)
//! and a deliberately naive reference implementation of the 0G file tree.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::PathBuf;

use alloy::primitives::B256;
use tiny_keccak::{Hasher, Keccak};

/// `byte[i] = (i*31 + 7) % 251`: the pattern of the shared vectors.
pub fn mod251(size: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

/// Little-endian xorshift32 words, state starting at `seed` (0 means 0x9e3779b9).
pub fn xorshift(size: usize, seed: u32) -> Vec<u8> {
    let mut x = if seed == 0 { 0x9e37_79b9 } else { seed };
    let mut out = Vec::with_capacity(size + 4);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// Bytes for a pattern name as used in the TSV vectors and the SDK script.
pub fn generate(size: usize, pattern: &str, seed: u32) -> Vec<u8> {
    match pattern {
        "mod251" => mod251(size),
        "zeros" => vec![0; size],
        "xorshift" => xorshift(size, seed),
        other => panic!("unknown pattern {other}"),
    }
}

pub fn b256(hex: &str) -> B256 {
    hex.parse()
        .unwrap_or_else(|e| panic!("bad hash {hex}: {e}"))
}

/// The repository root: the nearest folder above the crate with the workspace's
/// `Cargo.lock` (this file serves the client's and the CLI's tests).
pub fn repo_root() -> PathBuf {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or_else(|| panic!("no Cargo.lock above {}", crate_dir.display()))
        .to_owned()
}

/// The client's known-answer vectors.
pub fn vectors_dir() -> PathBuf {
    repo_root().join("client/tests/vectors")
}

// ---------------------------------------------------------------------------------------
// Naive reference, written from the prose of the protocol notes and sharing no code with
// the library (not even its keccak backend): pad, hash every chunk, build trees level by
// level with odd promotion.

pub fn keccak(data: &[u8]) -> B256 {
    let mut k = Keccak::v256();
    k.update(data);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    B256::from(out)
}

fn pair(a: &B256, b: &B256) -> B256 {
    keccak(&[a.as_slice(), b.as_slice()].concat())
}

pub fn naive_padded_chunks(size: u64) -> u64 {
    let chunks = size.div_ceil(256);
    let mut p = 1;
    while p < chunks {
        p *= 2;
    }
    if p == chunks {
        return chunks;
    }
    let min = if p >= 16 { p / 16 } else { 1 };
    chunks.div_ceil(min) * min
}

/// Every level of an odd-promotion tree, leaves first.
pub fn odd_promotion_levels(leaves: Vec<B256>) -> Vec<Vec<B256>> {
    let mut levels = vec![leaves];
    while levels.last().unwrap().len() > 1 {
        let level = levels.last().unwrap();
        let mut next = Vec::new();
        let mut i = 0;
        while i < level.len() {
            if i + 1 < level.len() {
                next.push(pair(&level[i], &level[i + 1]));
            } else {
                next.push(level[i]);
            }
            i += 2;
        }
        levels.push(next);
    }
    levels
}

pub fn odd_promotion_root(leaves: Vec<B256>) -> B256 {
    odd_promotion_levels(leaves).last().unwrap()[0]
}

#[derive(Debug, PartialEq, Eq)]
pub struct Naive {
    pub root: B256,
    pub nodes: Vec<(B256, u64)>,
    pub segment_roots: Vec<B256>,
    pub padded_chunks: u64,
}

pub fn naive(data: &[u8]) -> Naive {
    let padded = naive_padded_chunks(data.len() as u64) as usize;
    let leaves: Vec<B256> = (0..padded)
        .map(|i| {
            let mut chunk = [0u8; 256];
            let start = (i * 256).min(data.len());
            let end = (i * 256 + 256).min(data.len());
            chunk[..end - start].copy_from_slice(&data[start..end]);
            keccak(&chunk)
        })
        .collect();
    let segment_roots: Vec<B256> = leaves
        .chunks(1024)
        .map(|seg| odd_promotion_root(seg.to_vec()))
        .collect();
    let root = odd_promotion_root(segment_roots.clone());
    let mut nodes = Vec::new();
    let mut offset = 0;
    for h in (0..64).rev() {
        if padded & (1 << h) != 0 {
            let width = 1 << h;
            nodes.push((
                odd_promotion_root(leaves[offset..offset + width].to_vec()),
                h as u64,
            ));
            offset += width;
        }
    }
    Naive {
        root,
        nodes,
        segment_roots,
        padded_chunks: padded as u64,
    }
}

/// The proof of leaf `index` in the odd-promotion tree, from its levels.
pub fn naive_proof(levels: &[Vec<B256>], mut index: usize) -> (Vec<B256>, Vec<bool>) {
    let root = levels.last().unwrap()[0];
    if levels[0].len() == 1 {
        return (vec![root], vec![]);
    }
    let mut lemma = vec![levels[0][index]];
    let mut path = vec![];
    for level in &levels[..levels.len() - 1] {
        if index.is_multiple_of(2) {
            if index + 1 < level.len() {
                lemma.push(level[index + 1]);
                path.push(true);
            }
        } else {
            lemma.push(level[index - 1]);
            path.push(false);
        }
        index /= 2;
    }
    lemma.push(root);
    (lemma, path)
}
