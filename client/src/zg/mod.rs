//! 0G Storage, offline core: file Merkle roots, submissions, segments and their proofs,
//! `Flow.submit` calldata, and fragment planning, byte-identical to the official SDKs.
//!
//! A file is cut into 256-byte chunks, flow-padded, and hashed with keccak256 into a tree
//! whose root (`rootHash`) names the file on 0G. The submission describes the padded file
//! as at most four perfect subtrees; uploads carry 256 KiB segments with proofs over the
//! tree of segment roots. See `shared/reference/0g-protocol.md` §1–2 for the rules.
//!
//! ```
//! use zgvault_client::zg::{RootHasher, root_of_bytes};
//! use std::io::Write;
//!
//! let mut hasher = RootHasher::new();
//! hasher.write_all(b"hello 0G")?;
//! let root = hasher.finish()?;
//! assert_eq!(root.root(), root_of_bytes(b"hello 0G")?.root());
//! assert_eq!(root.nodes().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod abi;
mod fragment;
mod hash;
mod hasher;
mod layout;
mod proof;
mod root;
mod submission;
mod tee;

pub use fragment::{FragmentHasher, FragmentRoot, hash_file};
pub use hash::{chunk_hash, hash_pair, keccak256, segment_root, zero_hash};
pub use hasher::{MAX_DEFAULT_HASH_THREADS, RootHasher};
pub use layout::{
    CHUNK_SIZE, DEFAULT_FRAGMENT_SIZE, FileLayout, Fragment, SEGMENT_CHUNKS, SEGMENT_HEIGHT,
    SEGMENT_SIZE, flow_padded_chunks, normalize_fragment_size, plan_fragments,
};
pub use proof::{SegmentProof, SegmentTree};
pub use root::{FileRoot, root_of_bytes};
pub use submission::{SUBMIT_SELECTOR, Submission, SubmissionNode};
pub use tee::Tee;
