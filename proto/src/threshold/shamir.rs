//! The `shamir` scheme: Feldman VSS (vsss-rs) over secp256k1, `t` of `n`.
//!
//! **Secret encoding.** The owner does not split K itself: it splits a random non-zero
//! scalar `s` and derives `K = HKDF-SHA256(ikm = s as 32 big-endian bytes, salt = empty,
//! info = "zgvault/v1/shamir-file-key")`. So K is a uniform 32-byte key like in the other
//! schemes (no "must be below the group order" rule), and the public commitment `s·G` is
//! algebraically unrelated to K. The cost: in this scheme K is *generated* by
//! [`split_new_file_key`]; an existing K cannot be moved into it without re-sealing.
//!
//! Share identifiers are `node_index + 1` (a share at 0 would be the secret itself).

use std::fmt;

use alloy_primitives::{B256, keccak256};
use hkdf::Hkdf;
use k256::{
    FieldBytes, ProjectivePoint, Scalar,
    elliptic_curve::{
        PrimeField,
        group::{Group, GroupEncoding},
    },
};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use vsss_rs::{
    DefaultShare, FeldmanVerifierSet, IdentifierPrimeField, ReadableShareSet, ShareVerifierGroup,
    ValueGroup, feldman,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{
    MAX_NODES,
    bls::check_params,
    combine::{Culprit, CulpritReason, Recovered, Tally},
};
use crate::{
    error::{Error, Result},
    key::{FileKey, KEY_LEN},
    request::{FileRef, ShareDeposit},
    sealbox::{self, BoxPublicKey, BoxPurpose, BoxSecretKey},
};

/// Length of a share value (a secp256k1 scalar, big-endian).
pub const SHAMIR_SHARE_LEN: usize = 32;
/// Length of one commitment (a compressed secp256k1 point).
pub const SHAMIR_COMMITMENT_LEN: usize = 33;
/// Largest serialized commitment list accepted.
pub const MAX_SHAMIR_COMMITMENTS_BYTES: usize = MAX_NODES * SHAMIR_COMMITMENT_LEN;
/// Fewest shares a split may need: with 1, every node would hold the secret itself (and
/// vsss-rs refuses it).
pub const MIN_SHAMIR_SHARES_NEEDED: usize = 2;
/// HKDF info deriving K from the shared scalar.
pub const INFO_SHAMIR_FILE_KEY: &[u8] = b"zgvault/v1/shamir-file-key";

/// Tries at drawing a non-zero scalar below the group order; each fails with probability
/// about 2^-128, so more than one retry means the RNG is broken.
const SCALAR_DRAW_ATTEMPTS: usize = 4;

type K256Share = DefaultShare<IdentifierPrimeField<Scalar>, IdentifierPrimeField<Scalar>>;
type K256Verifier = ShareVerifierGroup<ProjectivePoint>;

/// The Feldman commitments `[s·G, a1·G, ..., a(t-1)·G]`: `t` points, registered with the
/// file so that every share can be checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ShamirCommitments {
    points: Vec<ProjectivePoint>,
}

impl ShamirCommitments {
    /// Parses `t` compressed points (33 bytes each), `1 <= t <= MAX_NODES`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty()
            || !bytes.len().is_multiple_of(SHAMIR_COMMITMENT_LEN)
            || bytes.len() > MAX_SHAMIR_COMMITMENTS_BYTES
        {
            return Err(Error::InvalidCommitments {
                reason: "its length is not a whole number of 33-byte points, or exceeds the limit",
            });
        }
        let points = bytes
            .chunks_exact(SHAMIR_COMMITMENT_LEN)
            .map(|chunk| {
                let mut encoding = <ProjectivePoint as GroupEncoding>::Repr::default();
                encoding.copy_from_slice(chunk);
                // Only the canonical 0x02/0x03 form: k256 also reads 33-byte "compact" points
                // (tag 0x05), and a second encoding would change the registered hash.
                Option::<ProjectivePoint>::from(ProjectivePoint::from_bytes(&encoding))
                    .filter(|p| !bool::from(p.is_identity()) && p.to_bytes() == encoding)
                    .ok_or(Error::InvalidCommitments {
                        reason: "a commitment is not a canonical compressed secp256k1 point",
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { points })
    }

    /// The bytes to register with the file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.points.len() * SHAMIR_COMMITMENT_LEN);
        for point in &self.points {
            out.extend_from_slice(&point.to_bytes());
        }
        out
    }

    /// `keccak256(to_bytes())`, as signed in deposits.
    pub fn hash(&self) -> B256 {
        keccak256(self.to_bytes())
    }

    /// Shares needed to recover K (`t`).
    pub fn shares_needed(&self) -> usize {
        self.points.len()
    }

    /// Starts combining the answers of `nodes` nodes.
    pub fn combiner(&self, nodes: usize) -> ShamirCombiner {
        ShamirCombiner {
            verifier: self.verifier_set(),
            tally: Tally::new(nodes, self.shares_needed()),
        }
    }

    /// vsss-rs's layout: the generator first, then the commitments.
    fn verifier_set(&self) -> Vec<K256Verifier> {
        let mut set = Vec::with_capacity(self.points.len() + 1);
        set.push(ValueGroup(ProjectivePoint::GENERATOR));
        set.extend(self.points.iter().copied().map(ValueGroup));
        set
    }
}

impl fmt::Debug for ShamirCommitments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShamirCommitments")
            .field("shares_needed", &self.shares_needed())
            .field("hash", &self.hash())
            .finish()
    }
}

