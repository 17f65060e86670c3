//! A KEK kept in a file, sealed under a passphrase (scrypt): for deployments without an HSM.
//! Its audit key is derived from the unlocked KEK with HKDF-SHA256 under its own label
//! ([`AUDIT_KEY_INFO`]), so it exists only in memory while the KEK is unlocked.
//!
//! ```json
//! { "version": 1, "kdf": "scrypt", "log_n": 15, "r": 8, "p": 1,
//!   "salt": "<hex 32>", "nonce": "<hex 12>", "sealed_key": "<hex 48>" }
//! ```

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::kek::{AUDIT_MAC_LEN, Kek};
use crate::error::{Error, KekFileProblem, Result};

/// Format version of the key file.
pub const FILE_KEK_VERSION: u32 = 1;
/// scrypt cost: 2^15 × 8 × 1 (about 32 MiB and 0.1 s per unlock).
pub const SCRYPT_LOG_N: u8 = 15;
pub const SCRYPT_R: u32 = 8;
pub const SCRYPT_P: u32 = 1;
/// Largest key file read.
const MAX_FILE_BYTES: u64 = 4096;
const AAD: &[u8] = b"zgvault/v1/file-kek";
/// HKDF-SHA256 `info` of the audit key derived from a file KEK: no other key uses it.
pub const AUDIT_KEY_INFO: &[u8] = b"zgvault/v1/file-kek/audit-mac";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    kdf: String,
    log_n: u8,
    r: u32,
    p: u32,
    salt: String,
    nonce: String,
    sealed_key: String,
}

/// A KEK unlocked from a passphrase-sealed file.
pub struct FileKek {
    id: String,
    cipher: ChaCha20Poly1305,
    /// The audit key, derived from the KEK ([`AUDIT_KEY_INFO`]).
    audit_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for FileKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileKek({}, <redacted>)", self.id)
    }
}

impl FileKek {
    /// Unlocks the KEK in `path`, creating it (mode 0600) on first use.
    pub fn open_or_create(path: &Path, passphrase: &[u8]) -> Result<FileKek> {
        if passphrase.is_empty() {
            return Err(Error::KekPassphraseEmpty {
                path: path.to_owned(),
            });
        }
        if !path.exists() {
            create(path, passphrase)?;
        }
        let meta = fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::SecretFilePermissions {
                path: path.to_owned(),
                mode,
            });
        }
        let invalid = |problem| Error::KekFileInvalid {
            path: path.to_owned(),
            problem,
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(invalid(KekFileProblem::TooLarge {
                max: MAX_FILE_BYTES,
            }));
        }
        let text = fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let file: KeyFile = serde_json::from_str(&text)
            .map_err(|source| invalid(KekFileProblem::NotAKekFile { source }))?;
        if file.version != FILE_KEK_VERSION || file.kdf != "scrypt" {
            return Err(invalid(KekFileProblem::Version {
                version: file.version,
                kdf: file.kdf,
                expected: FILE_KEK_VERSION,
            }));
        }
        let salt = unhex(&file.salt, 32).map_err(invalid)?;
        let nonce = unhex(&file.nonce, 12).map_err(invalid)?;
        let sealed = unhex(&file.sealed_key, 48).map_err(invalid)?;
        let wrapping = derive(path, passphrase, &salt, file.log_n, file.r, file.p)?;
        let key = ChaCha20Poly1305::new(&Key::from(*wrapping))
            .decrypt(
                &nonce_of(&nonce)?,
                Payload {
                    msg: &sealed,
                    aad: AAD,
                },
            )
            .map_err(|_| Error::KekAuth {
                backend: "file",
                what: "passphrase",
            })
            .and_then(|k| {
                let k = Zeroizing::new(k);
                <[u8; 32]>::try_from(k.as_slice())
                    .map(Zeroizing::new)
                    .map_err(|_| invalid(KekFileProblem::KeyLength))
            })?;
        let id = format!("file:{}", hex::encode(&salt[..8]));
        let mut audit_key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, key.as_slice())
            .expand(AUDIT_KEY_INFO, audit_key.as_mut_slice())
            .map_err(|_| Error::Internal {
                what: "HKDF output length",
            })?;
        Ok(FileKek {
            id,
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
            audit_key,
        })
    }
}

impl Kek for FileKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                &nonce_of(&nonce)?,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::Internal { what: "KEK seal" })?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (nonce, ct) = sealed.split_at_checked(12).ok_or(Error::KekTampered {
            kek: self.id.clone(),
            detail: "shorter than a nonce",
        })?;
        self.cipher
            .decrypt(&nonce_of(nonce)?, Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| Error::KekTampered {
                kek: self.id.clone(),
                detail: "authentication failed",
            })
    }

    fn audit_mac(&self, message: &[u8]) -> Result<[u8; AUDIT_MAC_LEN]> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.audit_key.as_slice()).map_err(|_| {
            Error::Internal {
                what: "HMAC key length",
            }
        })?;
        mac.update(message);
        Ok(mac.finalize().into_bytes().into())
    }
}

