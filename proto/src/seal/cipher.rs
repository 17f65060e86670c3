//! Key derivation and the two AEAD suites behind one small enum.

use aes_gcm::Aes256Gcm;
use chacha20poly1305::{
    XChaCha20Poly1305,
    aead::{AeadInOut, KeyInit, array::Array},
};
use hkdf::{
    Hkdf,
    hmac::{Hmac, Mac},
};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::{
    COUNTER_LEN, INFO_HEADER_MAC, INFO_KEY_CHECK, INFO_METADATA, INFO_NONCE_PREFIX, INFO_PAYLOAD,
    KEY_CHECK_LEN, LAST_CHUNK_FLAG, MAC_LEN, NOT_LAST_CHUNK_FLAG, SALT_LEN, Suite, TAG_LEN,
};
use crate::{
    error::{Error, Result},
    key::{FileKey, KEY_LEN},
};

/// Longest nonce of any suite (XChaCha20's 24 bytes).
const MAX_NONCE_LEN: usize = 24;

/// A 32-byte derived key, wiped when dropped.
type SubKey = Zeroizing<[u8; KEY_LEN]>;

/// The per-file keys derived from K and the salt.
pub(crate) struct FileKeys {
    pub(crate) payload: SubKey,
    pub(crate) metadata: SubKey,
    pub(crate) header_mac: SubKey,
    pub(crate) nonce_prefix: [u8; MAX_NONCE_LEN],
}

impl FileKeys {
    /// `HKDF-SHA256(ikm = K, salt = file salt, info = label ‖ suite id)` for each sub-key: the
    /// suite is bound in, so one K and salt never give two ciphers the same key.
    pub(crate) fn derive(key: &FileKey, salt: &[u8; SALT_LEN], suite: Suite) -> Result<Self> {
        let hkdf = Hkdf::<Sha256>::new(Some(salt.as_slice()), key.as_bytes());
        let expand = |label: &[u8], out: &mut [u8]| {
            hkdf.expand_multi_info(&[label, &[suite.id()]], out)
                .map_err(|_| Error::Internal {
                    what: "HKDF output length",
                })
        };
        let mut keys = FileKeys {
            payload: Zeroizing::new([0; KEY_LEN]),
            metadata: Zeroizing::new([0; KEY_LEN]),
            header_mac: Zeroizing::new([0; KEY_LEN]),
            nonce_prefix: [0; MAX_NONCE_LEN],
        };
        expand(INFO_PAYLOAD, keys.payload.as_mut_slice())?;
        expand(INFO_METADATA, keys.metadata.as_mut_slice())?;
        expand(INFO_HEADER_MAC, keys.header_mac.as_mut_slice())?;
        let prefix = keys
            .nonce_prefix
            .get_mut(..suite.nonce_prefix_len())
            .ok_or(Error::Internal {
                what: "nonce prefix length",
            })?;
        expand(INFO_NONCE_PREFIX, prefix)?;
        Ok(keys)
    }

    /// HMAC-SHA256 over `data` under the header MAC key.
    pub(crate) fn header_mac(&self, data: &[u8]) -> Result<[u8; MAC_LEN]> {
        Ok(self.mac(data)?.finalize().into_bytes().into())
    }

    /// Constant-time check of a header MAC.
    pub(crate) fn verify_header_mac(&self, data: &[u8], tag: &[u8]) -> Result<bool> {
        Ok(self.mac(data)?.verify_slice(tag).is_ok())
    }

    fn mac(&self, data: &[u8]) -> Result<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.header_mac.as_slice()).map_err(|_| {
            Error::Internal {
                what: "HMAC key length",
            }
        })?;
        mac.update(data);
        Ok(mac)
    }
}

/// `HKDF-SHA256(ikm = K, salt = empty, info = "zgvault/v1/key-check")`, first 16 bytes.
///
/// Deliberately independent of the salt: a flipped salt bit must read as "header tampered",
/// not as "wrong key".
pub(crate) fn key_check(key: &FileKey) -> Result<[u8; KEY_CHECK_LEN]> {
    let mut out = [0; KEY_CHECK_LEN];
    Hkdf::<Sha256>::new(None, key.as_bytes())
        .expand(INFO_KEY_CHECK, &mut out)
        .map_err(|_| Error::Internal {
            what: "HKDF output length",
        })?;
    Ok(out)
}

