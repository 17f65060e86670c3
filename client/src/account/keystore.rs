//! The user's Ethereum key in the standard encrypted JSON keystore (scrypt + AES-128-CTR,
//! as geth and foundry write it), and the local key that protects unfinished `put`s.

use std::fmt;
use std::path::Path;

use alloy::signers::local::PrivateKeySigner;
use chacha20poly1305::{
    ChaCha20Poly1305,
    aead::{AeadInOut, KeyInit, array::Array},
};
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::error::Error;

/// HKDF info of the key that seals a pending `put`'s file key on disk.
const INFO_PENDING: &[u8] = b"zgvault/v1/pending-file-key";
const SALT_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// A keystore passphrase: redacted, zeroized.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    pub fn new(text: String) -> Passphrase {
        Passphrase(Zeroizing::new(text))
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Creates the keystore at `path` (0600) holding `import` (hex private key) or a fresh
/// key. Refuses to overwrite an existing file.
pub fn create_keystore(
    path: &Path,
    passphrase: &Passphrase,
    import: Option<Zeroizing<String>>,
) -> Result<PrivateKeySigner, Error> {
    let fail = |message: String| Error::Keystore {
        path: path.to_owned(),
        message,
    };
    if path.exists() {
        return Err(fail(
            "it exists already: use it (`zgvault init --keystore FILE`) or move it away first"
                .into(),
        ));
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    match import {
        Some(text) => {
            let hex_text = text.trim().trim_start_matches("0x");
            hex::decode_to_slice(hex_text, secret.as_mut_slice())
                .map_err(|_| fail("--import-key is not a 32-byte hex private key".into()))?;
        }
        None => OsRng.fill_bytes(secret.as_mut_slice()),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::files::create_private_dir(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| fail("the keystore path needs a file name".into()))?;
    let (signer, _) = PrivateKeySigner::encrypt_keystore(
        if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        },
        &mut OsRng,
        secret.as_slice(),
        passphrase.as_bytes(),
        Some(name),
    )
    .map_err(|e| fail(format!("cannot write it: {e}")))?;
    set_private(path)?;
    Ok(signer)
}

/// Unlocks the keystore at `path`.
pub fn load_keystore(path: &Path, passphrase: &Passphrase) -> Result<PrivateKeySigner, Error> {
    if !path.is_file() {
        return Err(Error::Keystore {
            path: path.to_owned(),
            message: "no keystore there: run `zgvault init` first".into(),
        });
    }
    PrivateKeySigner::decrypt_keystore(path, passphrase.as_bytes()).map_err(|e| Error::Keystore {
        path: path.to_owned(),
        message: format!(
            "cannot unlock it ({e}); check the passphrase ($ZGVAULT_PASSPHRASE or the prompt)"
        ),
    })
}

fn set_private(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| Error::Io {
        action: "restrict the permissions of",
        path: path.to_owned(),
        source: e,
    })
}

/// Seals `plain` under a key derived from the signer's private key and a fresh salt:
/// `salt ‖ ciphertext ‖ tag`. Only the same key can open it.
pub(crate) fn seal_local(
    signer: &PrivateKeySigner,
    plain: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let aead = local_aead(signer, &salt)?;
    let mut out = Vec::with_capacity(SALT_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(&salt);
    let mut body = Zeroizing::new(plain.to_vec());
    let tag = aead
        .encrypt_inout_detached(&Array::from([0u8; 12]), aad, body.as_mut_slice().into())
        .map_err(|_| Error::Internal {
            what: "sealing the pending file key",
        })?;
    out.extend_from_slice(&body);
    out.extend_from_slice(tag.as_slice());
    Ok(out)
}

/// Opens what [`seal_local`] sealed; `None` if it was not sealed by this key for `aad`.
pub(crate) fn open_local(
    signer: &PrivateKeySigner,
    sealed: &[u8],
    aad: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
    if sealed.len() < SALT_LEN + TAG_LEN {
        return Ok(None);
    }
    let (salt, rest) = sealed.split_at(SALT_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let aead = local_aead(signer, salt)?;
    let mut plain = Zeroizing::new(body.to_vec());
    let mut tag_arr = [0u8; TAG_LEN];
    tag_arr.copy_from_slice(tag);
    let ok = aead
        .decrypt_inout_detached(
            &Array::from([0u8; 12]),
            aad,
            plain.as_mut_slice().into(),
            &Array::from(tag_arr),
        )
        .is_ok();
    Ok(ok.then_some(plain))
}

fn local_aead(signer: &PrivateKeySigner, salt: &[u8]) -> Result<ChaCha20Poly1305, Error> {
    let secret = Zeroizing::new(signer.to_bytes().0);
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), secret.as_slice())
        .expand(INFO_PENDING, key.as_mut_slice())
        .map_err(|_| Error::Internal {
            what: "HKDF output length",
        })?;
    let mut key_array = Array::from(*key);
    let aead = ChaCha20Poly1305::new(&key_array);
    key_array.as_mut_slice().zeroize();
    Ok(aead)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keystore_round_trip_is_private_and_needs_the_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/keystore.json");
        let pass = Passphrase::new("correct horse".into());
        let key = Zeroizing::new(format!("0x{}", "11".repeat(32)));
        let made = create_keystore(&path, &pass, Some(key)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = load_keystore(&path, &pass).unwrap();
        assert_eq!(made.address(), back.address());
        let wrong = load_keystore(&path, &Passphrase::new("nope".into()));
        assert!(matches!(wrong, Err(Error::Keystore { .. })));
        assert!(
            create_keystore(&path, &pass, None).is_err(),
            "overwrote a keystore"
        );
    }

    #[test]
    fn local_seal_opens_only_with_the_same_key_and_aad() {
        let a = PrivateKeySigner::random();
        let b = PrivateKeySigner::random();
        let sealed = seal_local(&a, b"file key", b"id").unwrap();
        assert_eq!(
            open_local(&a, &sealed, b"id").unwrap().unwrap().as_slice(),
            b"file key"
        );
        assert!(open_local(&b, &sealed, b"id").unwrap().is_none());
        assert!(open_local(&a, &sealed, b"other").unwrap().is_none());
        assert!(open_local(&a, &sealed[..10], b"id").unwrap().is_none());
    }
}