fn create(path: &Path, passphrase: &[u8]) -> Result<()> {
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 12];
    let mut key = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    OsRng.fill_bytes(key.as_mut_slice());
    let wrapping = derive(path, passphrase, &salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)?;
    let sealed = ChaCha20Poly1305::new(&Key::from(*wrapping))
        .encrypt(
            &nonce_of(&nonce)?,
            Payload {
                msg: key.as_slice(),
                aad: AAD,
            },
        )
        .map_err(|_| Error::Internal {
            what: "KEK file seal",
        })?;
    let file = KeyFile {
        version: FILE_KEK_VERSION,
        kdf: "scrypt".into(),
        log_n: SCRYPT_LOG_N,
        r: SCRYPT_R,
        p: SCRYPT_P,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        sealed_key: hex::encode(sealed),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|_| Error::Internal {
        what: "KEK file JSON",
    })?;
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    out.write_all(&json)
        .and_then(|()| out.sync_all())
        .map_err(|e| Error::io("write", path, e))
}

fn derive(
    path: &Path,
    passphrase: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>> {
    let params = scrypt::Params::new(log_n, r, p).map_err(|_| Error::KekFileInvalid {
        path: path.to_owned(),
        problem: KekFileProblem::ScryptParams { log_n, r, p },
    })?;
    let mut out = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, salt, &params, out.as_mut_slice()).map_err(|_| Error::Internal {
        what: "scrypt output length",
    })?;
    Ok(out)
}

fn nonce_of(bytes: &[u8]) -> Result<Nonce> {
    <[u8; 12]>::try_from(bytes)
        .map(Nonce::from)
        .map_err(|_| Error::Internal {
            what: "nonce length",
        })
}

fn unhex(s: &str, len: usize) -> Result<Vec<u8>, KekFileProblem> {
    hex::decode(s)
        .ok()
        .filter(|b| b.len() == len)
        .ok_or(KekFileProblem::Field { len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_reopens_and_refuses_a_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        let kek = FileKek::open_or_create(&path, b"correct horse").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let sealed = kek
            .seal(b"file-1", b"thirty-two bytes of file key K!!")
            .unwrap();
        assert_eq!(sealed.len(), 32 + crate::custody::SEALED_OVERHEAD);

        let again = FileKek::open_or_create(&path, b"correct horse").unwrap();
        assert_eq!(
            again.open(b"file-1", &sealed).unwrap().as_slice(),
            b"thirty-two bytes of file key K!!"
        );
        assert!(!format!("{again:?}").contains("horse"));

        let wrong = FileKek::open_or_create(&path, b"wrong horse").unwrap_err();
        assert!(
            matches!(
                wrong,
                Error::KekAuth {
                    what: "passphrase",
                    ..
                }
            ),
            "{wrong}"
        );
    }

    #[test]
    fn audit_key_is_derived_per_kek_and_stable_across_unlocks() {
        let dir = tempfile::tempdir().unwrap();
        let (path_a, path_b) = (dir.path().join("a"), dir.path().join("b"));
        let a = FileKek::open_or_create(&path_a, b"pw").unwrap();
        let b = FileKek::open_or_create(&path_b, b"pw").unwrap();
        let mac = a.audit_mac(b"an audit line").unwrap();
        let again = FileKek::open_or_create(&path_a, b"pw").unwrap();
        assert_eq!(again.audit_mac(b"an audit line").unwrap(), mac);
        assert_ne!(a.audit_mac(b"another audit line").unwrap(), mac);
        assert_ne!(
            b.audit_mac(b"an audit line").unwrap(),
            mac,
            "one audit key per KEK"
        );
        // The audit key is not the KEK: nothing sealed under the KEK opens with it.
        let sealed = a.seal(b"aad", b"secret").unwrap();
        let audit_cipher = ChaCha20Poly1305::new(&Key::from(*a.audit_key));
        assert!(
            audit_cipher
                .decrypt(
                    &nonce_of(&sealed[..12]).unwrap(),
                    Payload {
                        msg: &sealed[12..],
                        aad: b"aad"
                    }
                )
                .is_err()
        );
        assert!(!format!("{a:?}").contains(&hex::encode(*a.audit_key)));
    }

    #[test]
    fn fail_tampered_or_moved_record_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let kek = FileKek::open_or_create(&dir.path().join("k"), b"pw").unwrap();
        let mut sealed = kek.seal(b"file-1", b"secret").unwrap();
        assert!(matches!(
            kek.open(b"file-2", &sealed),
            Err(Error::KekTampered { .. })
        ));
        sealed[20] ^= 1;
        assert!(matches!(
            kek.open(b"file-1", &sealed),
            Err(Error::KekTampered { .. })
        ));
        assert!(matches!(
            kek.open(b"file-1", &[1, 2, 3]),
            Err(Error::KekTampered { .. })
        ));
    }

    #[test]
    fn fail_readable_or_garbage_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        FileKek::open_or_create(&path, b"pw").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = FileKek::open_or_create(&path, b"pw")
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
        fs::write(&path, "{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            FileKek::open_or_create(&path, b"pw"),
            Err(Error::KekFileInvalid {
                problem: KekFileProblem::NotAKekFile { .. },
                ..
            })
        ));
        assert!(matches!(
            FileKek::open_or_create(&dir.path().join("x"), b""),
            Err(Error::KekPassphraseEmpty { .. })
        ));
    }
}
