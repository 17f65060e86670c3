//! Sealed boxes: one-shot public-key encryption to an X25519 key.
//!
//! Used twice in the access protocol, with different HKDF info strings so a box made for one
//! purpose never opens as the other:
//!
//! - a node seals its partial decryption (or Shamir share) to the requester's ephemeral
//!   response key, with the request hash and its node index as associated data
//!   ([`BoxPurpose::Response`]);
//! - a file owner seals each Shamir share to a node's long-term encryption key at deposit,
//!   with the deposit's identity as associated data ([`BoxPurpose::ShareDeposit`]).
//!
//! Construction (ephemeral-static ECIES):
//!
//! ```text
//! e, E = fresh X25519 key pair (one per box)
//! shared = X25519(e, R)                       R = recipient public key; must be contributory
//! key = HKDF-SHA256(ikm = shared, salt = E ‖ R, info = purpose)      32 bytes
//! box = E ‖ ChaCha20-Poly1305(key, nonce = 0^12, aad, plaintext)     ciphertext ‖ 16-byte tag
//! ```
//!
//! The all-zero nonce is safe because every box uses a fresh `e`, hence a fresh key.

use std::fmt;

use chacha20poly1305::{
    ChaCha20Poly1305,
    aead::{AeadInOut, KeyInit, array::Array},
};
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Length of an X25519 public or secret key.
pub const BOX_KEY_LEN: usize = 32;
/// Length of the Poly1305 tag.
pub const BOX_TAG_LEN: usize = 16;
/// Bytes a sealed box adds to its plaintext: the sender's ephemeral public key and the tag.
pub const BOX_OVERHEAD: usize = BOX_KEY_LEN + BOX_TAG_LEN;
/// Largest plaintext a box may carry. Boxes carry keys and shares (tens of bytes); the cap
/// keeps a hostile peer from making us decrypt megabytes.
pub const MAX_BOX_PLAINTEXT: usize = 1024;
/// Largest sealed box [`BoxSecretKey::open`] accepts.
pub const MAX_BOX_LEN: usize = MAX_BOX_PLAINTEXT + BOX_OVERHEAD;

/// HKDF info for boxes sealed to a requester's ephemeral response key.
pub const INFO_RESPONSE: &[u8] = b"zgvault/v1/response";
/// HKDF info for Shamir shares sealed to a node's long-term encryption key.
pub const INFO_SHARE_DEPOSIT: &[u8] = b"zgvault/v1/share-deposit";
/// HKDF info for file keys sealed to a custodial vault's encryption key.
pub const INFO_KEY_DEPOSIT: &[u8] = b"zgvault/v1/key-deposit";

/// The nonce: constant, because the key is fresh for every box (see the module docs).
const NONCE: [u8; 12] = [0; 12];

/// What a box is for; selects the HKDF info string (domain separation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BoxPurpose {
    /// A node's response to an access request, sealed to the request's response key.
    Response,
    /// A Shamir share deposited with a node, sealed to the node's encryption key.
    ShareDeposit,
    /// A file key deposited with a custodial vault, sealed to the vault's encryption key.
    KeyDeposit,
}

impl BoxPurpose {
    fn info(self) -> &'static [u8] {
        match self {
            BoxPurpose::Response => INFO_RESPONSE,
            BoxPurpose::ShareDeposit => INFO_SHARE_DEPOSIT,
            BoxPurpose::KeyDeposit => INFO_KEY_DEPOSIT,
        }
    }
}

/// An X25519 public key that boxes are sealed to: a requester's ephemeral response key or a
/// node's long-term encryption key. Public, so `Copy` and a hex `Debug`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BoxPublicKey([u8; BOX_KEY_LEN]);

impl BoxPublicKey {
    /// Wraps 32 public-key bytes. Every 32-byte string is a valid X25519 public key; weak
    /// (low-order) keys are refused when sealing or opening.
    pub const fn from_bytes(bytes: [u8; BOX_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses a public key from a slice, checking the length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let bytes = <[u8; BOX_KEY_LEN]>::try_from(bytes).map_err(|_| Error::FieldLength {
            field: "X25519 public key",
            expected: BOX_KEY_LEN,
            got: bytes.len(),
        })?;
        Ok(Self(bytes))
    }

    /// The 32 key bytes.
    pub const fn as_bytes(&self) -> &[u8; BOX_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for BoxPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoxPublicKey({})", hex::encode(self.0))
    }
}

/// An X25519 secret key that opens boxes: the requester's ephemeral response key (one per
/// access request, dropped once the key is recovered) or a node's long-term encryption key.
///
/// Secret: no `Copy`/`Clone`; `Debug` prints `<redacted>`; zeroized on drop (by
/// `x25519-dalek`'s `zeroize` feature).
pub struct BoxSecretKey {
    secret: StaticSecret,
    public: BoxPublicKey,
}

impl BoxSecretKey {
    /// A fresh key from the operating system's RNG.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; BOX_KEY_LEN]);
        OsRng
            .try_fill_bytes(bytes.as_mut_slice())
            .map_err(|source| Error::Rng { source })?;
        Ok(Self::from_secret(StaticSecret::from(*bytes)))
    }

    /// Wraps stored secret-key bytes (for example a node's key file). The caller's array is
    /// zeroized.
    pub fn from_bytes(bytes: &mut [u8; BOX_KEY_LEN]) -> Self {
        let secret = StaticSecret::from(*bytes);
        bytes.zeroize();
        Self::from_secret(secret)
    }

