//! The result of hashing one 0G file: root, submission nodes, segment roots.

use alloy::primitives::{B256, Bytes};

use super::{
    hash::{self, Piece, SegmentHash},
    layout::{FileLayout, SEGMENT_HEIGHT},
    proof::{SegmentProof, SegmentTree},
    submission::{Submission, SubmissionNode},
};
use crate::error::Error;

/// Everything 0G needs to know about one file's bytes: its `rootHash`, the submission
/// nodes, and the segment roots (the leaves of the proof tree) for uploads.
///
/// Produced by [`super::RootHasher::finish`] or [`root_of_bytes`]. It holds 32 bytes per
/// 256 KiB segment (512 KiB for a 4 GiB fragment), never the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRoot {
    root: B256,
    layout: FileLayout,
    nodes: Vec<SubmissionNode>,
    segment_roots: Vec<B256>,
}

impl FileRoot {
    /// Assemble the result from the roots of every segment of the padded file, in order,
    /// and the hash of the last segment (whose pieces are the nodes below height 10 when
    /// that segment is partial).
    pub(crate) fn assemble(
        layout: FileLayout,
        segment_roots: Vec<B256>,
        last: &SegmentHash,
    ) -> Result<Self, Error> {
        let mut nodes = Vec::with_capacity(4);
        let mut offset = 0usize;
        for height in layout.node_heights() {
            if height >= SEGMENT_HEIGHT {
                // Nodes of a segment or more cover whole, aligned segments.
                let width = 1usize << (height - SEGMENT_HEIGHT);
                let mut scratch = segment_roots
                    .get(offset..offset + width)
                    .ok_or(Error::Internal {
                        what: "too few segment roots for the nodes",
                    })?
                    .to_vec();
                nodes.push(SubmissionNode {
                    root: hash::perfect_root_in_place(&mut scratch),
                    height: u64::from(height),
                });
                offset += width;
            } else {
                // Smaller nodes all lie in the last, partial segment: take its pieces.
                let piece = last
                    .pieces
                    .iter()
                    .find(|p: &&Piece| p.height == height)
                    .ok_or(Error::Internal {
                        what: "last segment lacks a node's piece",
                    })?;
                nodes.push(SubmissionNode {
                    root: piece.root,
                    height: u64::from(height),
                });
            }
        }
        let root = hash::fold_right(nodes.iter().map(|n| n.root)).ok_or(Error::EmptyFile)?;
        Ok(Self {
            root,
            layout,
            nodes,
            segment_roots,
        })
    }

    /// The file's Merkle root: 0G's `rootHash`.
    pub fn root(&self) -> B256 {
        self.root
    }

    /// Chunk and segment geometry.
    pub fn layout(&self) -> &FileLayout {
        &self.layout
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.layout.size()
    }

    /// Chunks after flow padding.
    pub fn padded_chunks(&self) -> u64 {
        self.layout.padded_chunks()
    }

    /// Sectors charged for: equal to the padded chunk count.
    pub fn fee_sectors(&self) -> u64 {
        self.layout.padded_chunks()
    }

    /// Submission nodes, largest first.
    pub fn nodes(&self) -> &[SubmissionNode] {
        &self.nodes
    }

    /// Roots of the padded file's segments: the leaves of the proof tree.
    pub fn segment_roots(&self) -> &[B256] {
        &self.segment_roots
    }

    /// The `Flow.submit` data for this file with `tags` (usually empty).
    pub fn submission(&self, tags: Bytes) -> Submission {
        Submission {
            length: self.size(),
            tags,
            nodes: self.nodes.clone(),
        }
    }

    /// The proof tree over the segment roots. Build it once per upload, then ask it for
    /// each segment's proof.
    pub fn segment_tree(&self) -> Result<SegmentTree, Error> {
        SegmentTree::new(self.segment_roots.clone())
    }

    /// The proof of one segment (builds the tree; use [`FileRoot::segment_tree`] for many).
    pub fn segment_proof(&self, index: u64) -> Result<SegmentProof, Error> {
        self.segment_tree()?.proof(index)
    }

    /// The leaf a downloaded or uploaded segment must hash to: `data` is what the node
    /// sends for segment `index` (whole chunks of real data, the last one zero-filled), and
    /// it is re-padded with zero chunks to the segment's size in the padded file.
    pub fn segment_root_of(&self, index: u64, data: &[u8]) -> Result<B256, Error> {
        let range = self.layout.upload_range(index)?;
        let expected = range.end - range.start;
        if data.len() as u64 != expected {
            return Err(Error::SegmentLength {
                index,
                file_size: self.size(),
                expected,
                got: data.len() as u64,
            });
        }
        Ok(hash::segment_root(data, self.layout.segment_chunks(index)?))
    }
}

/// The root of an in-memory file. Hashes on the calling thread; for large data stream it
/// through [`super::RootHasher`], which uses the other cores.
pub fn root_of_bytes(data: &[u8]) -> Result<FileRoot, Error> {
    let mut hasher = super::RootHasher::with_threads(0);
    hasher.update(data)?;
    hasher.finish()
}
