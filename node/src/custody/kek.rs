//! The one interface both KEK backends offer.

use zeroize::Zeroizing;

use crate::error::Result;

/// Bytes a sealed record adds to its plaintext: a 12-byte nonce and a 16-byte tag.
pub const SEALED_OVERHEAD: usize = 12 + 16;
/// Length of an audit MAC (HMAC-SHA256).
pub const AUDIT_MAC_LEN: usize = 32;

/// A key-encryption key. `aad` binds a record to where it is stored (file id, version), so
/// a record copied to another slot does not open there.
pub trait Kek: Send + Sync + std::fmt::Debug {
    /// Names this KEK (backend, key label, version); stored beside each record so that a
    /// rotation knows which records still need re-wrapping.
    fn id(&self) -> &str;

    /// Seals `plaintext` (AES-256-GCM or ChaCha20-Poly1305, random nonce).
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>>;

    /// Opens a record sealed by [`Kek::seal`] with the same `aad`.
    fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>>;

    /// HMAC-SHA256 of `message` under this KEK's audit key: a key used for nothing else,
    /// held where the KEK is (a second non-extractable key in the token; for a key file,
    /// derived from the KEK with HKDF), so it is never in the file system. It keys the audit
    /// log's chain: whoever can write the log but cannot use the KEK cannot re-chain it.
    fn audit_mac(&self, message: &[u8]) -> Result<[u8; AUDIT_MAC_LEN]>;
}
