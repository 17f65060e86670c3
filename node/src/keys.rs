//! The node's long-term keys, created on first start and stored in `data_dir` with mode 0600.
//!
//! | file | content |
//! |---|---|
//! | `identity.key` | the libp2p identity: an ed25519 keypair in libp2p's **protobuf encoding** (`libp2p::identity::Keypair::from_protobuf_encoding`) |
//! | `encryption.key` | the X25519 secret (32 raw bytes) that deposits are sealed to ([`BoxSecretKey`]) |
//! | `store.key` | the 32-byte ChaCha20-Poly1305 key sealing the share store at rest |
//!
//! A key file readable by group or others is refused (the key may have leaked; the operator
//! must decide), and so is a key file of the wrong shape (deleting it would silently make a
//! new identity). Files are created with `create_new`, so two nodes started on the same
//! folder cannot both write one.

use std::{
    fmt,
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use libp2p::identity::{Keypair, PeerId};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;
use zgvault_proto::sealbox::{BOX_KEY_LEN, BoxPublicKey, BoxSecretKey};

use crate::error::{Error, Result};

/// File name of the libp2p identity key.
pub const IDENTITY_KEY_FILE: &str = "identity.key";
/// File name of the X25519 encryption key.
pub const ENCRYPTION_KEY_FILE: &str = "encryption.key";
/// File name of the share-store key.
pub const STORE_KEY_FILE: &str = "store.key";
/// Length of the share-store key.
pub const STORE_KEY_LEN: usize = 32;
/// Largest key file read (a protobuf ed25519 keypair is 68 bytes).
const MAX_KEY_FILE_BYTES: u64 = 4096;
/// Mode of key files.
const KEY_FILE_MODE: u32 = 0o600;
/// Mode of a data folder the node creates.
const DATA_DIR_MODE: u32 = 0o700;
/// Permission bits that must be clear on a key file (group and others).
const FORBIDDEN_KEY_BITS: u32 = 0o077;

/// The key sealing the share store. Secret: no `Clone`, redacted `Debug`, zeroized on drop.
pub struct StoreKey(Zeroizing<[u8; STORE_KEY_LEN]>);

impl StoreKey {
    /// Wraps key bytes.
    pub fn from_bytes(bytes: Zeroizing<[u8; STORE_KEY_LEN]>) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; STORE_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(<redacted>)")
    }
}

/// The node's three long-term keys.
pub struct NodeKeys {
    /// libp2p identity (its peer id is the node's network name).
    pub identity: Keypair,
    /// Encryption key that Shamir deposits are sealed to.
    pub encryption: BoxSecretKey,
    /// At-rest key of the share store.
    pub store: StoreKey,
}

impl fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKeys")
            .field("peer_id", &self.peer_id())
            .field("encryption_public", &self.encryption.public_key())
            .finish_non_exhaustive()
    }
}

impl NodeKeys {
    /// Loads the keys from `data_dir`, creating the folder (0700) and any missing key (0600).
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        ensure_dir(data_dir)?;
        let identity = {
            let path = data_dir.join(IDENTITY_KEY_FILE);
            let bytes = load_or_create_file(&path, || {
                let seed = random_32()?;
                let pair = Keypair::ed25519_from_bytes(*seed).map_err(|_| Error::Internal {
                    what: "ed25519 key from seed",
                })?;
                pair.to_protobuf_encoding()
                    .map(Zeroizing::new)
                    .map_err(|_| Error::Internal {
                        what: "ed25519 protobuf encoding",
                    })
            })?;
            let pair =
                Keypair::from_protobuf_encoding(&bytes).map_err(|_| Error::KeyFileCorrupt {
                    path: path.clone(),
                    reason: "not a protobuf-encoded libp2p keypair",
                })?;
            if pair.clone().try_into_ed25519().is_err() {
                return Err(Error::KeyFileCorrupt {
                    path,
                    reason: "the identity key is not ed25519",
                });
            }
            pair
        };
        let encryption = {
            let path = data_dir.join(ENCRYPTION_KEY_FILE);
            let bytes =
                load_or_create_file(&path, || random_32().map(|k| Zeroizing::new(k.to_vec())))?;
            let mut key = fixed_32(&path, &bytes)?;
            BoxSecretKey::from_bytes(&mut key)
        };
        let store = {
            let path = data_dir.join(STORE_KEY_FILE);
            let bytes =
                load_or_create_file(&path, || random_32().map(|k| Zeroizing::new(k.to_vec())))?;
            StoreKey::from_bytes(Zeroizing::new(fixed_32(&path, &bytes)?))
        };
        Ok(Self {
            identity,
            encryption,
            store,
        })
    }

    /// Reads the keys without creating anything (for `zgvault-node info`).
    pub fn load_existing(data_dir: &Path) -> Result<Self> {
        for name in [IDENTITY_KEY_FILE, ENCRYPTION_KEY_FILE, STORE_KEY_FILE] {
            let path = data_dir.join(name);
            if !path.exists() {
                return Err(Error::NotInitialized {
                    data_dir: data_dir.to_owned(),
                });
            }
        }
        Self::load_or_create(data_dir)
    }

    /// The libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.identity.public().to_peer_id()
    }

    /// The X25519 public key that deposits are sealed to (published in the NodeRegistry).
    pub fn encryption_public(&self) -> BoxPublicKey {
        self.encryption.public_key()
    }
}

