//! The `bls` scheme: threshold identity-based encryption over BLS12-381 (Boneh–Franklin with
//! the master key shared `t + 1` of `n`, keys and shares from blsttc).
//!
//! Every capsule is bound to its file. The identity of a capsule is its *label*,
//! `chainId ‖ registry ‖ fileId ‖ U` (with a domain tag; `U = r·G1` is the capsule's own
//! randomness), hashed to a G2 point `Q`. K is sealed under `e(r·P, Q)`, with `P` the
//! network's public key. A node's answer is its BLS signature share `s_i·Q` on the label of
//! the file *it was asked for*; `t + 1` of them combine to `s·Q`, and `e(U, s·Q) = e(r·P, Q)`
//! opens the capsule. An answer for file B is a signature on B's label: no arithmetic turns
//! it into a signature on A's label (that would forge a BLS signature), so a capsule copied
//! from A to B opens for nobody. `proto/README.md` has the byte layout, the security
//! argument and the vectors.
//!
//! The first design derived a per-file key with blsttc's `derive_child` (the network key
//! times a *public* scalar) and used unlabelled ciphertexts: a node's share for B, rescaled
//! by a public ratio, was a valid share for A. Capsules of that format (176 bytes) are
//! refused with [`Error::CapsuleRetired`].
//!
//! Node indices are 0-based, as in blsttc (`public_key_share(i)` is node `i`).

use std::fmt;

use alloy_primitives::{B256, keccak256};
use blsttc::{
    Fr, G1Affine, G1Projective, G2Affine, G2Projective, PublicKeySet, SecretKeySet, SecretKeyShare,
    SignatureShare,
    blstrs::{Bls12, Compress, G2Prepared, pairing},
    group::{Curve, Group, ff::Field, prime::PrimeCurveAffine},
};
use chacha20poly1305::{
    ChaCha20Poly1305,
    aead::{AeadInOut, KeyInit, array::Array},
};
use hkdf::Hkdf;
use pairing::{MillerLoopResult, MultiMillerLoop};
use rand_core::OsRng;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{
    MAX_NODES,
    combine::{Culprit, CulpritReason, Recovered, Tally},
};
use crate::{
    error::{Error, Result},
    key::{FileKey, KEY_LEN},
    request::{ADDRESS_LEN, FILE_ID_LEN, FileRef},
};

/// The capsule format this build writes and reads (its first byte).
pub const BLS_CAPSULE_VERSION: u8 = 2;
/// Length of a capsule: version (1) ‖ `U` (48, compressed G1) ‖ sealed K (32 + 16-byte tag).
pub const BLS_CAPSULE_LEN: usize = 1 + G1_LEN + KEY_LEN + TAG_LEN;
/// Length of one node's answer: a BLS signature share on the file's label (compressed G2).
pub const BLS_PARTIAL_LEN: usize = blsttc::SIG_SIZE;
/// Length of a node's secret key share.
pub const BLS_SECRET_SHARE_LEN: usize = blsttc::SK_SIZE;
/// Length of one key-set coefficient (a compressed G1 point).
pub const BLS_COMMITMENT_LEN: usize = blsttc::PK_SIZE;
/// Largest serialized key set accepted: one coefficient per possible share needed.
pub const MAX_BLS_KEY_SET_BYTES: usize = MAX_NODES * BLS_COMMITMENT_LEN;
/// Domain tag that starts every capsule label.
pub const BLS_LABEL_TAG: &[u8] = b"zgvault/v2/bls-file-label";
/// Hash-to-curve domain separation tag for labels (RFC 9380, `expand_message_xmd` SHA-256).
pub const BLS_IDENTITY_DST: &[u8] = b"ZGVAULT-V2-BLS12381G2_XMD:SHA-256_SSWU_RO_FILE-LABEL_";
/// HKDF info of the capsule key derived from the pairing value.
pub const INFO_BLS_CAPSULE_KEY: &[u8] = b"zgvault/v2/bls-capsule-key";
/// Length of a capsule label.
pub const BLS_LABEL_LEN: usize = BLS_LABEL_TAG.len() + 32 + ADDRESS_LEN + FILE_ID_LEN + G1_LEN;

