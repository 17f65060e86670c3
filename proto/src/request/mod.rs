//! Access requests: what a requester signs to ask the nodes for a file's key, and the pure
//! checks every node runs on it before touching the chain.
//!
//! Time is passed in (`now`, Unix seconds) so the rules are testable and the node decides
//! which clock to trust.

mod custody;
mod deposit;
mod eip712;
mod signature;

use alloy_primitives::{Address, B256, keccak256};
use k256::ecdsa::SigningKey;
use rand_core::{OsRng, RngCore};

pub use custody::{
    CUSTODIAL_CAPSULE_LEN, CustodialCapsule, KEY_COMMITMENT_TAG, KeyDeposit, Shred,
    SignedKeyDeposit, SignedShred,
};
pub use deposit::{MAX_DEPOSIT_AGE_SECS, ShareDeposit, SignedShareDeposit};
pub use eip712::{EIP712_NAME, EIP712_VERSION, RequestDomain};
pub use signature::{EthSignature, SIGNATURE_LEN, address_of, sign_digest};

use crate::{
    error::{Error, Result},
    sealbox::BoxPublicKey,
};

/// Longest time a request may be valid: `expires_at - issued_at` is at most this.
pub const MAX_REQUEST_LIFETIME_SECS: u64 = 5 * 60;
/// Clock difference tolerated between requester and node, in each direction.
pub const CLOCK_SKEW_SECS: u64 = 30;
/// Length of a request nonce.
pub const NONCE_LEN: usize = 32;
/// Length of a file id.
pub const FILE_ID_LEN: usize = 32;
/// Length of an EVM address.
pub const ADDRESS_LEN: usize = 20;
/// Length of the digest used as request hash and capsule hash.
pub const HASH_LEN: usize = 32;

/// Which custody scheme protects a file's key (and so what a node answers with). The values
/// are the wire's, the EIP-712 `scheme`'s and the FileRegistry's scheme codes alike; 0
/// ("unspecified") is none of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Scheme {
    /// BLS12-381 threshold identity-based encryption; nodes return signature shares on the
    /// capsule's label for the file asked for.
    Bls = 1,
    /// Feldman VSS; nodes return the deposited share.
    Shamir = 2,
    /// One vault returns K wrapped to the requester.
    Custodial = 3,
}

impl Scheme {
    /// The value signed in the EIP-712 struct and sent on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The scheme's name in messages and JSON: `bls`, `shamir` or `custodial`.
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::Bls => "bls",
            Scheme::Shamir => "shamir",
            Scheme::Custodial => "custodial",
        }
    }

    /// Parses the EIP-712 / wire value, which is also the FileRegistry's scheme code.
    pub fn from_u8(value: u8) -> Result<Self> {
        match value {
            1 => Ok(Scheme::Bls),
            2 => Ok(Scheme::Shamir),
            3 => Ok(Scheme::Custodial),
            other => Err(Error::UnknownScheme {
                got: i64::from(other),
            }),
        }
    }
}

/// Names one registered file: the chain, the FileRegistry on it, and the file id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileRef {
    /// EVM chain id.
    pub chain_id: u64,
    /// FileRegistry contract address.
    pub registry: Address,
    /// The file id in that registry.
    pub file_id: B256,
}

impl FileRef {
    /// The EIP-712 domain this file's requests are signed under.
    pub fn domain(&self) -> RequestDomain {
        RequestDomain::new(self.chain_id, self.registry)
    }
}

/// The signed content of an access request (everything but the signature and the capsule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRequest {
    /// The file asked for (chain and registry become the EIP-712 domain).
    pub file: FileRef,
    /// The custody scheme the requester expects.
    pub scheme: Scheme,
    /// The requester's ephemeral X25519 key; responses are sealed to it.
    pub response_key: BoxPublicKey,
    /// `keccak256(capsule)` for [`Scheme::Bls`]; all zero when there is no capsule.
    pub capsule_hash: B256,
    /// Random, so that two requests never share a hash.
    pub nonce: B256,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds; at most [`MAX_REQUEST_LIFETIME_SECS`] after `issued_at`.
    pub expires_at: u64,
    /// The block whose state the nodes evaluate the access policy at.
    pub at_block: u64,
}

impl AccessRequest {
    /// A request issued `now`, valid for `lifetime_secs`, with a fresh random nonce.
    /// `capsule` is the BLS capsule (empty for other schemes); only its hash is signed.
    pub fn new(
        file: FileRef,
        scheme: Scheme,
        response_key: BoxPublicKey,
        capsule: &[u8],
        now: u64,
        lifetime_secs: u64,
        at_block: u64,
    ) -> Result<Self> {
        let mut nonce = B256::ZERO;
        OsRng
            .try_fill_bytes(nonce.as_mut_slice())
            .map_err(|source| Error::Rng { source })?;
        let request = Self {
            file,
            scheme,
            response_key,
            capsule_hash: capsule_hash(capsule),
            nonce,
            issued_at: now,
            expires_at: now.saturating_add(lifetime_secs),
            at_block,
        };
        request.check_lifetime()?;
        Ok(request)
    }

    /// The EIP-712 signing hash. It is also the request's identity: the associated data of
    /// every response to it and the key of the nodes' replay cache.
    pub fn signing_hash(&self) -> B256 {
        self.file.domain().signing_hash(&self.to_sol())
    }