/// One keyed AEAD instance of either suite. Both types zeroize their key schedule on drop
/// (the `zeroize` features are enabled in Cargo.toml).
pub(crate) enum SuiteAead {
    XChaCha(XChaCha20Poly1305),
    // Boxed: the AES key schedule plus GHASH state is several times larger than XChaCha's.
    Aes(Box<Aes256Gcm>),
}

impl SuiteAead {
    pub(crate) fn new(suite: Suite, key: &[u8; KEY_LEN]) -> Self {
        // The AEAD constructors take an `Array`; build it in place and wipe it after use
        // (it is not zeroized on drop).
        let mut array = Array::<u8, _>::default();
        array.copy_from_slice(key.as_slice());
        let aead = match suite {
            Suite::XChaCha20Poly1305 => SuiteAead::XChaCha(XChaCha20Poly1305::new(&array)),
            Suite::Aes256Gcm => SuiteAead::Aes(Box::new(Aes256Gcm::new(&array))),
        };
        array.as_mut_slice().zeroize();
        aead
    }

    /// Encrypts `buf` in place and returns the tag. `nonce` must be the suite's length.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ()> {
        let tag = match self {
            SuiteAead::XChaCha(aead) => {
                let nonce = <&Array<u8, _>>::try_from(nonce).map_err(|_| ())?;
                aead.encrypt_inout_detached(nonce, aad, buf.into())
                    .map_err(|_| ())?
            }
            SuiteAead::Aes(aead) => {
                let nonce = <&Array<u8, _>>::try_from(nonce).map_err(|_| ())?;
                aead.encrypt_inout_detached(nonce, aad, buf.into())
                    .map_err(|_| ())?
            }
        };
        Ok(tag.into())
    }

    /// Verifies `tag` and decrypts `buf` in place. On failure `buf` holds no plaintext that
    /// may be used (the AEADs check the tag before decrypting).
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), ()> {
        let tag = <&Array<u8, _>>::try_from(tag).map_err(|_| ())?;
        match self {
            SuiteAead::XChaCha(aead) => {
                let nonce = <&Array<u8, _>>::try_from(nonce).map_err(|_| ())?;
                aead.decrypt_inout_detached(nonce, aad, buf.into(), tag)
                    .map_err(|_| ())
            }
            SuiteAead::Aes(aead) => {
                let nonce = <&Array<u8, _>>::try_from(nonce).map_err(|_| ())?;
                aead.decrypt_inout_detached(nonce, aad, buf.into(), tag)
                    .map_err(|_| ())
            }
        }
    }
}

/// The payload AEAD plus the STREAM nonce: `prefix ‖ u64 BE counter ‖ last-chunk flag`.
pub(crate) struct ChunkAead {
    aead: SuiteAead,
    /// Salt-derived prefix in the first `prefix_len` bytes, zeros after.
    prefix: [u8; MAX_NONCE_LEN],
    nonce_len: usize,
    prefix_len: usize,
}

impl ChunkAead {
    pub(crate) fn new(suite: Suite, keys: &FileKeys) -> Self {
        Self {
            aead: SuiteAead::new(suite, &keys.payload),
            prefix: keys.nonce_prefix,
            nonce_len: suite.nonce_len(),
            prefix_len: suite.nonce_prefix_len(),
        }
    }

    /// The nonce of chunk `index`: `prefix ‖ u64 BE index ‖ flag`, zero-padded to 24 bytes
    /// (only the first `nonce_len` bytes are used).
    fn nonce(&self, index: u64, last: bool) -> [u8; MAX_NONCE_LEN] {
        let mut nonce = self.prefix;
        let counter_end = self.prefix_len + COUNTER_LEN;
        if let Some(counter) = nonce.get_mut(self.prefix_len..counter_end) {
            counter.copy_from_slice(&index.to_be_bytes());
        }
        if let Some(flag) = nonce.get_mut(counter_end) {
            *flag = if last {
                LAST_CHUNK_FLAG
            } else {
                NOT_LAST_CHUNK_FLAG
            };
        }
        nonce
    }

