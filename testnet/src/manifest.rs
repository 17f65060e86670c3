//! The devnet manifest: everything a client, a node or a test needs to use a running devnet.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use alloy::primitives::{Address, U256};
use serde::{Deserialize, Serialize};

pub use zgvault_devsupport::Contracts;

use crate::error::{Error, Result};

/// File name of the manifest inside the state directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Bumped whenever the manifest's shape changes incompatibly.
pub const MANIFEST_VERSION: u32 = 1;

/// A running devnet, as written to `<state-dir>/manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    /// A reminder for anyone who finds this file: these keys are public test keys.
    pub warning: String,
    /// The chain (shown redacted: a URL may hold an API key).
    pub rpc_url: zgvault_proto::RpcUrl,
    pub chain_id: u64,
    /// Block at which the contracts were deployed: where log scans start.
    pub deploy_block: u64,
    pub contracts: Contracts,
    /// 0G storage price per 256-byte sector, in wei, as set in the devnet Market.
    pub price_per_sector: U256,
    /// The 0G storage side: dev storage nodes and their indexer (absent for a chain only).
    pub storage: Option<crate::storage::StorageInfo>,
    /// The share-holder network: key set, threshold, nodes (absent with `--nodes 0`).
    pub key_network: Option<crate::keynodes::KeyNetworkInfo>,
    /// The custodial vault (absent with `--no-vault`).
    #[serde(default)]
    pub vault: Option<crate::vault::VaultInfo>,
    pub accounts: Vec<Account>,
    pub processes: Vec<Process>,
    /// Unix seconds.
    pub started_at: u64,
}

/// A funded devnet account. The private key is in the clear on purpose: devnet only.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    pub address: Address,
    pub private_key: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// A process the devnet started and `down` must stop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub name: String,
    /// The binary's name, checked against `/proc/<pid>/cmdline` before any signal.
    pub tool: String,
    pub pid: u32,
    pub log: PathBuf,
}

impl Manifest {
    /// The account called `name` (`deployer`, `alice`, `bob`, `carol`, `node-1`…).
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// Reads `<dir>/manifest.json`; `Ok(None)` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::BadManifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if manifest.version != MANIFEST_VERSION {
            return Err(Error::BadManifest {
                path,
                message: format!(
                    "version {} but this build reads version {MANIFEST_VERSION}",
                    manifest.version
                ),
            });
        }
        Ok(Some(manifest))
    }

    /// Writes `<dir>/manifest.json` atomically with mode 0600 (it holds private keys).
    pub fn store(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::BadManifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_private(&tmp, &json)?;
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }

    /// Removes `<dir>/manifest.json` if present.
    pub fn remove(dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

/// Writes a file readable only by its owner.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            warning: "devnet".into(),
            rpc_url: "http://127.0.0.1:1".parse().unwrap(),
            chain_id: 31337,
            deploy_block: 1,
            contracts: Contracts {
                flow: Address::repeat_byte(1),
                market: Address::repeat_byte(2),
                file_registry: Address::repeat_byte(3),
                access_pass: Address::repeat_byte(4),
                node_registry: Address::repeat_byte(5),
                test_token: Address::repeat_byte(6),
                test_multi_token: Address::repeat_byte(7),
                test_nft: Address::repeat_byte(8),
            },
            price_per_sector: U256::from(30_733_644_962u64),
            storage: None,
            key_network: None,
            vault: None,
            accounts: vec![Account {
                name: "alice".into(),
                address: Address::repeat_byte(9),
                private_key: "0x01".into(),
            }],
            processes: vec![],
            started_at: 0,
        }
    }

    #[test]
    fn round_trips_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        let path = m.store(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), Some(m));
        let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!format!("{:?}", sample().accounts[0]).contains("0x01"));
    }

    #[test]
    fn fail_garbage_manifest_says_how_to_recover() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MANIFEST_FILE), b"{not json").unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("zgvault-testnet down"), "{err}");
    }

    #[test]
    fn fail_other_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = sample();
        m.version = MANIFEST_VERSION + 1;
        m.store(dir.path()).unwrap();
        assert!(matches!(
            Manifest::load(dir.path()),
            Err(Error::BadManifest { .. })
        ));
    }

    #[test]
    fn missing_manifest_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), None);
    }
}