/// Length of the first design's capsules (blsttc ciphertext `U ‖ W ‖ V`), refused.
const RETIRED_CAPSULE_LEN: usize = 176;
const G1_LEN: usize = blsttc::PK_SIZE;
const TAG_LEN: usize = 16;
/// Fresh `r` drawn before giving up: a draw fails with probability ~2^-255, so more than
/// one failure means the random source or the library is broken.
const SEAL_ATTEMPTS: usize = 4;
/// The capsule key is used once (fresh `r` per capsule), so the nonce can be constant.
const NONCE: [u8; 12] = [0; 12];

/// Compressed encoding of the G1 identity: the infinity and compression flags, then zeros.
const G1_IDENTITY_COMPRESSED: [u8; BLS_COMMITMENT_LEN] = {
    let mut bytes = [0u8; BLS_COMMITMENT_LEN];
    bytes[0] = 0xc0;
    bytes
};

/// The network's public BLS key set (the polynomial commitment), as stored in the
/// NodeRegistry.
#[derive(Clone, PartialEq, Eq)]
pub struct BlsKeySet {
    public: PublicKeySet,
}

impl BlsKeySet {
    /// Parses the NodeRegistry's bytes: `t + 1` compressed G1 points, at most
    /// [`MAX_BLS_KEY_SET_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty()
            || !bytes.len().is_multiple_of(BLS_COMMITMENT_LEN)
            || bytes.len() > MAX_BLS_KEY_SET_BYTES
        {
            return Err(Error::InvalidKeySet {
                reason: "its length is not a whole number of 48-byte points, or exceeds the limit",
                len: bytes.len(),
            });
        }
        // The identity as a coefficient would make key shares that "verify" the identity
        // share for any capsule; no honest key set has one.
        if bytes
            .chunks_exact(BLS_COMMITMENT_LEN)
            .any(|point| point == G1_IDENTITY_COMPRESSED.as_slice())
        {
            return Err(Error::InvalidKeySet {
                reason: "a coefficient is the identity point",
                len: bytes.len(),
            });
        }
        // blsttc parses each point with a subgroup check; an empty set would make its
        // `threshold()` underflow, which the length check above rules out.
        let public =
            PublicKeySet::from_bytes(bytes.to_vec()).map_err(|_| Error::InvalidKeySet {
                reason: "a coefficient is not a valid compressed G1 point",
                len: bytes.len(),
            })?;
        Ok(Self { public })
    }

    /// The bytes to store in the NodeRegistry.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.public.to_bytes()
    }

    /// Node `index`'s public key share (48-byte compressed G1), as the NodeRegistry lists
    /// it beside the node.
    pub fn public_key_share(&self, index: u32) -> [u8; 48] {
        self.public.public_key_share(index as usize).to_bytes()
    }

    /// Shares needed to decrypt: `t + 1`.
    pub fn shares_needed(&self) -> usize {
        self.public.threshold() + 1
    }

    /// Seals K to `file`: picks a fresh `r`, computes `U = r·G1` and the label's point `Q`,
    /// and seals K under a key derived from `e(r·P, Q)`. Needs no node.
    pub fn encrypt_file_key(&self, file: &FileRef, key: &FileKey) -> Result<BlsCapsule> {
        let master = G1Projective::from(self.public.public_key());
        for _ in 0..SEAL_ATTEMPTS {
            let mut r = Fr::random(&mut OsRng);
            let u = (G1Projective::generator() * r).to_affine();
            let label = capsule_label(file, &u);
            let q = label_point(&label);
            let shared = pairing(&(master * r).to_affine(), &q);
            // `r` opens the capsule as K does; blstrs scalars do not zeroize, so wipe by hand
            // (black_box keeps the store from being optimised away).
            r = Fr::zero();
            std::hint::black_box(&mut r);
            // `r = 0` or an identity point make the pairing 1 (probability ~2^-255): draw again.
            if bool::from(u.is_identity()) || bool::from(shared.is_identity()) {
                continue;
            }
            let Ok(aead) = capsule_aead(shared) else {
                continue;
            };
            let mut sealed = [0u8; KEY_LEN + TAG_LEN];
            sealed[..KEY_LEN].copy_from_slice(key.as_bytes());
            let (body, tag_out) = sealed.split_at_mut(KEY_LEN);
            let Ok(tag) = aead.encrypt_inout_detached(&Array::from(NONCE), &label, body.into())
            else {
                sealed.zeroize();
                continue;
            };
            tag_out.copy_from_slice(tag.as_slice());
            return Ok(BlsCapsule { u, sealed });
        }
        Err(Error::Internal {
            what: "BLS capsule sealing (no usable randomness)",
        })
    }

    /// Starts combining the answers of `nodes` nodes for `capsule` of `file`: the answers
    /// must be signature shares on this file's label, nothing else verifies.
    pub fn combiner(&self, file: &FileRef, capsule: &BlsCapsule, nodes: usize) -> BlsCombiner {
        let label = capsule_label(file, &capsule.u);
        BlsCombiner {
            public: self.public.clone(),
            prepared: G2Prepared::from(label_point(&label)),
            label,
            capsule: capsule.clone(),
            tally: Tally::new(nodes, self.shares_needed()),
        }
    }
}

