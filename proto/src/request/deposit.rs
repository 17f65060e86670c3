//! Shamir share deposits: the file owner hands node *i* its share, sealed to the node's
//! encryption key and signed as EIP-712 typed data so the node can check the owner on-chain.

use alloy_primitives::{Address, B256, keccak256};
use k256::ecdsa::SigningKey;

use super::{
    FileRef, RequestDomain,
    custody::verify_owner_message,
    eip712::sol,
    signature::{EthSignature, sign_digest},
};
use crate::{
    error::{Error, Result},
    sealbox::{BoxPublicKey, MAX_BOX_LEN},
    threshold::{ShamirCommitments, ShamirShare, UncheckedCommitments},
};

/// How old a deposit may be when a node receives it. Deposits carry no nonce (storing the
/// same share twice is harmless); the age limit bounds how long a captured deposit can be
/// replayed, e.g. to restore a share after `shred`.
pub const MAX_DEPOSIT_AGE_SECS: u64 = 10 * 60;

/// The signed content of a Shamir share deposit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareDeposit {
    /// The file whose key the share belongs to.
    pub file: FileRef,
    /// The receiving node's 0-based index in the NodeRegistry.
    pub node_index: u32,
    /// The 32-byte share value sealed to the node's encryption key
    /// ([`ShamirShare::seal_for_node`]).
    pub sealed_share: Vec<u8>,
    /// The Feldman commitments registered with the file, as bytes: decoded only by
    /// [`ShamirShare::open_deposit`], after the signature and the owner are checked.
    pub commitments: UncheckedCommitments,
    /// Unix seconds.
    pub issued_at: u64,
}

impl ShareDeposit {
    /// Seals `share` to the node's encryption key and builds the deposit for it.
    pub fn new(
        file: FileRef,
        share: &ShamirShare,
        node_key: &BoxPublicKey,
        commitments: ShamirCommitments,
        now: u64,
    ) -> Result<Self> {
        let sealed_share = share.seal_for_node(node_key, &file, &commitments)?;
        Ok(Self {
            file,
            node_index: share.node_index(),
            sealed_share,
            commitments: UncheckedCommitments::from(&commitments),
            issued_at: now,
        })
    }

    /// The EIP-712 signing hash (same domain as access requests).
    pub fn signing_hash(&self) -> B256 {
        let value = sol::ShareDeposit {
            fileId: self.file.file_id,
            nodeIndex: self.node_index,
            sealedShareHash: keccak256(&self.sealed_share),
            commitmentsHash: self.commitments.hash(),
            issuedAt: self.issued_at,
        };
        self.file.domain().signing_hash(&value)
    }

    /// Signs the deposit with the file owner's Ethereum key.
    pub fn sign(self, owner: &SigningKey) -> Result<SignedShareDeposit> {
        let signature = sign_digest(owner, &self.signing_hash())?;
        Ok(SignedShareDeposit::from_parts(self, signature))
    }
}

/// A deposit with the owner's signature, as it travels on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedShareDeposit {
    deposit: ShareDeposit,
    signature: EthSignature,
    hash: B256,
}

impl SignedShareDeposit {
    /// Assembles a deposit signed elsewhere over [`ShareDeposit::signing_hash`].
    pub fn from_parts(deposit: ShareDeposit, signature: EthSignature) -> Self {
        let hash = deposit.signing_hash();
        Self {
            deposit,
            signature,
            hash,
        }
    }

    /// The signed fields.
    pub const fn deposit(&self) -> &ShareDeposit {
        &self.deposit
    }

    /// The owner's signature.
    pub const fn signature(&self) -> &EthSignature {
        &self.signature
    }

    /// The signing hash.
    pub const fn hash(&self) -> B256 {
        self.hash
    }

    /// The checks a node can make without the chain: domain, sealed-share size, age at `now`
    /// (at most [`MAX_DEPOSIT_AGE_SECS`] old, at most [`CLOCK_SKEW_SECS`](super::CLOCK_SKEW_SECS) in the future), and
    /// the signature. Returns the signer; the node must check it is the file's owner on-chain
    /// and that the commitments match the registered ones, then open the share with
    /// [`ShamirShare::open_deposit`].
    pub fn verify(&self, domain: &RequestDomain, now: u64) -> Result<Address> {
        let deposit = &self.deposit;
        if deposit.sealed_share.len() > MAX_BOX_LEN {
            return Err(Error::BoxLength {
                len: deposit.sealed_share.len(),
                min: 0,
                max: MAX_BOX_LEN,
            });
        }
        verify_owner_message(
            domain,
            &deposit.file,
            deposit.issued_at,
            now,
            &self.signature,
            &self.hash,
        )
    }
}
