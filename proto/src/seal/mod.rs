//! The sealed-file format: a MACed header with encrypted metadata, then a STREAM of 64 KiB
//! AEAD chunks. The byte layout is specified in the crate README; the constants below are the
//! single source of truth for it.
//!
//! Main entry points: [`SealWriter`] (streaming encryption with an explicit `finish`),
//! [`OpenReader`] (streaming decryption that verifies each chunk before releasing it),
//! [`sealed_len`], and the convenience functions [`seal`], [`open`], [`open_to_path`].

mod cipher;
mod convenience;
mod header;
mod reader;
mod writer;

pub use convenience::{PARTIAL_FILE_PREFIX, open, open_bytes, open_to_path, seal, seal_bytes};
#[doc(hidden)]
pub use header::decode_metadata_block_for_fuzzing;
pub use header::{HEADER_HASH_LEN, SealedHeader};
pub use reader::OpenReader;
pub use writer::SealWriter;

use crate::error::{Error, Result};

/// First bytes of every sealed file.
pub const MAGIC: [u8; 8] = *b"ZGVAULT\0";
/// Format version this build writes and reads. Version 1 (sub-keys derived without the suite
/// id) is refused with [`Error::RetiredFormat`](crate::Error::RetiredFormat).
pub const VERSION: u8 = 2;
/// Plaintext bytes per chunk (all chunks but the last are exactly this long).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// AEAD tag length of every suite.
pub const TAG_LEN: usize = 16;
/// Ciphertext bytes of a full chunk.
pub const SEALED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_LEN;
/// Length of the random per-file salt.
pub const SALT_LEN: usize = 32;
/// Longest original file name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Longest media type, in UTF-8 bytes (RFC 6838 allows 127 + `/` + 127).
pub const MAX_MEDIA_TYPE_LEN: usize = 255;
/// Plaintext metadata block length: size (8) ‖ name len (1) ‖ name ‖ type len (1) ‖ type ‖
/// zero padding. Fixed, so that the header does not leak how long the name is.
pub const METADATA_LEN: usize = 8 + 1 + MAX_NAME_LEN + 1 + MAX_MEDIA_TYPE_LEN;
/// Encrypted metadata block length.
pub const SEALED_METADATA_LEN: usize = METADATA_LEN + TAG_LEN;
/// Header MAC length (HMAC-SHA256).
pub const MAC_LEN: usize = 32;
/// Key-check field length.
pub const KEY_CHECK_LEN: usize = 16;
/// Largest plaintext one sealed file may hold (1 PiB). Far above any 0G upload, and it keeps
/// every length computation far away from `u64` overflow.
pub const MAX_PLAINTEXT_LEN: u64 = 1 << 50;

/// Header field offsets (see the README table).
pub const VERSION_OFFSET: usize = MAGIC.len();
/// Offset of the suite id byte.
pub const SUITE_OFFSET: usize = VERSION_OFFSET + 1;
/// Offset of the big-endian `u32` chunk size.
pub const CHUNK_SIZE_OFFSET: usize = SUITE_OFFSET + 1;
/// Offset of the salt.
pub const SALT_OFFSET: usize = CHUNK_SIZE_OFFSET + 4;
/// Offset of the encrypted metadata.
pub const METADATA_OFFSET: usize = SALT_OFFSET + SALT_LEN;
/// Offset of the header MAC (it covers every byte before it).
pub const MAC_OFFSET: usize = METADATA_OFFSET + SEALED_METADATA_LEN;
/// Offset of the key check (after the MAC, not covered by it).
pub const KEY_CHECK_OFFSET: usize = MAC_OFFSET + MAC_LEN;
/// Total header length; the first chunk starts here.
pub const HEADER_LEN: usize = KEY_CHECK_OFFSET + KEY_CHECK_LEN;

