//! **Devnet only**: the dealer-made BLS share file a node imports once into its store.
//!
//! Production key sets come from a DKG among the nodes (DESIGN §6); a dealer saw the master
//! secret, so a node logs a warning every time it imports such a share.
//!
//! Format (JSON, mode 0600):
//!
//! ```json
//! { "dev_only_dealer_made": true, "node_index": 0, "secret_share": "0x<64 hex>" }
//! ```
//!
//! `secret_share` is [`BlsSecretShare::to_bytes`] (32 bytes, big-endian scalar).

use std::{
    fmt, fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};
use zgvault_proto::threshold::{BLS_SECRET_SHARE_LEN, BlsSecretShare};

use crate::{
    error::{Error, Result},
    store::ShareStore,
};

/// Largest genesis share file read.
const MAX_GENESIS_FILE_BYTES: u64 = 4096;

/// The JSON of a genesis share file. Secret: redacted `Debug`, wiped on drop.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisShare {
    /// Always `true`: a reminder in the file itself.
    pub dev_only_dealer_made: bool,
    /// The node's 0-based index in the key set.
    pub node_index: u32,
    /// `0x` + 64 hex digits.
    pub secret_share: String,
}

impl fmt::Debug for GenesisShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GenesisShare(node {}, <redacted>)", self.node_index)
    }
}

impl Drop for GenesisShare {
    fn drop(&mut self) {
        self.secret_share.zeroize();
    }
}

impl GenesisShare {
    /// The file content for `share` (used by the devnet dealer).
    pub fn from_share(share: &BlsSecretShare) -> Self {
        Self {
            dev_only_dealer_made: true,
            node_index: share.node_index(),
            secret_share: format!("0x{}", hex::encode(share.to_bytes().as_slice())),
        }
    }

    /// Writes the file with mode 0600 (fails if it exists).
    pub fn write(&self, path: &Path) -> Result<()> {
        let json =
            Zeroizing::new(
                serde_json::to_vec_pretty(self).map_err(|_| Error::Internal {
                    what: "genesis share JSON",
                })?,
            );
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        file.write_all(&json)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("write", path, e))
    }

    /// Reads and parses a genesis share file (refused if group/world readable).
    pub fn read(path: &Path) -> Result<BlsSecretShare> {
        let bad = |reason: &str| Error::GenesisShare {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let meta = fs::metadata(path).map_err(|e| Error::io("stat", path, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(Error::KeyFilePermissions {
                path: path.to_owned(),
                mode: meta.permissions().mode() & 0o777,
            });
        }
        if meta.len() > MAX_GENESIS_FILE_BYTES {
            return Err(bad("larger than any genesis share file"));
        }
        let text = Zeroizing::new(fs::read(path).map_err(|e| Error::io("read", path, e))?);
        let parsed: Self = serde_json::from_slice(&text)
            .map_err(|e| bad(&format!("not a genesis share JSON ({e})")))?;
        let hex_digits = parsed.secret_share.trim_start_matches("0x");
        let mut bytes = Zeroizing::new([0u8; BLS_SECRET_SHARE_LEN]);
        hex::decode_to_slice(hex_digits, bytes.as_mut_slice())
            .map_err(|_| bad("secret_share must be 0x followed by 64 hex digits"))?;
        BlsSecretShare::from_bytes(parsed.node_index, &bytes)
            .map_err(|_| bad("secret_share is not a valid BLS scalar"))
    }
}

/// Imports the genesis share at `path` into `store` unless the same share is already there.
/// Returns the node index. A different stored share is an error: replacing a node's key share
/// is a key-set change, not something a restart should do silently.
pub fn import_genesis_share(store: &ShareStore, path: &Path) -> Result<u32> {
    let existing = store.bls_share()?;
    if !path.exists() {
        // The file may be deleted after the first import.
        return existing
            .map(|s| s.node_index())
            .ok_or_else(|| Error::GenesisShare {
                path: path.to_owned(),
                reason: "missing, and no share was imported before".into(),
            });
    }
    let share = GenesisShare::read(path)?;
    match existing {
        Some(stored) if *stored.to_bytes() == *share.to_bytes() => {
            if stored.node_index() != share.node_index() {
                return Err(Error::GenesisShare {
                    path: path.to_owned(),
                    reason: format!(
                        "stored share is for node {}, the file says {}",
                        stored.node_index(),
                        share.node_index()
                    ),
                });
            }
            Ok(stored.node_index())
        }
        Some(stored) => Err(Error::GenesisShare {
            path: path.to_owned(),
            reason: format!(
                "the store already holds a different BLS share (node {}): use a fresh data_dir \
                 for a new key set",
                stored.node_index()
            ),
        }),
        None => {
            store.put_bls_share(&share)?;
            tracing::warn!(
                target: "zgvault::node",
                node_index = share.node_index(),
                path = %path.display(),
                "imported a DEALER-MADE DEVNET BLS share: the dealer knew the master secret; \
                 never use this key set for real data. The file may now be deleted."
            );
            Ok(share.node_index())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use zgvault_proto::threshold::deal_bls_key_set;

    use super::*;
    use crate::keys::NodeKeys;

    #[test]
    fn genesis_share_round_trip_and_import_once() {
        let dir = tempfile::tempdir().unwrap();
        let (_set, shares) = deal_bls_key_set(2, 3).unwrap();
        let path = dir.path().join("genesis-2.json");
        GenesisShare::from_share(&shares[2]).write(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let keys = NodeKeys::load_or_create(&dir.path().join("data")).unwrap();
        let store = ShareStore::open(&dir.path().join("data"), &keys.store).unwrap();
        assert_eq!(import_genesis_share(&store, &path).unwrap(), 2);
        assert_eq!(
            import_genesis_share(&store, &path).unwrap(),
            2,
            "idempotent"
        );
        fs::remove_file(&path).unwrap();
        assert_eq!(
            import_genesis_share(&store, &path).unwrap(),
            2,
            "file may be deleted"
        );
        // A different share for the same store is refused.
        GenesisShare::from_share(&shares[1]).write(&path).unwrap();
        assert!(import_genesis_share(&store, &path).is_err());
    }

    #[test]
    fn fail_readable_or_malformed_share_file() {
        let dir = tempfile::tempdir().unwrap();
        let (_set, shares) = deal_bls_key_set(1, 1).unwrap();
        let path = dir.path().join("genesis.json");
        GenesisShare::from_share(&shares[0]).write(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            GenesisShare::read(&path),
            Err(Error::KeyFilePermissions { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(
            &path,
            r#"{"dev_only_dealer_made":true,"node_index":0,"secret_share":"0x12"}"#,
        )
        .unwrap();
        assert!(matches!(
            GenesisShare::read(&path),
            Err(Error::GenesisShare { .. })
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let (_set, shares) = deal_bls_key_set(1, 1).unwrap();
        let file = GenesisShare::from_share(&shares[0]);
        assert_eq!(format!("{file:?}"), "GenesisShare(node 0, <redacted>)");
    }
}
