//! How 0G Storage lays a file out: chunks, flow padding, segments, submission heights.
//!
//! Pure arithmetic on the file size, shared by the hasher, the proof builder and the
//! uploader, so that all of them agree on where every byte goes.

use std::ops::Range;

use crate::error::Error;

/// One chunk ("entry", "sector"): the leaf of every 0G Merkle tree.
pub const CHUNK_SIZE: usize = 256;
/// Chunks per segment. Node operators can change it, but every client hard-codes 1024.
pub const SEGMENT_CHUNKS: usize = 1024;
/// One segment: the unit of upload, download and proof (256 KiB).
pub const SEGMENT_SIZE: usize = CHUNK_SIZE * SEGMENT_CHUNKS;
/// Height of a full segment's perfect tree (2^10 chunks).
pub const SEGMENT_HEIGHT: u32 = 10;
/// Default fragment size of the official clients (4 GiB): a larger file is uploaded as
/// several independent 0G files.
pub const DEFAULT_FRAGMENT_SIZE: u64 = 4 << 30;

const CHUNK: u64 = CHUNK_SIZE as u64;
const SEGMENT: u64 = SEGMENT_SIZE as u64;
const SEG_CHUNKS: u64 = SEGMENT_CHUNKS as u64;

/// The geometry of one 0G file of `size` bytes (§1.2 of the protocol notes).
///
/// Every count is derived from `size`; building one is free, so functions take a size
/// and build the layout where they need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLayout {
    size: u64,
    chunks: u64,
    padded_chunks: u64,
}

impl FileLayout {
    /// The layout of a file of `size` bytes. An empty file has none: 0G refuses it.
    pub fn new(size: u64) -> Result<Self, Error> {
        if size == 0 {
            return Err(Error::EmptyFile);
        }
        let chunks = size.div_ceil(CHUNK);
        Ok(Self {
            size,
            chunks,
            padded_chunks: flow_padded_chunks(chunks),
        })
    }

    /// File size in bytes, unpadded (the submission's `length`).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `ceil(size / 256)`.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Chunk count after flow padding: the number of leaves of the file tree, and the
    /// number of sectors the fee is charged for.
    pub fn padded_chunks(&self) -> u64 {
        self.padded_chunks
    }

    /// Segments of the padded file: the leaves of the segment-proof tree.
    pub fn segments_in_tree(&self) -> u64 {
        self.padded_chunks.div_ceil(SEG_CHUNKS)
    }

    /// Segments that carry real data: the ones an uploader sends.
    pub fn segments_uploaded(&self) -> u64 {
        self.size.div_ceil(SEGMENT)
    }

    /// Chunks of padded segment `index` (its leaf count in the tree): 1024, except the last
    /// segment of the padded file, which is not padded to a full segment.
    pub fn segment_chunks(&self, index: u64) -> Result<u64, Error> {
        let segments = self.segments_in_tree();
        if index >= segments {
            return Err(Error::SegmentOutOfRange { index, segments });
        }
        Ok((self.padded_chunks - index * SEG_CHUNKS).min(SEG_CHUNKS))
    }

    /// Byte range of the file that segment `index` uploads. The node wants whole chunks, so
    /// the uploader zero-fills the range past `size` up to `range.end` (at most 255 bytes).
    pub fn upload_range(&self, index: u64) -> Result<Range<u64>, Error> {
        let segments = self.segments_uploaded();
        if index >= segments {
            return Err(Error::SegmentOutOfRange { index, segments });
        }
        let start = index * SEGMENT;
        // Saturating: a size within 255 bytes of u64::MAX rounds up past it.
        Ok(start
            ..start
                .saturating_add(SEGMENT)
                .min(self.chunks.saturating_mul(CHUNK)))
    }

    /// Heights of the submission nodes: the set bits of `padded_chunks`, high to low.
    pub fn node_heights(&self) -> impl Iterator<Item = u32> + use<> {
        let padded = self.padded_chunks;
        (0..u64::BITS).rev().filter(move |h| padded & (1 << h) != 0)
    }
}