/// One node's share of the scalar behind K. Secret: no `Clone`, redacted `Debug`,
/// Feldman commitments as they arrive in a deposit: the length is checked (a whole number
/// of 33-byte points, at most [`MAX_SHAMIR_COMMITMENTS_BYTES`]) but no point is decoded, so
/// a node hashes them for the owner's signature and compares them with the registered ones
/// before spending up to 256 point decompressions ([`UncheckedCommitments::decode`]).
#[derive(Clone, PartialEq, Eq)]
pub struct UncheckedCommitments(Vec<u8>);

impl UncheckedCommitments {
    /// Checks the length only.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if bytes.is_empty()
            || !bytes.len().is_multiple_of(SHAMIR_COMMITMENT_LEN)
            || bytes.len() > MAX_SHAMIR_COMMITMENTS_BYTES
        {
            return Err(Error::InvalidCommitments {
                reason: "its length is not a whole number of 33-byte points, or exceeds the limit",
            });
        }
        Ok(Self(bytes))
    }

    /// The bytes as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `keccak256` of the bytes, as signed in deposits and registered with the file.
    pub fn hash(&self) -> B256 {
        keccak256(&self.0)
    }

    /// Decodes every point (canonical compressed, not the identity).
    pub fn decode(&self) -> Result<ShamirCommitments> {
        ShamirCommitments::from_bytes(&self.0)
    }
}

impl From<&ShamirCommitments> for UncheckedCommitments {
    fn from(commitments: &ShamirCommitments) -> Self {
        Self(commitments.to_bytes())
    }
}

impl fmt::Debug for UncheckedCommitments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UncheckedCommitments({} bytes, {})",
            self.0.len(),
            self.hash()
        )
    }
}

/// zeroized on drop.
pub struct ShamirShare {
    node_index: u32,
    value: Scalar,
}

impl ShamirShare {
    /// Parses a 32-byte share value for node `node_index` (non-zero, below the group order).
    /// Does not verify it; see [`ShamirShare::verify`].
    pub fn from_bytes(node_index: u32, bytes: &[u8]) -> Result<Self> {
        let value = parse_scalar(bytes).ok_or(Error::InvalidSecretShare)?;
        Ok(Self { node_index, value })
    }

    /// The 32-byte share value. Zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SHAMIR_SHARE_LEN]> {
        Zeroizing::new(self.value.to_repr().into())
    }

    /// The node this share belongs to.
    pub const fn node_index(&self) -> u32 {
        self.node_index
    }

    /// Checks the share against the file's commitments.
    pub fn verify(&self, commitments: &ShamirCommitments) -> Result<()> {
        if verify_value(&commitments.verifier_set(), self.node_index, self.value) {
            Ok(())
        } else {
            Err(Error::ShareInvalid {
                node_index: self.node_index,
            })
        }
    }

    /// Seals the share to node `node_index`'s encryption key for a deposit. The associated
    /// data binds file, node index and commitments, so the box cannot be replayed into another
    /// file's or node's deposit.
    pub fn seal_for_node(
        &self,
        node_key: &BoxPublicKey,
        file: &FileRef,
        commitments: &ShamirCommitments,
    ) -> Result<Vec<u8>> {
        let aad = deposit_aad(file, self.node_index, &commitments.hash());
        sealbox::seal(
            node_key,
            BoxPurpose::ShareDeposit,
            &aad,
            self.to_bytes().as_slice(),
        )
    }

    /// Node side of a deposit: decodes the deposit's commitments, opens the sealed share with
    /// the node's encryption key and verifies it against them. Check the owner's signature
    /// and that the commitments are the registered ones (by hash) before calling this: it is
    /// the step that decodes up to 256 points.
    pub fn open_deposit(
        node_key: &BoxSecretKey,
        deposit: &ShareDeposit,
    ) -> Result<(Self, ShamirCommitments)> {
        let commitments = deposit.commitments.decode()?;
        let aad = deposit_aad(
            &deposit.file,
            deposit.node_index,
            &deposit.commitments.hash(),
        );
        let plaintext = node_key.open(BoxPurpose::ShareDeposit, &aad, &deposit.sealed_share)?;
        let share = Self::from_bytes(deposit.node_index, &plaintext)?;
        share.verify(&commitments)?;
        Ok((share, commitments))
    }
}

