//! 65-byte Ethereum signatures over EIP-712 digests.
//!
//! The form is the one every Ethereum wallet and alloy's `PrivateKeySigner` produce: `r ‖ s ‖
//! v` with `v` = 27 or 28. We sign with k256 and recover with alloy-primitives, so a client may
//! sign with either (`signer.sign_hash_sync(&hash)?.as_bytes()` gives the same bytes).

use std::fmt;

use alloy_primitives::{Address, B256, Signature};
use k256::ecdsa::SigningKey;

use crate::error::{Error, Result};

/// Length of an [`EthSignature`]: `r` (32) ‖ `s` (32) ‖ `v` (1).
pub const SIGNATURE_LEN: usize = 65;

/// A recoverable secp256k1 signature in Ethereum form: `r ‖ s ‖ v`, `v` ∈ {27, 28}, low `s`.
///
/// Parsing accepts `v` ∈ {0, 1, 27, 28} (some hardware wallets return 0/1) and stores 27/28.
/// High-`s` signatures are refused (EIP-2), so each message has one valid signature per key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthSignature {
    bytes: [u8; SIGNATURE_LEN],
    parsed: Signature,
}

impl EthSignature {
    /// Parses 65 signature bytes, checking length, `v`, and that `s` is low.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let array = <&[u8; SIGNATURE_LEN]>::try_from(bytes).map_err(|_| Error::FieldLength {
            field: "signature",
            expected: SIGNATURE_LEN,
            got: bytes.len(),
        })?;
        let v = array[SIGNATURE_LEN - 1];
        if !matches!(v, 0 | 1 | 27 | 28) {
            return Err(Error::MalformedSignature {
                reason: "v must be 27 or 28",
            });
        }
        let parsed = Signature::from_raw_array(array).map_err(|_| Error::MalformedSignature {
            reason: "v must be 27 or 28",
        })?;
        if parsed.normalize_s().is_some() {
            return Err(Error::MalformedSignature {
                reason: "s is in the upper half of the curve order (EIP-2)",
            });
        }
        Ok(Self::from_parsed(parsed))
    }

    fn from_parsed(parsed: Signature) -> Self {
        // `as_bytes` writes v as 27/28.
        Self {
            bytes: parsed.as_bytes(),
            parsed,
        }
    }

    /// The 65 bytes `r ‖ s ‖ v`, `v` = 27 or 28.
    pub const fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.bytes
    }

    /// The signature as alloy's type.
    pub const fn to_alloy(&self) -> Signature {
        self.parsed
    }

    /// The address whose key made this signature over `digest`.
    ///
    /// A signature by *another* key still recovers, to another address: callers compare the
    /// result against what they expect (the node asks the chain whether that address may
    /// read the file).
    pub fn recover(&self, digest: &B256) -> Result<Address> {
        self.parsed
            .recover_address_from_prehash(digest)
            .map_err(|_| Error::BadSignature)
    }
}

impl fmt::Debug for EthSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EthSignature({})", hex::encode(self.bytes))
    }
}

/// Signs an EIP-712 digest with an Ethereum key (deterministic, RFC 6979, low `s`).
pub fn sign_digest(key: &SigningKey, digest: &B256) -> Result<EthSignature> {
    let (signature, recovery_id) =
        key.sign_prehash_recoverable(digest.as_slice())
            .map_err(|_| Error::Internal {
                what: "secp256k1 signing",
            })?;
    let parsed = Signature::from_signature_and_parity(signature, recovery_id.is_y_odd());
    // k256 already produces low s; normalise anyway so the invariant holds by construction.
    Ok(EthSignature::from_parsed(parsed.normalized_s()))
}

/// The Ethereum address of a signing key.
pub fn address_of(key: &SigningKey) -> Address {
    Address::from_private_key(key)
}