/// HKDF info label for the payload (chunk) key; the suite id byte follows it in the info.
pub const INFO_PAYLOAD: &[u8] = b"zgvault/v2/payload";
/// HKDF info label for the metadata key; the suite id byte follows it in the info.
pub const INFO_METADATA: &[u8] = b"zgvault/v2/metadata";
/// HKDF info label for the header MAC key; the suite id byte follows it in the info.
pub const INFO_HEADER_MAC: &[u8] = b"zgvault/v2/header-mac";
/// HKDF info label for the chunk nonce prefix; the suite id byte follows it in the info.
pub const INFO_NONCE_PREFIX: &[u8] = b"zgvault/v2/nonce-prefix";
/// HKDF info for the key check (derived with an empty salt, see the README).
pub const INFO_KEY_CHECK: &[u8] = b"zgvault/v1/key-check";

/// Length of the big-endian chunk counter inside a nonce.
pub const COUNTER_LEN: usize = 8;
/// Last byte of the nonce of the final chunk.
pub const LAST_CHUNK_FLAG: u8 = 0x01;
/// Last byte of the nonce of every other chunk.
pub const NOT_LAST_CHUNK_FLAG: u8 = 0x00;

/// The AEAD used for the metadata and the chunks, chosen by the header's suite byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// XChaCha20-Poly1305 (id 1): the default; fast everywhere, no hardware needed.
    #[default]
    XChaCha20Poly1305,
    /// AES-256-GCM (id 2): for environments that require AES.
    Aes256Gcm,
}

impl Suite {
    /// Every suite this build knows, in id order.
    pub const ALL: [Suite; 2] = [Suite::XChaCha20Poly1305, Suite::Aes256Gcm];

    /// The suite byte stored in the header.
    pub const fn id(self) -> u8 {
        match self {
            Suite::XChaCha20Poly1305 => 1,
            Suite::Aes256Gcm => 2,
        }
    }

    /// Looks a suite up by its header byte.
    pub const fn from_id(id: u8) -> Result<Self> {
        match id {
            1 => Ok(Suite::XChaCha20Poly1305),
            2 => Ok(Suite::Aes256Gcm),
            got => Err(Error::UnknownSuite { got }),
        }
    }

    /// AEAD nonce length in bytes (24 or 12).
    pub const fn nonce_len(self) -> usize {
        match self {
            Suite::XChaCha20Poly1305 => 24,
            Suite::Aes256Gcm => 12,
        }
    }

    /// Length of the salt-derived nonce prefix: the nonce minus counter and flag.
    pub const fn nonce_prefix_len(self) -> usize {
        self.nonce_len() - COUNTER_LEN - 1
    }

    /// Stable lowercase name, used in test vectors, logs and command-line flags.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::XChaCha20Poly1305 => "xchacha20poly1305",
            Suite::Aes256Gcm => "aes256gcm",
        }
    }

    /// Looks a suite up by its [`Suite::name`] (for example from a `--suite` flag).
    pub fn from_name(name: &str) -> Option<Self> {
        Suite::ALL.into_iter().find(|suite| suite.name() == name)
    }
}

/// What the encrypted header says about the plaintext.
///
/// `name` and `media_type` come from whoever sealed the file. They are authenticated under K
/// but not otherwise trusted: never use `name` as a path without sanitising it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Original file name (no directory), at most [`MAX_NAME_LEN`] UTF-8 bytes; may be empty.
    pub name: String,
    /// Media type such as `text/csv`, at most [`MAX_MEDIA_TYPE_LEN`] bytes; may be empty.
    pub media_type: String,
    /// Exact plaintext length in bytes. The writer enforces it; the reader checks it.
    pub size: u64,
}

impl Metadata {
    /// Metadata for `size` bytes with the given name and media type.
    pub fn new(name: impl Into<String>, media_type: impl Into<String>, size: u64) -> Self {
        Self {
            name: name.into(),
            media_type: media_type.into(),
            size,
        }
    }

    /// Checks every field against the format's limits.
    pub fn validate(&self) -> Result<()> {
        if self.name.len() > MAX_NAME_LEN {
            return Err(Error::MetadataTooLong {
                field: "file name",
                len: self.name.len(),
                max: MAX_NAME_LEN,
            });
        }
        if self.media_type.len() > MAX_MEDIA_TYPE_LEN {
            return Err(Error::MetadataTooLong {
                field: "media type",
                len: self.media_type.len(),
                max: MAX_MEDIA_TYPE_LEN,
            });
        }
        check_plaintext_len(self.size)
    }
}