fn random_32() -> Result<Zeroizing<[u8; 32]>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng
        .try_fill_bytes(bytes.as_mut_slice())
        .map_err(|source| Error::Rng { source })?;
    Ok(bytes)
}

fn fixed_32(path: &Path, bytes: &[u8]) -> Result<[u8; BOX_KEY_LEN]> {
    <[u8; BOX_KEY_LEN]>::try_from(bytes).map_err(|_| Error::KeyFileCorrupt {
        path: path.to_owned(),
        reason: "expected exactly 32 bytes",
    })
}

/// Creates `dir` (and parents) with mode 0700 if missing.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DATA_DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// Refuses a data folder that group or others can read, write or enter: it holds the keys,
/// the stores and (custodial) the admin socket. Creates it (0700) if missing.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    ensure_dir(dir)?;
    let mode = fs::metadata(dir)
        .map_err(|e| Error::io("stat", dir, e))?
        .permissions()
        .mode();
    if mode & FORBIDDEN_KEY_BITS != 0 {
        return Err(Error::DataDirPermissions {
            path: dir.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

/// Reads the key file at `path`, or writes `make()` to it (mode 0600, fsynced) if it is
/// missing. Refuses a file readable by group or others.
fn load_or_create_file(
    path: &Path,
    make: impl FnOnce() -> Result<Zeroizing<Vec<u8>>>,
) -> Result<Zeroizing<Vec<u8>>> {
    match fs::metadata(path) {
        Ok(meta) => {
            check_mode(path, meta.permissions().mode())?;
            if meta.len() > MAX_KEY_FILE_BYTES {
                return Err(Error::KeyFileCorrupt {
                    path: path.to_owned(),
                    reason: "larger than any key file",
                });
            }
            fs::read(path)
                .map(Zeroizing::new)
                .map_err(|e| Error::io("read", path, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = make()?;
            write_key_file(path, &bytes)?;
            tracing::info!(target: "zgvault::node", path = %path.display(), "created key file");
            Ok(bytes)
        }
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

fn check_mode(path: &Path, mode: u32) -> Result<()> {
    if mode & FORBIDDEN_KEY_BITS != 0 {
        return Err(Error::KeyFilePermissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

/// Writes a new key file with mode 0600 and syncs it and its folder, so a crash right after
/// first start cannot leave an empty key behind a running identity.
fn write_key_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", path, e))?;
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keys_are_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = NodeKeys::load_or_create(&data).unwrap();
        for name in [IDENTITY_KEY_FILE, ENCRYPTION_KEY_FILE, STORE_KEY_FILE] {
            let mode = fs::metadata(data.join(name)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let again = NodeKeys::load_or_create(&data).unwrap();
        assert_eq!(first.peer_id(), again.peer_id());
        assert_eq!(first.encryption_public(), again.encryption_public());
        assert_eq!(first.store.as_bytes(), again.store.as_bytes());
        // The identity file is what the p2p layer reads back with libp2p.
        let bytes = fs::read(data.join(IDENTITY_KEY_FILE)).unwrap();
        let pair = Keypair::from_protobuf_encoding(&bytes).unwrap();
        assert_eq!(pair.public().to_peer_id(), first.peer_id());
    }

    #[test]
    fn data_dir_is_created_0700_and_a_reachable_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("fresh");
        ensure_private_dir(&data).unwrap();
        let mode = fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        for loose in [0o750, 0o701, 0o755] {
            fs::set_permissions(&data, fs::Permissions::from_mode(loose)).unwrap();
            let err = ensure_private_dir(&data).unwrap_err();
            assert!(
                matches!(err, Error::DataDirPermissions { mode, .. } if mode == loose),
                "{err}"
            );
            assert!(
                err.to_string()
                    .contains(&format!("chmod 700 {}", data.display())),
                "{err}"
            );
        }
    }

    #[test]
    fn fail_world_readable_key_file() {
        let dir = tempfile::tempdir().unwrap();
        NodeKeys::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(ENCRYPTION_KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = NodeKeys::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, Error::KeyFilePermissions { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn fail_corrupt_key_file() {
        let dir = tempfile::tempdir().unwrap();
        NodeKeys::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(STORE_KEY_FILE);
        fs::write(&path, b"short").unwrap();
        assert!(matches!(
            NodeKeys::load_or_create(dir.path()),
            Err(Error::KeyFileCorrupt { .. })
        ));
    }

    #[test]
    fn debug_shows_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let keys = NodeKeys::load_or_create(dir.path()).unwrap();
        let text = format!("{keys:?} {:?}", keys.store);
        assert!(text.contains("<redacted>"));
        assert!(!text.contains(&hex::encode(keys.store.as_bytes())));
    }
}
