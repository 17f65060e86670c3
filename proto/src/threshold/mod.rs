//! The threshold schemes that protect a file key K, and the combine step that names every
//! node whose contribution failed.
//!
//! Both combiners take `(node index, share bytes)` as responses arrive, verify each share
//! before keeping it (combining never checks anything), and stop being useful once
//! `needed` good shares are in: the client can ignore the slower nodes.

mod bls;
mod combine;
mod shamir;

pub use bls::{
    BLS_CAPSULE_LEN, BLS_CAPSULE_VERSION, BLS_COMMITMENT_LEN, BLS_IDENTITY_DST, BLS_LABEL_LEN,
    BLS_LABEL_TAG, BLS_PARTIAL_LEN, BLS_SECRET_SHARE_LEN, BlsCapsule, BlsCombiner, BlsKeySet,
    BlsPartial, BlsSecretShare, INFO_BLS_CAPSULE_KEY, MAX_BLS_KEY_SET_BYTES, deal_bls_key_set,
};
pub use combine::{Culprit, CulpritReason, Culprits, Recovered};
pub use shamir::{
    INFO_SHAMIR_FILE_KEY, MAX_SHAMIR_COMMITMENTS_BYTES, MIN_SHAMIR_SHARES_NEEDED,
    SHAMIR_COMMITMENT_LEN, SHAMIR_SHARE_LEN, ShamirCombiner, ShamirCommitments, ShamirShare,
    ShamirSplit, UncheckedCommitments, split_new_file_key,
};

/// Most nodes a key set or a split may have.
pub const MAX_NODES: usize = 256;