fn check_plaintext_len(len: u64) -> Result<()> {
    if len > MAX_PLAINTEXT_LEN {
        return Err(Error::PlaintextTooLarge {
            len,
            max: MAX_PLAINTEXT_LEN,
        });
    }
    Ok(())
}

/// Number of chunks for a plaintext of `plain_len` bytes: `ceil(plain_len / CHUNK_SIZE)`, and
/// one (empty, final) chunk for an empty plaintext.
pub fn chunk_count(plain_len: u64) -> Result<u64> {
    check_plaintext_len(plain_len)?;
    Ok(plain_len.div_ceil(CHUNK_SIZE as u64).max(1))
}

/// Exact length of the sealed file for a plaintext of `plain_len` bytes, whatever the suite,
/// name and media type: `HEADER_LEN + plain_len + TAG_LEN * chunk_count(plain_len)`.
///
/// 0G computes the Merkle root over these bytes, so the client can size its submission before
/// sealing.
pub fn sealed_len(plain_len: u64) -> Result<u64> {
    let chunks = chunk_count(plain_len)?;
    // Cannot overflow: plain_len <= 2^50 and chunks <= 2^34.
    Ok(HEADER_LEN as u64 + plain_len + TAG_LEN as u64 * chunks)
}

/// Plaintext length of chunk `index` of a `plain_len`-byte plaintext (assumes `index` is in
/// range; callers iterate `0..chunk_count`).
pub(crate) fn chunk_plain_len(plain_len: u64, index: u64) -> usize {
    let start = index.saturating_mul(CHUNK_SIZE as u64);
    let rest = plain_len.saturating_sub(start);
    // `min` with CHUNK_SIZE keeps the value in usize range on every platform.
    rest.min(CHUNK_SIZE as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_constants_match_the_readme() {
        assert_eq!(METADATA_LEN, 520);
        assert_eq!(SALT_OFFSET, 14);
        assert_eq!(METADATA_OFFSET, 46);
        assert_eq!(MAC_OFFSET, 582);
        assert_eq!(KEY_CHECK_OFFSET, 614);
        assert_eq!(HEADER_LEN, 630);
    }

    #[test]
    fn lengths_at_chunk_boundaries() {
        let c = CHUNK_SIZE as u64;
        let h = HEADER_LEN as u64;
        assert_eq!(sealed_len(0).unwrap(), h + 16);
        assert_eq!(sealed_len(1).unwrap(), h + 17);
        assert_eq!(sealed_len(c).unwrap(), h + c + 16);
        assert_eq!(sealed_len(c + 1).unwrap(), h + c + 1 + 32);
        assert_eq!(sealed_len(3 * c).unwrap(), h + 3 * c + 48);
        assert_eq!(chunk_plain_len(c + 1, 0), CHUNK_SIZE);
        assert_eq!(chunk_plain_len(c + 1, 1), 1);
        assert_eq!(chunk_plain_len(0, 0), 0);
        assert!(matches!(
            sealed_len(MAX_PLAINTEXT_LEN + 1),
            Err(Error::PlaintextTooLarge { .. })
        ));
        assert!(sealed_len(MAX_PLAINTEXT_LEN).is_ok());
    }

    #[test]
    fn suite_ids_round_trip() {
        for suite in Suite::ALL {
            assert_eq!(Suite::from_id(suite.id()).unwrap(), suite);
        }
        assert!(matches!(
            Suite::from_id(0),
            Err(Error::UnknownSuite { got: 0 })
        ));
        assert_eq!(Suite::XChaCha20Poly1305.nonce_prefix_len(), 15);
        assert_eq!(Suite::Aes256Gcm.nonce_prefix_len(), 3);
        assert_eq!(Suite::from_name("aes256gcm"), Some(Suite::Aes256Gcm));
        assert_eq!(Suite::from_name("AES"), None);
    }
}