impl fmt::Debug for ShamirShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShamirShare(node {}, <redacted>)", self.node_index)
    }
}

impl Drop for ShamirShare {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl ZeroizeOnDrop for ShamirShare {}

/// `chainId (32 BE) ‖ registry (20) ‖ fileId (32) ‖ nodeIndex (4 BE) ‖ commitmentsHash (32)`.
fn deposit_aad(file: &FileRef, node_index: u32, commitments_hash: &B256) -> [u8; 120] {
    let mut aad = [0u8; 120];
    aad[24..32].copy_from_slice(&file.chain_id.to_be_bytes());
    aad[32..52].copy_from_slice(file.registry.as_slice());
    aad[52..84].copy_from_slice(file.file_id.as_slice());
    aad[84..88].copy_from_slice(&node_index.to_be_bytes());
    aad[88..].copy_from_slice(commitments_hash.as_slice());
    aad
}

/// A fresh file key for the shamir scheme, with its commitments and one share per node.
#[derive(Debug)]
pub struct ShamirSplit {
    /// K, derived from the shared scalar; seal the file under it.
    pub key: FileKey,
    /// Register these with the file.
    pub commitments: ShamirCommitments,
    /// `shares[i]` goes to node `i`.
    pub shares: Vec<ShamirShare>,
}

/// Draws a random scalar `s`, splits it `shares_needed` of `nodes`, and derives K from it.
/// `shares_needed` is at least [`MIN_SHAMIR_SHARES_NEEDED`].
pub fn split_new_file_key(shares_needed: usize, nodes: usize) -> Result<ShamirSplit> {
    check_params(shares_needed, MIN_SHAMIR_SHARES_NEEDED, nodes)?;
    let secret = random_scalar()?;
    let key = derive_file_key(&secret)?;
    let split = feldman::split_secret::<K256Share, K256Verifier>(
        shares_needed,
        nodes,
        &IdentifierPrimeField(secret),
        None,
        OsRng,
    );
    let (mut raw_shares, verifiers) = split.map_err(|_| Error::InvalidThreshold {
        needed: shares_needed,
        min: MIN_SHAMIR_SHARES_NEEDED,
        nodes,
        max: MAX_NODES,
    })?;
    let shares = raw_shares
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let node_index = u32::try_from(i).map_err(|_| Error::Internal {
                what: "share index",
            })?;
            // vsss-rs numbers participants 1, 2, ...; our layout depends on it.
            if raw.identifier.0 != identifier(node_index) {
                return Err(Error::Internal {
                    what: "vsss-rs share identifier order",
                });
            }
            Ok(ShamirShare {
                node_index,
                value: raw.value.0,
            })
        })
        .collect::<Result<Vec<_>>>();
    for raw in &mut raw_shares {
        raw.value.0.zeroize();
    }
    let commitments = ShamirCommitments {
        points: verifiers.iter().skip(1).map(|v| v.0).collect(),
    };
    Ok(ShamirSplit {
        key,
        commitments,
        shares: shares?,
    })
}

/// Verifies Shamir shares as they arrive and combines the first `t` good ones.
pub struct ShamirCombiner {
    verifier: Vec<K256Verifier>,
    tally: Tally<Scalar>,
}