impl fmt::Debug for BlsKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlsKeySet")
            .field("shares_needed", &self.shares_needed())
            .field("public_key", &self.public.public_key().to_hex())
            .finish()
    }
}

/// K sealed to one file under the network key ([`BLS_CAPSULE_LEN`] bytes), registered with
/// the file.
#[derive(Clone, PartialEq, Eq)]
pub struct BlsCapsule {
    /// `r·G1`: the capsule's randomness, part of its label.
    u: G1Affine,
    /// K under ChaCha20-Poly1305 with the label as associated data, then the tag.
    sealed: [u8; KEY_LEN + TAG_LEN],
}

impl BlsCapsule {
    /// Parses exactly [`BLS_CAPSULE_LEN`] bytes: the version, then `U`, which must be a
    /// point of the prime-order subgroup other than the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() == RETIRED_CAPSULE_LEN {
            return Err(Error::CapsuleRetired);
        }
        if bytes.len() != BLS_CAPSULE_LEN {
            return Err(Error::FieldLength {
                field: "BLS capsule",
                expected: BLS_CAPSULE_LEN,
                got: bytes.len(),
            });
        }
        let (version, rest) = bytes.split_at(1);
        if version != [BLS_CAPSULE_VERSION] {
            return Err(Error::CapsuleInvalid);
        }
        let (u_bytes, sealed) = rest.split_at(G1_LEN);
        let u_bytes = <[u8; G1_LEN]>::try_from(u_bytes).map_err(|_| Error::CapsuleInvalid)?;
        let u = Option::<G1Affine>::from(G1Affine::from_compressed(&u_bytes))
            .filter(|u| !bool::from(u.is_identity()))
            .ok_or(Error::CapsuleInvalid)?;
        let sealed =
            <[u8; KEY_LEN + TAG_LEN]>::try_from(sealed).map_err(|_| Error::CapsuleInvalid)?;
        Ok(Self { u, sealed })
    }

    /// The [`BLS_CAPSULE_LEN`] bytes to register and to send with access requests.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLS_CAPSULE_LEN);
        out.push(BLS_CAPSULE_VERSION);
        out.extend_from_slice(&self.u.to_compressed());
        out.extend_from_slice(&self.sealed);
        out
    }

    /// `keccak256` of the bytes: the capsule hash signed in access requests.
    pub fn hash(&self) -> B256 {
        keccak256(self.to_bytes())
    }

    /// The capsule's label for `file`: what a node signs when asked for `file`.
    pub fn label(&self, file: &FileRef) -> [u8; BLS_LABEL_LEN] {
        capsule_label(file, &self.u)
    }
}

