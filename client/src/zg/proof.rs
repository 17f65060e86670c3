//! Segment proofs: the odd-promotion tree over segment roots that uploads and downloads
//! carry proofs in (§1.5 of the protocol notes).

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};

use super::hash::hash_pair;
use crate::error::{Error, ProofError};

/// Proof that a segment root belongs to a file root, in the JSON shape of `zgs_*` RPCs.
///
/// `lemma = [leaf, sibling_1, …, sibling_k, root]` (siblings bottom to top) and
/// `path[i] = true` when the node at level i is the left child. A single-segment file has
/// `lemma = [root]` and an empty path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentProof {
    /// Leaf, siblings bottom to top, root.
    pub lemma: Vec<B256>,
    /// One entry per sibling: is the running node the left child?
    pub path: Vec<bool>,
}

/// The tree over a file's segment roots, with every level kept so proofs are cheap.
///
/// Levels pair nodes left to right and carry an odd last node up unchanged: the rule of
/// the Go and TS clients and of the storage node, which differs from the zero-padded
/// flow tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentTree {
    /// `levels[0]` are the segment roots, the last level is `[root]`.
    levels: Vec<Vec<B256>>,
}

impl SegmentTree {
    /// Build the tree over `segment_roots` (the segments of the *padded* file).
    pub fn new(segment_roots: Vec<B256>) -> Result<Self, Error> {
        if segment_roots.is_empty() {
            return Err(Error::EmptyFile);
        }
        let mut levels = vec![segment_roots];
        while let Some(level) = levels.last().filter(|l| l.len() > 1) {
            let next = level
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => hash_pair(left, right),
                    [single] => *single,
                    _ => B256::ZERO, // chunks(2) yields 1 or 2 items
                })
                .collect();
            levels.push(next);
        }
        Ok(Self { levels })
    }

    /// The file root.
    pub fn root(&self) -> B256 {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or(B256::ZERO)
    }

    /// The segment roots (leaves).
    pub fn leaves(&self) -> &[B256] {
        self.levels.first().map(Vec::as_slice).unwrap_or(&[])
    }

    /// The proof for segment `index`, as the official uploader builds it.
    pub fn proof(&self, index: u64) -> Result<SegmentProof, Error> {
        let leaves = self.leaves();
        let segments = leaves.len() as u64;
        let out_of_range = Error::SegmentOutOfRange { index, segments };
        let mut i =
            usize::try_from(index).map_err(|_| Error::SegmentOutOfRange { index, segments })?;
        let Some(&leaf) = leaves.get(i) else {
            return Err(out_of_range);
        };
        if leaves.len() == 1 {
            return Ok(SegmentProof {
                lemma: vec![leaf],
                path: Vec::new(),
            });
        }
        let mut lemma = vec![leaf];
        let mut path = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let is_left = i % 2 == 0;
            let sibling = if is_left {
                level.get(i + 1)
            } else {
                level.get(i - 1)
            };
            // No sibling: the node is promoted and the level adds nothing to the proof.
            if let Some(sibling) = sibling {
                lemma.push(*sibling);
                path.push(is_left);
            }
            i /= 2;
        }
        lemma.push(self.root());
        Ok(SegmentProof { lemma, path })
    }
}

impl SegmentProof {
    /// Check that `leaf` (a segment root) is segment `index` of the `num_leaves`-segment
    /// file whose root is `root`: hashes, the lemma's ends, and the position the path
    /// encodes (as the storage node and the SDKs do).
    pub fn verify(
        &self,
        root: &B256,
        leaf: &B256,
        index: u64,
        num_leaves: u64,
    ) -> Result<(), Error> {
        self.check(root, leaf, index, num_leaves)
            .map_err(|reason| Error::InvalidProof { index, reason })
    }

    fn check(
        &self,
        root: &B256,
        leaf: &B256,
        index: u64,
        num_leaves: u64,
    ) -> Result<(), ProofError> {
        let (Some(first), Some(claimed)) = (self.lemma.first(), self.lemma.last()) else {
            return Err(ProofError::EmptyLemma);
        };
        let shape_ok = if self.path.is_empty() {
            self.lemma.len() == 1
        } else {
            self.lemma.len() == self.path.len() + 2
        };
        if !shape_ok {
            return Err(ProofError::Shape {
                lemma: self.lemma.len(),
                path: self.path.len(),
            });
        }
        if first != leaf {
            return Err(ProofError::LeafMismatch {
                expected: *leaf,
                got: *first,
            });
        }
        let siblings = self
            .lemma
            .get(1..self.lemma.len().saturating_sub(1))
            .unwrap_or(&[]);
        let computed = self
            .path
            .iter()
            .zip(siblings)
            .fold(*first, |h, (&is_left, sib)| {
                if is_left {
                    hash_pair(&h, sib)
                } else {
                    hash_pair(sib, &h)
                }
            });
        if computed != *claimed {
            return Err(ProofError::PathMismatch {
                computed,
                claimed: *claimed,
            });
        }
        if claimed != root {
            return Err(ProofError::RootMismatch {
                expected: *root,
                got: *claimed,
            });
        }
        let position = position_of(&self.path, num_leaves);
        if position != Some(index) {
            return Err(ProofError::Position {
                expected: index,
                got: position.unwrap_or(u64::MAX),
                leaves: num_leaves,
            });
        }
        Ok(())
    }
}

/// The leaf index a path encodes in an odd-promotion tree of `num_leaves` leaves, walking
/// from the top: the left subtree of `n` leaves always holds `nextPow2(n) / 2` of them.
/// `None` if the path does not end on a single leaf.
fn position_of(path: &[bool], num_leaves: u64) -> Option<u64> {
    let mut n = num_leaves;
    let mut pos = 0u64;
    for &is_left in path.iter().rev() {
        if n <= 1 {
            return None;
        }
        let half = n.checked_next_power_of_two()? / 2;
        if is_left {
            n = half;
        } else {
            pos += half;
            n -= half;
        }
    }
    (n == 1).then_some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u8) -> Vec<B256> {
        (0..n).map(|i| B256::repeat_byte(i + 1)).collect()
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies() {
        for n in 1..=40u8 {
            let tree = SegmentTree::new(leaves(n)).unwrap();
            for i in 0..u64::from(n) {
                let proof = tree.proof(i).unwrap();
                let leaf = tree.leaves()[i as usize];
                proof.verify(&tree.root(), &leaf, i, u64::from(n)).unwrap();
                if n > 1 {
                    let other = (i + 1) % u64::from(n);
                    assert!(
                        proof
                            .verify(&tree.root(), &leaf, other, u64::from(n))
                            .is_err()
                    );
                }
            }
            assert!(tree.proof(u64::from(n)).is_err());
        }
    }

    #[test]
    fn fail_garbage_proofs_are_errors_not_panics() {
        let root = B256::repeat_byte(9);
        let cases = [
            SegmentProof {
                lemma: vec![],
                path: vec![],
            },
            SegmentProof {
                lemma: vec![root],
                path: vec![true],
            },
            SegmentProof {
                lemma: vec![root, root],
                path: vec![],
            },
            SegmentProof {
                lemma: vec![root; 3],
                path: vec![true; 3],
            },
        ];
        for proof in cases {
            assert!(proof.verify(&root, &root, 0, 1).is_err());
            assert!(proof.verify(&root, &root, u64::MAX, u64::MAX).is_err());
            assert!(proof.verify(&root, &root, 0, 0).is_err());
        }
        assert_eq!(position_of(&[false; 70], u64::MAX), None);
    }
}