/// The minimal flow padding the Flow contract insists on: round `chunks` up to a multiple
/// of `nextPow2(chunks) / 16` (or leave it alone when it is a power of two or < 16).
pub fn flow_padded_chunks(chunks: u64) -> u64 {
    if chunks == 0 {
        return 0;
    }
    // chunks <= 2^56 for any u64 size, so the power of two cannot overflow.
    let p = chunks.next_power_of_two();
    if p == chunks {
        return chunks;
    }
    let min_chunk = if p >= 16 { p / 16 } else { 1 };
    chunks.div_ceil(min_chunk) * min_chunk
}

/// Normalise a fragment size the way the official clients do: at least one chunk, then
/// rounded up to a power of two.
pub fn normalize_fragment_size(fragment_size: u64) -> u64 {
    let at_least_chunk = fragment_size.max(CHUNK);
    at_least_chunk
        .checked_next_power_of_two()
        .unwrap_or(1 << 63)
}

/// One fragment of a large file: uploaded as its own 0G file with its own root and tx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Fragment {
    /// Position in the list of fragments (and of roots).
    pub index: u64,
    /// Offset of the fragment's first byte in the whole file.
    pub offset: u64,
    /// Fragment length in bytes (the submission `length` of that 0G file).
    pub len: u64,
}

/// Split a file of `size` bytes into fragments of `fragment_size` (normalised first, see
/// [`normalize_fragment_size`]). A file no larger than the fragment size is one fragment;
/// otherwise every fragment is full except the last, as in the Go and TS clients.
pub fn plan_fragments(size: u64, fragment_size: u64) -> Result<Vec<Fragment>, Error> {
    if size == 0 {
        return Err(Error::EmptyFile);
    }
    let step = normalize_fragment_size(fragment_size);
    let count = size.div_ceil(step);
    Ok((0..count)
        .map(|index| {
            let offset = index * step;
            Fragment {
                index,
                offset,
                len: (size - offset).min(step),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_examples_from_the_notes() {
        for (chunks, padded) in [
            (1, 1),
            (3, 3),
            (15, 15),
            (17, 18),
            (1025, 1152),
            (4097, 4608),
        ] {
            assert_eq!(flow_padded_chunks(chunks), padded, "chunks {chunks}");
        }
        assert_eq!(flow_padded_chunks(16433), 18432);
        assert_eq!(flow_padded_chunks(1172), 1280);
    }

    #[test]
    fn segments_of_a_file_with_a_zero_padding_segment() {
        let layout = FileLayout::new(4_206_649).unwrap();
        assert_eq!(layout.segments_in_tree(), 18);
        assert_eq!(layout.segments_uploaded(), 17);
        assert_eq!(layout.segment_chunks(17).unwrap(), 1024);
        assert_eq!(layout.upload_range(16).unwrap(), 16 * 262_144..16_433 * 256);
        assert!(layout.upload_range(17).is_err());
        assert_eq!(layout.node_heights().collect::<Vec<_>>(), vec![14, 11]);
    }

    #[test]
    fn extreme_sizes_do_not_overflow() {
        let layout = FileLayout::new(u64::MAX).unwrap();
        assert_eq!(layout.chunks(), 1 << 56);
        assert_eq!(layout.padded_chunks(), 1 << 56);
        let last = layout.segments_uploaded() - 1;
        assert_eq!(layout.upload_range(last).unwrap().end, u64::MAX);
        assert_eq!(layout.node_heights().collect::<Vec<_>>(), vec![56]);
        assert_eq!(plan_fragments(u64::MAX, u64::MAX).unwrap().len(), 2);
    }

    #[test]
    fn fragment_size_is_normalised() {
        assert_eq!(normalize_fragment_size(0), 256);
        assert_eq!(normalize_fragment_size(1000), 1024);
        assert_eq!(
            normalize_fragment_size(DEFAULT_FRAGMENT_SIZE),
            DEFAULT_FRAGMENT_SIZE
        );
        assert_eq!(normalize_fragment_size(u64::MAX), 1 << 63);
    }
}