impl fmt::Debug for BlsCapsule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsCapsule({})", self.hash())
    }
}

/// One node's secret share of the network key. Secret: no `Clone`, redacted `Debug`,
/// zeroized on drop (blsttc's `SecretKey` wipes itself).
pub struct BlsSecretShare {
    node_index: u32,
    share: SecretKeyShare,
}

impl BlsSecretShare {
    /// Wraps a stored share (32 bytes, big-endian scalar). The buffer is the caller's to wipe.
    pub fn from_bytes(node_index: u32, bytes: &[u8; BLS_SECRET_SHARE_LEN]) -> Result<Self> {
        let share = SecretKeyShare::from_bytes(*bytes).map_err(|_| Error::InvalidSecretShare)?;
        Ok(Self { node_index, share })
    }

    /// The share bytes, for the node's key store. Zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; BLS_SECRET_SHARE_LEN]> {
        Zeroizing::new(self.share.to_bytes())
    }

    /// The node index this share belongs to.
    pub const fn node_index(&self) -> u32 {
        self.node_index
    }

    /// The node's answer to an access request for `file`: its signature share on the label
    /// of `capsule` *for `file`* (the file the gate admitted the requester to, never one the
    /// capsule names). One hash to G2 and one G2 multiplication; no pairing.
    pub fn decrypt_share(&self, file: &FileRef, capsule: &BlsCapsule) -> BlsPartial {
        let point = label_point(&capsule.label(file));
        BlsPartial(self.share.sign_g2(point))
    }
}

impl fmt::Debug for BlsSecretShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsSecretShare(node {}, <redacted>)", self.node_index)
    }
}

impl ZeroizeOnDrop for BlsSecretShare {}

/// One node's answer for a capsule. `t + 1` of them open it, so it travels only inside a
/// sealed box and its `Debug` is redacted.
pub struct BlsPartial(SignatureShare);

impl BlsPartial {
    /// The 96 bytes to seal into the response. Zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; BLS_PARTIAL_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }
}

impl fmt::Debug for BlsPartial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlsPartial(<redacted>)")
    }
}

/// Verifies answers as they arrive and opens the capsule with the first `t + 1` good ones.
pub struct BlsCombiner {
    public: PublicKeySet,
    label: [u8; BLS_LABEL_LEN],
    /// The label's point, prepared for the Miller loop once per combiner.
    prepared: G2Prepared,
    capsule: BlsCapsule,
    tally: Tally<G2Affine>,
}

impl BlsCombiner {
    /// Adds node `node_index`'s answer (the opened 96 bytes). Verifies it as a signature
    /// share on this file's label under the node's public key share (one multi-Miller loop
    /// and one final exponentiation); a bad one is recorded as a culprit and its reason
    /// returned.
    pub fn add(&mut self, node_index: u32, share: &[u8]) -> Result<(), CulpritReason> {
        self.tally.admit(node_index)?;
        // Compressed G2 with the subgroup check; the identity is no one's answer.
        let parsed = <[u8; BLS_PARTIAL_LEN]>::try_from(share)
            .ok()
            .and_then(|bytes| Option::<G2Affine>::from(G2Affine::from_compressed(&bytes)))
            .filter(|point| !bool::from(point.is_identity()));
        let Some(parsed) = parsed else {
            return Err(self.tally.blame(node_index, CulpritReason::Malformed));
        };
        let key_share = self.public.public_key_share(u64::from(node_index));
        if !share_verifies(&key_share.to_bytes(), &parsed, &self.prepared) {
            return Err(self.tally.blame(node_index, CulpritReason::InvalidShare));
        }
        self.tally.accept(node_index, parsed);
        Ok(())
    }