    /// The struct as alloy's `sol!` type, e.g. for `eth_signTypedData_v4` in a wallet.
    pub(crate) fn to_sol(&self) -> eip712::sol::AccessRequest {
        eip712::sol::AccessRequest {
            fileId: self.file.file_id,
            scheme: self.scheme.as_u8(),
            responseKey: B256::from(*self.response_key.as_bytes()),
            capsuleHash: self.capsule_hash,
            nonce: self.nonce,
            issuedAt: self.issued_at,
            expiresAt: self.expires_at,
            atBlock: self.at_block,
        }
    }

    /// Signs the request with the requester's Ethereum key and attaches the capsule.
    pub fn sign(self, key: &SigningKey, capsule: Vec<u8>) -> Result<SignedAccessRequest> {
        let hash = self.signing_hash();
        let signature = sign_digest(key, &hash)?;
        Ok(SignedAccessRequest {
            request: self,
            signature,
            capsule,
            hash,
        })
    }

    /// `issued_at < expires_at <= issued_at + MAX_REQUEST_LIFETIME_SECS`.
    pub fn check_lifetime(&self) -> Result<()> {
        if self.expires_at <= self.issued_at {
            return Err(Error::RequestTimesInvalid {
                issued_at: self.issued_at,
                expires_at: self.expires_at,
            });
        }
        let lifetime = self.expires_at - self.issued_at;
        if lifetime > MAX_REQUEST_LIFETIME_SECS {
            return Err(Error::RequestLifetimeTooLong {
                lifetime,
                max: MAX_REQUEST_LIFETIME_SECS,
            });
        }
        Ok(())
    }

    /// The time rules at `now` (Unix seconds), with [`CLOCK_SKEW_SECS`] of tolerance each way:
    /// the lifetime is valid, `issued_at <= now + skew`, and `now < expires_at + skew`.
    pub fn check_times(&self, now: u64) -> Result<()> {
        self.check_lifetime()?;
        if self.issued_at > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(Error::RequestNotYetValid {
                issued_at: self.issued_at,
                now,
            });
        }
        if now >= self.replay_until() {
            return Err(Error::RequestExpired {
                expires_at: self.expires_at,
                now,
            });
        }
        Ok(())
    }

    /// Until when (Unix seconds) a node must remember this request's hash to refuse replays:
    /// after that, [`AccessRequest::check_times`] refuses it anyway.
    pub fn replay_until(&self) -> u64 {
        self.expires_at.saturating_add(CLOCK_SKEW_SECS)
    }
}

/// `keccak256(capsule)`, or all zero for an empty capsule.
pub fn capsule_hash(capsule: &[u8]) -> B256 {
    if capsule.is_empty() {
        B256::ZERO
    } else {
        keccak256(capsule)
    }
}

/// An access request with its signature and capsule, as it travels on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedAccessRequest {
    request: AccessRequest,
    signature: EthSignature,
    capsule: Vec<u8>,
    hash: B256,
}

impl SignedAccessRequest {
    /// Assembles a request signed elsewhere (by a wallet or an alloy signer over
    /// [`AccessRequest::signing_hash`]).
    pub fn from_parts(request: AccessRequest, signature: EthSignature, capsule: Vec<u8>) -> Self {
        let hash = request.signing_hash();
        Self {
            request,
            signature,
            capsule,
            hash,
        }
    }

    /// The signed fields.
    pub const fn request(&self) -> &AccessRequest {
        &self.request
    }

    /// The requester's signature.
    pub const fn signature(&self) -> &EthSignature {
        &self.signature
    }

    /// The BLS capsule (empty for other schemes).
    pub fn capsule(&self) -> &[u8] {
        &self.capsule
    }

    /// The request hash ([`AccessRequest::signing_hash`], computed once).
    pub const fn hash(&self) -> B256 {
        self.hash
    }

    /// Everything a node can check without the chain, cheapest first: domain (chain id and
    /// registry), capsule against its signed hash, time rules at `now`, then the signature.
    ///
    /// Returns who signed. The caller still has to: refuse a hash it has seen (keep it until
    /// [`VerifiedRequest::replay_until`]), check `at_block` freshness, compare the capsule
    /// hash with the registered one, and ask the chain whether the requester may read.
    pub fn verify(&self, domain: &RequestDomain, now: u64) -> Result<VerifiedRequest> {
        let request = &self.request;
        if request.file.chain_id != domain.chain_id() {
            return Err(Error::WrongChain {
                expected: domain.chain_id(),
                got: request.file.chain_id,
            });
        }
        if request.file.registry != domain.registry() {
            return Err(Error::WrongRegistry {
                expected: domain.registry(),
                got: request.file.registry,
            });
        }
        if request.scheme == Scheme::Bls && self.capsule.is_empty() {
            return Err(Error::CapsuleMissing);
        }
        if capsule_hash(&self.capsule) != request.capsule_hash {
            return Err(Error::CapsuleMismatch);
        }
        request.check_times(now)?;
        let requester = self.signature.recover(&self.hash)?;
        Ok(VerifiedRequest {
            requester,
            hash: self.hash,
            replay_until: request.replay_until(),
        })
    }
}

/// What [`SignedAccessRequest::verify`] established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The address that signed the request (ask the chain whether it may read the file).
    pub requester: Address,
    /// The request hash: associated data for the response, key for the replay cache.
    pub hash: B256,
    /// Keep `hash` in the replay cache until this time (Unix seconds).
    pub replay_until: u64,
}
