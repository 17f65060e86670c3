//! The attacker's side of the capsule-transplant attack (security issue, finding 1), shared
//! by the proto-level test (`proto/tests/transplant.rs`) and the devnet test against real
//! node processes (`testnet/tests/transplant.rs`).
//!
//! The attack on the first BLS design: file A's capsule is registered again under a file B
//! that the attacker owns (or `setCapsule`d onto it), so every node's gate admits the
//! attacker for B and each node answers with its share for B. Under that design a node's
//! share for file F was `U^(s_i · h(F))`, with `h(F)` a public scalar, so multiplying B's
//! shares by `h(A) / h(B)` turned them into valid shares for A. The attacker here tries that
//! rescaling, and also the shares unchanged, against A's capsule: whatever the nodes send,
//! it must recover nothing.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use alloy_primitives::keccak256;
use blsttc::{
    Fr, G1Affine, G2Affine,
    group::{Curve, ff::Field},
};
use zgvault_proto::{
    FileKey,
    request::FileRef,
    threshold::{BlsCapsule, BlsKeySet},
};

/// The hash-to-field domain blsttc's `derive_child` used: public, so the attacker has it.
const DERIVATION_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_";

/// The public per-file scalar of the first design: hash-to-field of
/// `keccak(chainId ‖ registry ‖ fileId)`.
pub fn derivation_scalar(file: &FileRef) -> Fr {
    let mut buf = [0u8; 32 + 20 + 32];
    buf[24..32].copy_from_slice(&file.chain_id.to_be_bytes());
    buf[32..52].copy_from_slice(file.registry.as_slice());
    buf[52..].copy_from_slice(file.file_id.as_slice());
    let index = keccak256(buf);
    let scalar = blst::blst_scalar::hash_to(index.as_slice(), DERIVATION_DST).unwrap();
    Option::<Fr>::from(Fr::from_bytes_le(&scalar.b)).unwrap()
}

/// Multiplies a node's share for `from` by `h(to) / h(from)`, whatever group it is in
/// (a compressed G1 or G2 point); anything else is returned unchanged.
pub fn rescale(share: &[u8], from: &FileRef, to: &FileRef) -> Vec<u8> {
    let factor = derivation_scalar(to) * derivation_scalar(from).invert().unwrap();
    if let Ok(bytes) = <[u8; 48]>::try_from(share)
        && let Some(point) = Option::<G1Affine>::from(G1Affine::from_compressed(&bytes))
    {
        return (point * factor).to_affine().to_compressed().to_vec();
    }
    if let Ok(bytes) = <[u8; 96]>::try_from(share)
        && let Some(point) = Option::<G2Affine>::from(G2Affine::from_compressed(&bytes))
    {
        return (point * factor).to_affine().to_compressed().to_vec();
    }
    share.to_vec()
}

/// Feeds `shares` to a combiner for `file`'s `capsule` and returns the key it recovers,
/// if it recovers one. Shares the combiner refuses are skipped, as an attacker would.
pub fn try_combine(
    keys: &BlsKeySet,
    file: &FileRef,
    capsule: &BlsCapsule,
    shares: &[(u32, Vec<u8>)],
) -> Option<FileKey> {
    let mut combiner = keys.combiner(file, capsule, shares.len());
    for (index, share) in shares {
        let _ = combiner.add(*index, share);
    }
    if !combiner.is_ready() {
        return None;
    }
    combiner.finish().ok().map(|recovered| recovered.key)
}

/// Every way the attacker combines the shares it got for `attacker_file` (where the
/// victim's capsule was registered) against the victim's file: the shares as they are,
/// and rescaled from the attacker's file to the victim's. Returns the key of the first
/// attempt that recovers one.
pub fn transplant_attempts(
    keys: &BlsKeySet,
    victim_file: &FileRef,
    victim_capsule: &BlsCapsule,
    attacker_file: &FileRef,
    shares_for_attacker_file: &[(u32, Vec<u8>)],
) -> Option<FileKey> {
    let rescaled: Vec<(u32, Vec<u8>)> = shares_for_attacker_file
        .iter()
        .map(|(i, s)| (*i, rescale(s, attacker_file, victim_file)))
        .collect();
    try_combine(keys, victim_file, victim_capsule, &rescaled)
        .or_else(|| try_combine(keys, victim_file, victim_capsule, shares_for_attacker_file))
        // The shares combined for the attacker's own file open the copied capsule?
        .or_else(|| {
            try_combine(
                keys,
                attacker_file,
                victim_capsule,
                shares_for_attacker_file,
            )
        })
}