    /// Names a node that failed outside the share itself (error reply, no answer, response
    /// that does not open).
    pub fn report(&mut self, node_index: u32, reason: CulpritReason) {
        self.tally.blame(node_index, reason);
    }

    /// Whether enough good shares arrived to recover K.
    pub fn is_ready(&self) -> bool {
        self.tally.is_ready()
    }

    /// Good shares so far.
    pub fn good(&self) -> usize {
        self.tally.good_count()
    }

    /// Good shares needed (`t + 1`).
    pub fn needed(&self) -> usize {
        self.tally.needed()
    }

    /// Culprits so far.
    pub fn culprits(&self) -> &[Culprit] {
        self.tally.culprits()
    }

    /// Combines the first `t + 1` good shares into `s·Q` and opens the capsule with
    /// `e(U, s·Q)`, or names every culprit. Verified shares that do not open the capsule
    /// mean the capsule was not made for this file under this key set.
    pub fn finish(self) -> Result<Recovered> {
        let (chosen, culprits) = self.tally.take_needed()?;
        let used: Vec<u32> = chosen.iter().map(|(i, _)| *i).collect();
        let combined = interpolate_at_zero(&chosen)?;
        let shared = pairing(&self.capsule.u, &combined);
        if bool::from(shared.is_identity()) {
            return Err(Error::CapsuleNotForFile);
        }
        let aead = capsule_aead(shared)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&self.capsule.sealed[..KEY_LEN]);
        let tag =
            Array::try_from(&self.capsule.sealed[KEY_LEN..]).map_err(|_| Error::Internal {
                what: "capsule tag length",
            })?;
        aead.decrypt_inout_detached(
            &Array::from(NONCE),
            &self.label,
            key.as_mut_slice().into(),
            &tag,
        )
        .map_err(|_| Error::CapsuleNotForFile)?;
        Ok(Recovered {
            key: FileKey::from_slice(key.as_slice())?,
            used,
            culprits,
        })
    }
}

impl fmt::Debug for BlsCombiner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlsCombiner")
            .field("good", &self.good())
            .field("needed", &self.needed())
            .field("culprits", &self.culprits())
            .finish()
    }
}

/// `e(P_i, Q) == e(G1, σ_i)`, checked as `e(P_i, Q) · e(−G1, σ_i) == 1`: one multi-Miller
/// loop and one final exponentiation instead of two full pairings. The identity as a key
/// share verifies nothing.
fn share_verifies(
    key_share: &[u8; BLS_COMMITMENT_LEN],
    share: &G2Affine,
    point: &G2Prepared,
) -> bool {
    let Some(key_share) = Option::<G1Affine>::from(G1Affine::from_compressed(key_share)) else {
        return false;
    };
    if bool::from(key_share.is_identity()) {
        return false;
    }
    let minus_g1 = -G1Affine::generator();
    let sigma = G2Prepared::from(*share);
    let product = Bls12::multi_miller_loop(&[(&key_share, point), (&minus_g1, &sigma)]);
    bool::from(product.final_exponentiation().is_identity())
}

/// `s·Q` from `t + 1` verified shares `s_i·Q` of nodes `i` (0-based; blsttc evaluates node
/// `i`'s share at `x = i + 1`): Lagrange interpolation at 0 in G2.
fn interpolate_at_zero(shares: &[(u32, G2Affine)]) -> Result<G2Affine> {
    let xs: Vec<Fr> = shares
        .iter()
        .map(|(i, _)| Fr::from(u64::from(*i) + 1))
        .collect();
    let mut sum = G2Projective::identity();
    for (k, ((_, share), x_k)) in shares.iter().zip(&xs).enumerate() {
        // λ_k = Π_{j≠k} x_j / (x_j − x_k)
        let mut numerator = Fr::one();
        let mut denominator = Fr::one();
        for (j, x_j) in xs.iter().enumerate() {
            if j != k {
                numerator *= x_j;
                denominator *= *x_j - x_k;
            }
        }
        let inverse = Option::<Fr>::from(denominator.invert()).ok_or(Error::Internal {
            what: "BLS combine: two shares of one node",
        })?;
        sum += *share * (numerator * inverse);
    }
    Ok(sum.to_affine())
}