    pub(crate) fn seal_chunk(
        &self,
        index: u64,
        last: bool,
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let nonce = self.nonce(index, last);
        let nonce = nonce.get(..self.nonce_len).unwrap_or(&[]);
        self.aead
            .seal_in_place(nonce, aad, buf)
            .map_err(|()| Error::EncryptFailed { index })
    }

    pub(crate) fn open_chunk(
        &self,
        index: u64,
        last: bool,
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<()> {
        let nonce = self.nonce(index, last);
        let nonce = nonce.get(..self.nonce_len).unwrap_or(&[]);
        self.aead
            .open_in_place(nonce, aad, buf, tag)
            .map_err(|()| Error::ChunkAuthFailed { index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Security issue, item 7: the suite id is part of every sub-key's derivation, so the same
    /// K and salt never give two suites the same key or nonce prefix.
    #[test]
    fn sub_keys_differ_between_suites() {
        let key = FileKey::from_slice(&[5; KEY_LEN]).unwrap();
        let salt = [7; SALT_LEN];
        let x = FileKeys::derive(&key, &salt, Suite::XChaCha20Poly1305).unwrap();
        let a = FileKeys::derive(&key, &salt, Suite::Aes256Gcm).unwrap();
        assert_ne!(*x.payload, *a.payload);
        assert_ne!(*x.metadata, *a.metadata);
        assert_ne!(*x.header_mac, *a.header_mac);
        let short = Suite::Aes256Gcm.nonce_prefix_len();
        assert_ne!(x.nonce_prefix[..short], a.nonce_prefix[..short]);
    }

    /// The counter and the last-chunk flag are both bound into the nonce: a chunk only opens
    /// at its own position and with its own "last" status.
    #[test]
    fn nonce_binds_counter_and_last_flag() {
        let key = FileKey::from_slice(&[3; KEY_LEN]).unwrap();
        for suite in Suite::ALL {
            let keys = FileKeys::derive(&key, &[9; SALT_LEN], suite).unwrap();
            let aead = ChunkAead::new(suite, &keys);
            let mut buf = *b"sixteen byte msg";
            let tag = aead.seal_chunk(5, false, b"aad", &mut buf).unwrap();
            let sealed = buf;
            for (index, last, aad) in [
                (5, true, &b"aad"[..]),
                (4, false, b"aad"),
                (5, false, b"aae"),
            ] {
                let mut b = sealed;
                assert!(aead.open_chunk(index, last, aad, &mut b, &tag).is_err());
            }
            let mut b = sealed;
            aead.open_chunk(5, false, b"aad", &mut b, &tag).unwrap();
            assert_eq!(&b, b"sixteen byte msg");
            let n = aead.nonce(0x0102, true);
            let p = suite.nonce_prefix_len();
            assert_eq!(&n[..p], &keys.nonce_prefix[..p]);
            assert_eq!(&n[p..p + COUNTER_LEN], &0x0102u64.to_be_bytes());
            assert_eq!(n[p + COUNTER_LEN], LAST_CHUNK_FLAG);
            assert_eq!(p + COUNTER_LEN + 1, suite.nonce_len());
        }
    }

    #[test]
    fn key_check_ignores_the_salt_and_subkeys_do_not() {
        let key = FileKey::from_slice(&[3; KEY_LEN]).unwrap();
        let a = FileKeys::derive(&key, &[1; SALT_LEN], Suite::default()).unwrap();
        let b = FileKeys::derive(&key, &[2; SALT_LEN], Suite::default()).unwrap();
        assert_ne!(*a.payload, *b.payload);
        assert_ne!(*a.payload, *a.metadata);
        assert_ne!(*a.metadata, *a.header_mac);
        assert_eq!(key_check(&key).unwrap(), key_check(&key).unwrap());
    }
}
