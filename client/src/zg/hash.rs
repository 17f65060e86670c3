//! Keccak-256 and the hashing of one segment: leaf hashes, then a Merkle tree.
//!
//! `alloy` is built with `asm-keccak` (CRYPTOGAMS assembly): on the 2-core dev machine it
//! hashes 256-byte chunks about 20% faster than `tiny-keccak` or `sha3` (583 vs 482 MiB/s),
//! and hashing is the whole cost of a root. See `docs/benchmarks.md`.

use std::sync::OnceLock;

use alloy::primitives::{B256, utils::keccak256_uncached};

use super::layout::{CHUNK_SIZE, SEGMENT_CHUNKS, SEGMENT_HEIGHT};

/// Largest zero-subtree height we tabulate: a tree over all 2^63 chunks a u64 can count.
const MAX_ZERO_HEIGHT: usize = 63;

/// Keccak-256 of `data` (Ethereum Keccak, not NIST SHA3-256).
///
/// The uncached variant on purpose: a workspace crate enabling alloy's global keccak cache
/// must not put a lock and a lookup in front of every chunk we hash.
#[inline]
pub fn keccak256(data: &[u8]) -> B256 {
    keccak256_uncached(data)
}

/// Inner node of every 0G tree: `keccak256(left ‖ right)`, no prefix.
#[inline]
pub fn hash_pair(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left.as_slice());
    buf[32..].copy_from_slice(right.as_slice());
    keccak256(&buf)
}

/// `Z[h]`: the root of 2^h zero chunks. `Z[0] = keccak256(256 zero bytes)`.
///
/// Heights past 63 cannot occur (chunk counts are u64); they return `Z[63]`.
pub fn zero_hash(height: u32) -> B256 {
    static TABLE: OnceLock<[B256; MAX_ZERO_HEIGHT + 1]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [B256::ZERO; MAX_ZERO_HEIGHT + 1];
        table[0] = keccak256(&[0u8; CHUNK_SIZE]);
        for h in 1..table.len() {
            table[h] = hash_pair(&table[h - 1], &table[h - 1]);
        }
        table
    });
    let h = usize::try_from(height)
        .unwrap_or(MAX_ZERO_HEIGHT)
        .min(MAX_ZERO_HEIGHT);
    table[h]
}

/// Leaf hash of one chunk; a short final chunk is zero-filled to 256 bytes first.
#[inline]
pub fn chunk_hash(chunk: &[u8]) -> B256 {
    if chunk.len() == CHUNK_SIZE {
        keccak256(chunk)
    } else {
        let mut padded = [0u8; CHUNK_SIZE];
        let n = chunk.len().min(CHUNK_SIZE);
        padded[..n].copy_from_slice(&chunk[..n]);
        keccak256(&padded)
    }
}

/// A perfect subtree: `2^height` leaves under `root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) root: B256,
    pub(crate) height: u32,
}

/// The perfect subtrees of one padded segment, largest first, and its root.
///
/// `data` holds the segment's real bytes (empty for a segment made only of flow padding);
/// `chunks` is the segment's leaf count in the padded file (1024, or fewer for the last
/// segment). Chunks past `data` are zero chunks, whose leaf is `Z[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentHash {
    pub(crate) root: B256,
    /// Binary decomposition of `chunks`, high to low: these are the submission nodes that
    /// fall inside this segment when it is the last, partial one.
    pub(crate) pieces: Vec<Piece>,
}

/// Hash one segment: leaf hashes, then an odd-promotion tree over them.
///
/// An odd-promotion tree over `n` leaves equals the right fold of the perfect trees of the
/// binary decomposition of `n`, so building those pieces gives the root and the nodes at once.
pub(crate) fn hash_segment(data: &[u8], chunks: usize) -> SegmentHash {
    let chunks = chunks.clamp(1, SEGMENT_CHUNKS);
    if data.is_empty() {
        // A segment made only of flow padding: every piece is a zero subtree.
        let pieces: Vec<Piece> = (0..=SEGMENT_HEIGHT)
            .rev()
            .filter(|h| chunks & (1 << h) != 0)
            .map(|height| Piece {
                root: zero_hash(height),
                height,
            })
            .collect();
        let root = fold_right(pieces.iter().map(|p| p.root)).unwrap_or(zero_hash(0));
        return SegmentHash { root, pieces };
    }
    let mut leaves = [B256::ZERO; SEGMENT_CHUNKS];
    let mut filled = 0;
    for (leaf, chunk) in leaves.iter_mut().zip(data.chunks(CHUNK_SIZE)).take(chunks) {
        *leaf = chunk_hash(chunk);
        filled += 1;
    }
    let zero = zero_hash(0);
    for leaf in leaves.iter_mut().take(chunks).skip(filled) {
        *leaf = zero;
    }

    let mut pieces = Vec::with_capacity(4);
    let mut offset = 0;
    for height in (0..=SEGMENT_HEIGHT).rev() {
        let width = 1usize << height;
        if chunks & width == 0 {
            continue;
        }
        let root = perfect_root_in_place(&mut leaves[offset..offset + width]);
        pieces.push(Piece { root, height });
        offset += width;
    }
    let root = fold_right(pieces.iter().map(|p| p.root)).unwrap_or(zero);
    SegmentHash { root, pieces }
}

/// Root of one segment as the proof tree sees it: `data` (the segment's real bytes; a short
/// last chunk is zero-filled) re-padded with zero chunks to `chunks` leaves, its size in the
/// padded file ([`super::FileLayout::segment_chunks`]). Chunks past `chunks` (at most 1024)
/// are ignored, so check the data length first ([`super::FileLayout::upload_range`]).
pub fn segment_root(data: &[u8], chunks: u64) -> B256 {
    hash_segment(data, usize::try_from(chunks).unwrap_or(SEGMENT_CHUNKS)).root
}

/// Root of a perfect tree over `level` (a power-of-two count), reusing the slice as scratch.
pub(crate) fn perfect_root_in_place(level: &mut [B256]) -> B256 {
    let mut len = level.len();
    while len > 1 {
        for i in 0..len / 2 {
            level[i] = hash_pair(&level[2 * i], &level[2 * i + 1]);
        }
        len /= 2;
    }
    level.first().copied().unwrap_or(B256::ZERO)
}

/// `H(n0, H(n1, … H(n_{k-2}, n_{k-1})))`: how the node derives a file root from the
/// submission nodes. `None` for no nodes.
pub(crate) fn fold_right(roots: impl DoubleEndedIterator<Item = B256>) -> Option<B256> {
    let mut roots = roots.rev();
    let last = roots.next()?;
    Some(roots.fold(last, |acc, left| hash_pair(&left, &acc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_hashes_are_roots_of_zero_chunks() {
        assert_eq!(
            zero_hash(0).to_string(),
            "0xd397b3b043d87fcd6fad1291ff0bfd16401c274896d8c63a923727f077b8e0b5"
        );
        let all_zero = hash_segment(&[0u8; 1024 * 256], 1024);
        assert_eq!(all_zero.root, zero_hash(10));
        assert_eq!(hash_segment(&[], 1024).root, zero_hash(10));
        assert_eq!(zero_hash(1000), zero_hash(63));
    }

    #[test]
    fn partial_segment_pieces_follow_the_binary_decomposition() {
        let seg = hash_segment(&[7u8; 300], 384);
        let heights: Vec<u32> = seg.pieces.iter().map(|p| p.height).collect();
        assert_eq!(heights, vec![8, 7]);
        assert_eq!(seg.pieces[1].root, zero_hash(7));
    }
}