/// `tag ‖ chainId (32-byte big-endian) ‖ registry (20) ‖ fileId (32) ‖ U (48, compressed)`.
fn capsule_label(file: &FileRef, u: &G1Affine) -> [u8; BLS_LABEL_LEN] {
    let mut label = [0u8; BLS_LABEL_LEN];
    let (tag, rest) = label.split_at_mut(BLS_LABEL_TAG.len());
    tag.copy_from_slice(BLS_LABEL_TAG);
    let (chain, rest) = rest.split_at_mut(32);
    chain[24..].copy_from_slice(&file.chain_id.to_be_bytes());
    let (registry, rest) = rest.split_at_mut(ADDRESS_LEN);
    registry.copy_from_slice(file.registry.as_slice());
    let (file_id, u_out) = rest.split_at_mut(FILE_ID_LEN);
    file_id.copy_from_slice(file.file_id.as_slice());
    u_out.copy_from_slice(&u.to_compressed());
    label
}

/// The label hashed to G2 (RFC 9380 `hash_to_curve`, [`BLS_IDENTITY_DST`]).
fn label_point(label: &[u8]) -> G2Affine {
    G2Projective::hash_to_curve(label, BLS_IDENTITY_DST, &[]).to_affine()
}

/// `ChaCha20-Poly1305(HKDF-SHA256(ikm = compress(shared), info = INFO_BLS_CAPSULE_KEY))`.
/// `shared` must not be the identity (its torus compression is undefined there).
fn capsule_aead(shared: blsttc::blstrs::Gt) -> Result<ChaCha20Poly1305> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(GT_COMPRESSED_LEN));
    shared
        .write_compressed(&mut *ikm)
        .map_err(|_| Error::Internal {
            what: "pairing value encoding",
        })?;
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, &ikm)
        .expand(INFO_BLS_CAPSULE_KEY, key.as_mut_slice())
        .map_err(|_| Error::Internal {
            what: "HKDF output length",
        })?;
    let mut key_array = Array::from(*key);
    let aead = ChaCha20Poly1305::new(&key_array);
    key_array.as_mut_slice().zeroize();
    Ok(aead)
}

/// Length of a torus-compressed pairing value (six 48-byte field elements).
const GT_COMPRESSED_LEN: usize = 6 * 48;

/// A dealer-made key set: `shares_needed` of `nodes` shares decrypt.
///
/// **Test and devnet only**: the dealer sees the master secret. Production key sets come
/// from a DKG among the nodes.
pub fn deal_bls_key_set(
    shares_needed: usize,
    nodes: usize,
) -> Result<(BlsKeySet, Vec<BlsSecretShare>)> {
    check_params(shares_needed, 1, nodes)?;
    let mut rng = blsttc::rand::rngs::OsRng;
    let secret =
        SecretKeySet::try_random(shares_needed - 1, &mut rng).map_err(|_| Error::Internal {
            what: "BLS key-set generation",
        })?;
    let shares = (0..nodes)
        .map(|i| {
            let node_index =
                u32::try_from(i).map_err(|_| Error::Internal { what: "node index" })?;
            Ok(BlsSecretShare {
                node_index,
                share: secret.secret_key_share(i),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        BlsKeySet {
            public: secret.public_keys(),
        },
        shares,
    ))
}

/// `min <= needed <= nodes <= MAX_NODES`.
pub(crate) fn check_params(needed: usize, min: usize, nodes: usize) -> Result<()> {
    if needed < min || needed > nodes || nodes > MAX_NODES {
        return Err(Error::InvalidThreshold {
            needed,
            min,
            nodes,
            max: MAX_NODES,
        });
    }
    Ok(())
}
