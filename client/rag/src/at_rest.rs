//! Everything the library writes to disk goes through here: sealed with the project's own
//! file format (`zgvault_proto::seal_bytes`, XChaCha20-Poly1305) under a key derived from the
//! caller's key, and named by a keyed hash so that not even file ids or names show on disk.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use hkdf::{
    Hkdf,
    hmac::{Hmac, KeyInit, Mac},
};
use sha2::Sha256;
use zeroize::Zeroizing;
use zgvault_proto::{FileKey, Suite};

use crate::error::{Error, Result};

/// Shortest caller key accepted: 256 bits of input key material.
pub const MIN_KEY_LEN: usize = 32;
/// HKDF salt: the domain of these keys.
const HKDF_SALT: &[u8] = b"zgvault/v1/rag-at-rest";
/// HKDF info of the sealing key.
const INFO_SEAL: &[u8] = b"seal";
/// HKDF info of the key that names stored files.
const INFO_NAMES: &[u8] = b"names";
/// Extension of every sealed store file.
pub(crate) const EXT: &str = "zgv";

/// The at-rest keys of one library.
pub(crate) struct AtRest {
    seal: FileKey,
    names: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for AtRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AtRest(<redacted>)")
    }
}

impl AtRest {
    /// Derives the sealing and naming keys from the caller's key.
    pub(crate) fn derive(key: &[u8]) -> Result<Self> {
        if key.len() < MIN_KEY_LEN {
            return Err(Error::KeyTooShort {
                min: MIN_KEY_LEN,
                got: key.len(),
            });
        }
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), key);
        let mut seal = Zeroizing::new([0u8; 32]);
        let mut names = Zeroizing::new([0u8; 32]);
        hkdf.expand(INFO_SEAL, seal.as_mut_slice())
            .and_then(|()| hkdf.expand(INFO_NAMES, names.as_mut_slice()))
            .map_err(|_| Error::Index("HKDF output length".into()))?;
        Ok(Self {
            seal: FileKey::from_bytes(&mut seal),
            names,
        })
    }

    /// The on-disk name of the item `id` of kind `kind`: a keyed hash, so equal ids give equal
    /// names under one key and nothing about the id is visible.
    pub(crate) fn file_name(&self, kind: &str, id: &str) -> Result<String> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.names.as_slice())
            .map_err(|_| Error::Index("HMAC key length".into()))?;
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(id.as_bytes());
        let tag = mac.finalize().into_bytes();
        Ok(format!(
            "{}.{EXT}",
            hex::encode(tag.get(..16).unwrap_or(&[]))
        ))
    }

    /// Seals `plain` and writes it to `path` atomically (temporary file, sync, rename), mode
    /// 0600 on Unix.
    pub(crate) fn write(&self, path: &Path, plain: &[u8]) -> Result<()> {
        let sealed = zgvault_proto::seal_bytes(&self.seal, Suite::default(), "", "", plain)
            .map_err(Error::Seal)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let tmp = tmp_path(path);
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(Error::io(&tmp))?;
        file.write_all(&sealed)
            .and_then(|()| file.sync_all())
            .map_err(Error::io(&tmp))?;
        fs::rename(&tmp, path).map_err(Error::io(path))
    }

    /// Reads and opens a sealed file.
    pub(crate) fn read(&self, path: &Path) -> Result<Zeroizing<Vec<u8>>> {
        let sealed = fs::read(path).map_err(Error::io(path))?;
        let (_, plain) = zgvault_proto::open_bytes(&self.seal, &sealed).map_err(|source| {
            Error::WrongKeyOrTampered {
                path: path.to_owned(),
                source,
            }
        })?;
        Ok(Zeroizing::new(plain))
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Removes a file if it exists.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            path: path.to_owned(),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.zgv");
        let a = AtRest::derive(&[7u8; 32]).expect("key");
        a.write(&path, b"the secret word is aubergine")
            .expect("write");
        let raw = fs::read(&path).expect("read raw");
        assert!(!raw.windows(9).any(|w| w == b"aubergine"));
        assert_eq!(
            a.read(&path).expect("open").as_slice(),
            b"the secret word is aubergine"
        );
        let b = AtRest::derive(&[8u8; 32]).expect("key");
        assert!(matches!(
            b.read(&path),
            Err(Error::WrongKeyOrTampered { .. })
        ));
        let mut tampered = raw.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        fs::write(&path, tampered).expect("write");
        assert!(a.read(&path).is_err());
    }

    #[test]
    fn names_are_keyed_and_stable() {
        let a = AtRest::derive(&[1u8; 32]).expect("key");
        let b = AtRest::derive(&[2u8; 32]).expect("key");
        let name = |k: &AtRest, kind: &str, id: &str| k.file_name(kind, id).expect("name");
        assert_eq!(
            name(&a, "file", "report.csv"),
            name(&a, "file", "report.csv")
        );
        assert_ne!(
            name(&a, "file", "report.csv"),
            name(&b, "file", "report.csv")
        );
        assert_ne!(name(&a, "file", "x"), name(&a, "chat", "x"));
        assert!(!name(&a, "file", "report.csv").contains("report"));
        assert!(matches!(
            AtRest::derive(&[0u8; 16]),
            Err(Error::KeyTooShort { .. })
        ));
    }
}
