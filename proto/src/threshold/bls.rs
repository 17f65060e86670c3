//! The `bls` scheme: BLS12-381 threshold encryption (blsttc), `t + 1` of `n`.
//!
//! The network holds one key set. Each file gets its own child key, derived from
//! [`FileRef::bls_index`], so a decryption share for one file is useless for another, and the
//! client encrypts K to it without talking to any node. The resulting ciphertext (the
//! *capsule*) is registered with the file.
//!
//! Node indices are 0-based, as in blsttc (`public_key_share(i)` is node `i`).

use std::fmt;

use alloy_primitives::{B256, keccak256};
use blsttc::{Ciphertext, DecryptionShare, PublicKeySet, SecretKeySet, SecretKeyShare};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::{
    MAX_NODES,
    combine::{Culprit, CulpritReason, Recovered, Tally},
};
use crate::{
    error::{Error, Result},
    key::{FileKey, KEY_LEN},
    request::FileRef,
};

/// Length of a capsule: K (32 bytes) encrypted under blsttc (`U` 48 ‖ `W` 96 ‖ `V` 32).
pub const BLS_CAPSULE_LEN: usize = blsttc::PK_SIZE + blsttc::SIG_SIZE + KEY_LEN;
/// Length of one decryption share (a compressed G1 point).
pub const BLS_PARTIAL_LEN: usize = blsttc::PK_SIZE;
/// Length of a node's secret key share.
pub const BLS_SECRET_SHARE_LEN: usize = blsttc::SK_SIZE;
/// Length of one key-set coefficient (a compressed G1 point).
pub const BLS_COMMITMENT_LEN: usize = blsttc::PK_SIZE;
/// Largest serialized key set accepted: one coefficient per possible share needed.
pub const MAX_BLS_KEY_SET_BYTES: usize = MAX_NODES * BLS_COMMITMENT_LEN;

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

    /// Encrypts K to the file's derived key. Needs no node.
    pub fn encrypt_file_key(&self, file: &FileRef, key: &FileKey) -> BlsCapsule {
        let child = self.public.derive_child(file.bls_index().as_slice());
        BlsCapsule(child.public_key().encrypt(key.as_bytes()))
    }

    /// Starts combining the answers of `nodes` nodes for `capsule` of `file`.
    pub fn combiner(&self, file: &FileRef, capsule: &BlsCapsule, nodes: usize) -> BlsCombiner {
        BlsCombiner {
            public: self.public.derive_child(file.bls_index().as_slice()),
            capsule: capsule.0.clone(),
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

/// K encrypted to a file's derived BLS key (176 bytes), registered with the file.
#[derive(Clone, PartialEq, Eq)]
pub struct BlsCapsule(Ciphertext);

impl BlsCapsule {
    /// Parses exactly [`BLS_CAPSULE_LEN`] bytes. Does not run the (pairing) validity check;
    /// nodes do that in [`BlsSecretShare::decrypt_share`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != BLS_CAPSULE_LEN {
            return Err(Error::FieldLength {
                field: "BLS capsule",
                expected: BLS_CAPSULE_LEN,
                got: bytes.len(),
            });
        }
        Ciphertext::from_bytes(bytes)
            .map(Self)
            .map_err(|_| Error::CapsuleInvalid)
    }

    /// The 176 bytes to register and to send with access requests.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// `keccak256` of the bytes: the capsule hash signed in access requests.
    pub fn hash(&self) -> B256 {
        keccak256(self.to_bytes())
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

    /// The node's answer to an access request for `file`: checks that the capsule is a
    /// valid ciphertext (2 pairings; refuses chosen-ciphertext probes) and returns this
    /// node's decryption share of it under the file's derived key.
    pub fn decrypt_share(&self, file: &FileRef, capsule: &BlsCapsule) -> Result<BlsPartial> {
        let child = self.share.derive_child(file.bls_index().as_slice());
        child
            .decrypt_share(&capsule.0)
            .map(BlsPartial)
            .ok_or(Error::CapsuleInvalid)
    }
}

impl fmt::Debug for BlsSecretShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsSecretShare(node {}, <redacted>)", self.node_index)
    }
}

impl ZeroizeOnDrop for BlsSecretShare {}

/// One node's decryption share of a capsule. `t + 1` of them reveal K, so it travels only
/// inside a sealed box and its `Debug` is redacted.
pub struct BlsPartial(DecryptionShare);

impl BlsPartial {
    /// The 48 bytes to seal into the response. Zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; BLS_PARTIAL_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }
}

impl fmt::Debug for BlsPartial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlsPartial(<redacted>)")
    }
}

/// Verifies decryption shares as they arrive and combines the first `t + 1` good ones.
pub struct BlsCombiner {
    public: PublicKeySet,
    capsule: Ciphertext,
    tally: Tally<DecryptionShare>,
}

impl BlsCombiner {
    /// Adds node `node_index`'s decryption share (the opened 48 bytes). Verifies it against
    /// the node's derived public key share (2 pairings); a bad share is recorded as a culprit
    /// and its reason returned.
    pub fn add(&mut self, node_index: u32, share: &[u8]) -> Result<(), CulpritReason> {
        self.tally.admit(node_index)?;
        let parsed = <[u8; BLS_PARTIAL_LEN]>::try_from(share)
            .ok()
            .and_then(|bytes| DecryptionShare::from_bytes(bytes).ok());
        let Some(parsed) = parsed else {
            return Err(self.tally.blame(node_index, CulpritReason::Malformed));
        };
        let key_share = self.public.public_key_share(u64::from(node_index));
        if !key_share.verify_decryption_share(&parsed, &self.capsule) {
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

    /// Recovers K from the first `t + 1` good shares, or names every culprit.
    pub fn finish(self) -> Result<Recovered> {
        let (chosen, culprits) = self.tally.take_needed()?;
        let used: Vec<u32> = chosen.iter().map(|(i, _)| *i).collect();
        let plaintext = Zeroizing::new(
            self.public
                .decrypt(
                    chosen.iter().map(|(i, s)| (u64::from(*i), s)),
                    &self.capsule,
                )
                .map_err(|_| Error::Internal {
                    what: "BLS combine of verified shares",
                })?,
        );
        if plaintext.len() != KEY_LEN {
            return Err(Error::RecoveredKeyLength {
                got: plaintext.len(),
            });
        }
        Ok(Recovered {
            key: FileKey::from_slice(&plaintext)?,
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