impl ShamirCombiner {
    /// Adds node `node_index`'s share (the opened 32 bytes). Verifies it against the
    /// commitments (`t` scalar multiplications); a bad share is recorded as a culprit and its
    /// reason returned.
    pub fn add(&mut self, node_index: u32, share: &[u8]) -> Result<(), CulpritReason> {
        self.tally.admit(node_index)?;
        let Some(value) = parse_scalar(share) else {
            return Err(self.tally.blame(node_index, CulpritReason::Malformed));
        };
        if !verify_value(&self.verifier, node_index, value) {
            return Err(self.tally.blame(node_index, CulpritReason::InvalidShare));
        }
        self.tally.accept(node_index, value);
        Ok(())
    }

    /// Names a node that failed outside the share itself.
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

    /// Good shares needed (`t`).
    pub fn needed(&self) -> usize {
        self.tally.needed()
    }

    /// Culprits so far.
    pub fn culprits(&self) -> &[Culprit] {
        self.tally.culprits()
    }

    /// Recovers K from the first `t` good shares, or names every culprit. Never combines
    /// fewer than `t` shares (vsss-rs would silently return a wrong secret).
    pub fn finish(self) -> Result<Recovered> {
        let (chosen, culprits) = self.tally.take_needed()?;
        let used = chosen.iter().map(|(i, _)| *i).collect();
        let mut raw: Vec<K256Share> = chosen
            .into_iter()
            .map(|(i, value)| K256Share {
                identifier: IdentifierPrimeField(identifier(i)),
                value: IdentifierPrimeField(value),
            })
            .collect();
        let combined = if raw.len() == 1 {
            // t = 1 (only from registered commitments, never from our split): the share is the
            // secret, and vsss-rs refuses to "combine" one share.
            raw.first().map(|s| s.value.0).ok_or(Error::Internal {
                what: "single share",
            })
        } else {
            raw.combine().map(|s| s.0).map_err(|_| Error::Internal {
                what: "Shamir combine of verified shares",
            })
        };
        for share in &mut raw {
            share.value.0.zeroize();
        }
        let mut secret = combined?;
        let key = derive_file_key(&secret);
        secret.zeroize();
        Ok(Recovered {
            key: key?,
            used,
            culprits,
        })
    }
}

impl fmt::Debug for ShamirCombiner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShamirCombiner")
            .field("good", &self.good())
            .field("needed", &self.needed())
            .field("culprits", &self.culprits())
            .finish()
    }
}

fn identifier(node_index: u32) -> Scalar {
    Scalar::from(u64::from(node_index) + 1)
}

fn verify_value(verifier: &Vec<K256Verifier>, node_index: u32, value: Scalar) -> bool {
    let share = K256Share {
        identifier: IdentifierPrimeField(identifier(node_index)),
        value: IdentifierPrimeField(value),
    };
    let ok = <Vec<K256Verifier> as FeldmanVerifierSet<K256Share, K256Verifier>>::verify_share(
        verifier, &share,
    )
    .is_ok();
    let mut value = share.value.0;
    value.zeroize();
    ok
}

/// A non-zero scalar below the group order from exactly 32 big-endian bytes.
fn parse_scalar(bytes: &[u8]) -> Option<Scalar> {
    let bytes = <[u8; SHAMIR_SHARE_LEN]>::try_from(bytes).ok()?;
    let scalar = Option::<Scalar>::from(Scalar::from_repr(FieldBytes::from(bytes)))?;
    (!bool::from(scalar.is_zero())).then_some(scalar)
}

fn random_scalar() -> Result<Scalar> {
    let mut bytes = Zeroizing::new([0u8; SHAMIR_SHARE_LEN]);
    for _ in 0..SCALAR_DRAW_ATTEMPTS {
        OsRng
            .try_fill_bytes(bytes.as_mut_slice())
            .map_err(|source| Error::Rng { source })?;
        if let Some(scalar) = parse_scalar(bytes.as_slice()) {
            return Ok(scalar);
        }
    }
    Err(Error::Internal {
        what: "the RNG keeps returning out-of-range scalars",
    })
}

/// `K = HKDF-SHA256(ikm = s, salt = empty, info = INFO_SHAMIR_FILE_KEY)`.
fn derive_file_key(secret: &Scalar) -> Result<FileKey> {
    let ikm = Zeroizing::new(<[u8; KEY_LEN]>::from(secret.to_repr()));
    let mut okm = [0u8; KEY_LEN];
    Hkdf::<Sha256>::new(None, ikm.as_slice())
        .expand(INFO_SHAMIR_FILE_KEY, &mut okm)
        .map_err(|_| Error::Internal {
            what: "HKDF output length",
        })?;
    Ok(FileKey::from_bytes(&mut okm))
}
