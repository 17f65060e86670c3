//! The per-file master key K.

use std::fmt;

use rand_core::{OsRng, RngCore};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Length of a [`FileKey`] in bytes.
pub const KEY_LEN: usize = 32;

/// The 32-byte master key K of one sealed file.
///
/// Secret: no `Copy`, no `Clone`, no serde; `Debug` prints `<redacted>`; compared in constant
/// time; zeroized on drop. The bytes live in a `Box` so that moving a `FileKey` around does not
/// leave copies of K in old stack frames.
pub struct FileKey {
    bytes: Box<[u8; KEY_LEN]>,
}

impl FileKey {
    /// Generates a fresh key from the operating system's RNG.
    pub fn generate() -> Result<Self> {
        let mut bytes = Box::new([0u8; KEY_LEN]);
        OsRng
            .try_fill_bytes(bytes.as_mut_slice())
            .map_err(|source| Error::Rng { source })?;
        Ok(Self { bytes })
    }

    /// Wraps existing key bytes (for example read from a key file or recovered from shares).
    ///
    /// The caller's array is zeroized, so no stray copy of K is left behind by this call.
    pub fn from_bytes(bytes: &mut [u8; KEY_LEN]) -> Self {
        // Copy straight into the heap buffer: `Box::new(*bytes)` could leave a stack temporary.
        let mut boxed = Box::new([0u8; KEY_LEN]);
        boxed.copy_from_slice(bytes.as_slice());
        bytes.zeroize();
        Self { bytes: boxed }
    }

    /// Wraps key bytes from a slice, checking the length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let mut boxed = Box::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(Error::InvalidKeyLength {
                expected: KEY_LEN,
                got: bytes.len(),
            });
        }
        boxed.copy_from_slice(bytes);
        Ok(Self { bytes: boxed })
    }

    /// Parses a key from lowercase or uppercase hex (64 digits, surrounding whitespace
    /// ignored), the format of zgvault key files.
    pub fn from_hex(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.len() != 2 * KEY_LEN {
            return Err(Error::InvalidKeyLength {
                expected: KEY_LEN,
                got: text.len() / 2,
            });
        }
        let mut bytes = Box::new([0u8; KEY_LEN]);
        hex::decode_to_slice(text, bytes.as_mut_slice()).map_err(|_| Error::InvalidKeyEncoding)?;
        Ok(Self { bytes })
    }

    /// The raw key bytes. Handle with care: do not log them, and zeroize any copy.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The key as 64 lowercase hex digits, in a buffer that is zeroized on drop.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_slice()))
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileKey(<redacted>)")
    }
}

impl ConstantTimeEq for FileKey {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.bytes.as_slice().ct_eq(other.bytes.as_slice())
    }
}

impl PartialEq for FileKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for FileKey {}

impl Drop for FileKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl ZeroizeOnDrop for FileKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let mut raw = [0x42; KEY_LEN];
        let key = FileKey::from_bytes(&mut raw);
        assert_eq!(format!("{key:?}"), "FileKey(<redacted>)");
        assert!(!format!("{key:?}").contains("42"));
        assert_eq!(raw, [0; KEY_LEN], "from_bytes must wipe the caller's copy");
    }

    #[test]
    fn generated_keys_differ_and_round_trip() {
        let a = FileKey::generate().unwrap();
        let b = FileKey::generate().unwrap();
        assert_ne!(a, b);
        let a2 = FileKey::from_hex(&a.to_hex()).unwrap();
        assert_eq!(a, a2);
        assert_eq!(FileKey::from_slice(a.as_bytes()).unwrap(), a);
    }

    #[test]
    fn bad_lengths_and_encodings_are_rejected() {
        assert!(matches!(
            FileKey::from_slice(&[0; 31]),
            Err(Error::InvalidKeyLength {
                expected: 32,
                got: 31
            })
        ));
        assert!(matches!(
            FileKey::from_hex("00"),
            Err(Error::InvalidKeyLength { .. })
        ));
        let bad = "zz".repeat(KEY_LEN);
        assert!(matches!(
            FileKey::from_hex(&bad),
            Err(Error::InvalidKeyEncoding)
        ));
    }
}