    fn from_secret(secret: StaticSecret) -> Self {
        let public = BoxPublicKey(PublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    /// The secret bytes, for writing a key file (mode 0600). Zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; BOX_KEY_LEN]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public key to publish (in an access request, or in the NodeRegistry).
    pub const fn public_key(&self) -> BoxPublicKey {
        self.public
    }

    /// Opens a box sealed to this key for `purpose` with associated data `aad`.
    ///
    /// Fails with [`Error::BoxOpenFailed`] if the box was sealed to another key, for another
    /// purpose or `aad`, or was modified.
    pub fn open(
        &self,
        purpose: BoxPurpose,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < BOX_OVERHEAD || sealed.len() > MAX_BOX_LEN {
            return Err(Error::BoxLength {
                len: sealed.len(),
                min: BOX_OVERHEAD,
                max: MAX_BOX_LEN,
            });
        }
        let (ephemeral, rest) = sealed
            .split_first_chunk::<BOX_KEY_LEN>()
            .ok_or(Error::BoxOpenFailed)?;
        let (ciphertext, tag) = rest
            .split_last_chunk::<BOX_TAG_LEN>()
            .ok_or(Error::BoxOpenFailed)?;
        let ephemeral = BoxPublicKey(*ephemeral);
        let shared = self.secret.diffie_hellman(&PublicKey::from(ephemeral.0));
        if !shared.was_contributory() {
            return Err(Error::WeakBoxKey);
        }
        let aead = box_aead(shared.as_bytes(), &ephemeral, &self.public, purpose)?;
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        aead.decrypt_inout_detached(
            &Array::from(NONCE),
            aad,
            plaintext.as_mut_slice().into(),
            &Array::from(*tag),
        )
        .map_err(|_| Error::BoxOpenFailed)?;
        Ok(plaintext)
    }
}

impl fmt::Debug for BoxSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxSecretKey(<redacted>)")
    }
}

// `StaticSecret` zeroizes itself on drop; this marks the wrapper as doing so too.
impl ZeroizeOnDrop for BoxSecretKey {}

/// Seals `plaintext` to `to` for `purpose`, binding `aad`. The output is
/// [`BOX_OVERHEAD`] bytes longer than the plaintext.
pub fn seal(
    to: &BoxPublicKey,
    purpose: BoxPurpose,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    if plaintext.len() > MAX_BOX_PLAINTEXT {
        return Err(Error::BoxLength {
            len: plaintext.len() + BOX_OVERHEAD,
            min: BOX_OVERHEAD,
            max: MAX_BOX_LEN,
        });
    }
    let ephemeral = BoxSecretKey::generate()?;
    let shared = ephemeral.secret.diffie_hellman(&PublicKey::from(to.0));
    if !shared.was_contributory() {
        return Err(Error::WeakBoxKey);
    }
    let aead = box_aead(shared.as_bytes(), &ephemeral.public, to, purpose)?;
    let mut out = Vec::with_capacity(plaintext.len() + BOX_OVERHEAD);
    out.extend_from_slice(ephemeral.public.as_bytes());
    out.extend_from_slice(plaintext);
    let body = out
        .get_mut(BOX_KEY_LEN..)
        .ok_or(Error::Internal { what: "box layout" })?;
    let tag = aead
        .encrypt_inout_detached(&Array::from(NONCE), aad, body.into())
        .map_err(|_| Error::Internal {
            what: "box encryption",
        })?;
    out.extend_from_slice(tag.as_slice());
    Ok(out)
}

/// `ChaCha20-Poly1305(HKDF-SHA256(shared, salt = E ‖ R, info))`.
fn box_aead(
    shared: &[u8; BOX_KEY_LEN],
    ephemeral: &BoxPublicKey,
    recipient: &BoxPublicKey,
    purpose: BoxPurpose,
) -> Result<ChaCha20Poly1305> {
    let mut salt = [0u8; 2 * BOX_KEY_LEN];
    salt[..BOX_KEY_LEN].copy_from_slice(ephemeral.as_bytes());
    salt[BOX_KEY_LEN..].copy_from_slice(recipient.as_bytes());
    let mut key = Zeroizing::new([0u8; BOX_KEY_LEN]);
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(purpose.info(), key.as_mut_slice())
        .map_err(|_| Error::Internal {
            what: "HKDF output length",
        })?;
    let mut key_array = Array::from(*key);
    let aead = ChaCha20Poly1305::new(&key_array);
    // `Array` does not zeroize on drop; wipe the temporary copy.
    key_array.as_mut_slice().zeroize();
    Ok(aead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = BoxSecretKey::generate().unwrap();
        assert_eq!(format!("{key:?}"), "BoxSecretKey(<redacted>)");
    }

    #[test]
    fn secret_bytes_round_trip() {
        let key = BoxSecretKey::generate().unwrap();
        let mut bytes = *key.to_bytes();
        let again = BoxSecretKey::from_bytes(&mut bytes);
        assert_eq!(
            bytes, [0; BOX_KEY_LEN],
            "from_bytes must wipe the caller's copy"
        );
        assert_eq!(again.public_key(), key.public_key());
    }

    #[test]
    fn fail_low_order_recipient() {
        // The identity point: every shared secret with it is zero.
        let weak = BoxPublicKey::from_bytes([0; BOX_KEY_LEN]);
        assert!(matches!(
            seal(&weak, BoxPurpose::Response, b"", b"x"),
            Err(Error::WeakBoxKey)
        ));
    }
}
