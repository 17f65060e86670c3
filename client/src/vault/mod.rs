//! The user-level flows of the `zgvault` CLI: `put`, `get`, `grant`, `revoke`, `ls`,
//! `info`, `policy`, `status`, `shred`, `custody` (DESIGN §3), composed from sealing, 0G storage, the
//! FileRegistry/AccessPass/NodeRegistry contracts and threshold key recovery.
//!
//! A [`Vault`] is one signed-in user on one network: their key, a provider that signs
//! with it, and the network's contract addresses. Every flow is a function taking it.

mod at_block;
mod config;
mod custodial;
mod custody;
mod events;
mod get;
mod keystore;
mod lock;
mod manage;
mod put;
mod recover;
mod shred;

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use libp2p::{Multiaddr, PeerId};
use serde::Deserialize;
use zgvault_contracts::{FileRegistry, NodeRegistry};
use zgvault_proto::request::FileRef;
use zgvault_proto::threshold::BlsKeySet;

pub use at_block::{
    ASSUMED_FRESHNESS_BLOCKS, BLOCK_POLL_INTERVAL, MAX_BLOCK_STALL, MAX_CONFIRMATION_WAIT,
    MAX_NOT_CONFIRMED_WAIT_SECS, MAX_SIGNING_ROUNDS, WINDOW_INFO_TIMEOUT,
};
pub use config::{CONFIG_FILE, Config, config_path, home_dir, state_dir};
pub use custody::{MoveReport, move_custody};
pub use get::{GetReport, GetStage, get};
pub use keystore::{Passphrase, create_keystore, load_keystore};
pub use manage::{
    BurnedPass, FileSummary, GrantReceipt, KeyNodeStatus, RevokeReceipt, StatusReport,
    StorageNodeStatus, grant, info, list_files, revoke, set_policy, status,
};
pub use put::{Custody, Gate, PendingPut, PutOptions, PutReceipt, PutStage, pending_puts, put};
pub use shred::{SHRED_NOTE, ShredOutcome, ShredReport, shred};

use crate::error::Error;
use crate::keys::{Channel, ChannelOptions, Endpoint, KeyNode};
use crate::network::Network;

/// One user on one network.
#[derive(Debug, Clone)]
pub struct Vault {
    /// Where the chain, storage and contracts are.
    pub network: Network,
    signer: PrivateKeySigner,
    provider: DynProvider,
    /// The devnet manifest, when on the devnet: gives the key nodes' HTTP URLs and the
    /// deploy block.
    manifest: Option<PathBuf>,
    /// The way to the key nodes and the vault, shared by every exchange of this session.
    channel: Channel,
}

/// The share-holder network as the NodeRegistry lists it now.
#[derive(Debug, Clone)]
pub struct KeyNetwork {
    pub epoch: u64,
    /// Shares needed to recover a key.
    pub threshold: u32,
    pub key_set: BlsKeySet,
    pub nodes: Vec<KeyNode>,
}

impl Vault {
    /// A vault for `signer` on `network`; `manifest` is the devnet manifest, if any.
    pub fn new(
        network: Network,
        signer: PrivateKeySigner,
        manifest: Option<PathBuf>,
    ) -> Result<Vault, Error> {
        let url = network.rpc_url.parse().map_err(|e| Error::Config {
            message: format!("RPC URL {:?} is not a URL: {e}", network.rpc_url),
        })?;
        let provider = ProviderBuilder::new()
            .wallet(signer.clone())
            .connect_http(url)
            .erased();
        Ok(Vault {
            network,
            signer,
            provider,
            manifest,
            channel: Channel::new(ChannelOptions::SINGLE_NODE)?,
        })
    }

    /// The user's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    pub(crate) fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    pub(crate) fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub(crate) fn channel(&self) -> &Channel {
        &self.channel
    }

    pub(crate) fn registry_address(&self) -> Result<Address, Error> {
        self.network
            .file_registry
            .ok_or_else(|| missing(&self.network, "FileRegistry"))
    }

    pub(crate) fn access_pass_address(&self) -> Result<Address, Error> {
        self.network
            .access_pass
            .ok_or_else(|| missing(&self.network, "AccessPass"))
    }

    pub(crate) fn registry(
        &self,
    ) -> Result<FileRegistry::FileRegistryInstance<&DynProvider>, Error> {
        Ok(FileRegistry::new(self.registry_address()?, &self.provider))
    }

    pub(crate) fn file_ref(&self, file_id: B256) -> Result<FileRef, Error> {
        Ok(FileRef {
            chain_id: self.network.chain_id,
            registry: self.registry_address()?,
            file_id,
        })
    }

    /// The block to search events from: the registry's deploy block (the network profile's
    /// or the config's `registry_deploy_block`, the devnet manifest's), else 0.
    pub(crate) fn first_block(&self) -> u64 {
        self.network
            .registry_deploy_block
            .or_else(|| self.devnet_manifest().map(|m| m.deploy_block))
            .unwrap_or(0)
    }

    fn devnet_manifest(&self) -> Option<ManifestView> {
        let text = std::fs::read_to_string(self.manifest.as_deref()?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The current key network from the NodeRegistry. Nodes are reached over libp2p at
    /// their registered addresses; on the devnet the manifest adds their HTTP URLs.
    pub async fn key_network(&self) -> Result<KeyNetwork, Error> {
        let addr = self
            .network
            .node_registry
            .ok_or_else(|| missing(&self.network, "NodeRegistry"))?;
        let state = NodeRegistry::new(addr, &self.provider)
            .state()
            .call()
            .await
            .map_err(|e| chain_error("reading the NodeRegistry state", &self.network, e))?;
        if state.members_.is_empty() || state.threshold_ == 0 {
            return Err(Error::Config {
                message: format!(
                    "the NodeRegistry {addr} has no key network yet (epoch {}); \
                     wait for the operators to register one",
                    state.epoch_
                ),
            });
        }
        let key_set = BlsKeySet::from_bytes(&state.publicKeySet_)?;
        let http: Vec<(u32, String)> = self
            .devnet_manifest()
            .and_then(|m| m.key_network)
            .map(|k| k.nodes.into_iter().map(|n| (n.index, n.http)).collect())
            .unwrap_or_default();
        let mut nodes = Vec::with_capacity(state.members_.len());
        for (i, member) in state.members_.iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| Error::Config {
                message: "the NodeRegistry lists too many members".into(),
            })?;
            let peer = PeerId::from_bytes(&member.peerId).ok();
            let addr = member
                .multiaddrs
                .iter()
                .find_map(|a| a.parse::<Multiaddr>().ok());
            nodes.push(KeyNode {
                index,
                endpoint: Endpoint {
                    http: http
                        .iter()
                        .find(|(j, _)| *j == index)
                        .map(|(_, u)| u.clone()),
                    p2p: peer.zip(addr),
                },
                enc_key: member.encKey.0,
            });
        }
        Ok(KeyNetwork {
            epoch: state.epoch_,
            threshold: state.threshold_,
            key_set,
            nodes,
        })
    }

    /// Where the custodial vault of this network answers.
    pub fn custodial_vault(&self) -> Result<Endpoint, Error> {
        let endpoint = self.network.vault.as_ref().ok_or_else(|| Error::Config {
            message: format!(
                "network {} has no custodial vault configured: set `vault_url` in the config \
                 file or pass --vault-url (the devnet starts one unless `zgvault-testnet up \
                 --no-vault`)",
                self.network.name
            ),
        })?;
        let peer = endpoint
            .peer_id
            .as_deref()
            .and_then(|p| p.parse::<PeerId>().ok());
        let addr = endpoint
            .p2p
            .iter()
            .find_map(|a| a.parse::<Multiaddr>().ok());
        Ok(Endpoint {
            http: endpoint.http.clone(),
            p2p: peer.zip(addr),
        })
    }

    /// The registry record of `file_id`, or [`Error::UnknownFile`].
    pub(crate) async fn record(&self, file_id: B256) -> Result<FileRegistry::FileInfo, Error> {
        let registry = self.registry()?;
        let exists = registry
            .exists(file_id)
            .call()
            .await
            .map_err(|e| chain_error("looking the file up", &self.network, e))?;
        if !exists {
            return Err(Error::UnknownFile {
                file_id,
                registry: *registry.address(),
            });
        }
        registry
            .getFile(file_id)
            .call()
            .await
            .map_err(|e| chain_error("reading the file record", &self.network, e))
    }

    /// The capsule registered for `file_id` now (`FileRegistry.capsuleOf`).
    pub(crate) async fn capsule(&self, file_id: B256) -> Result<Vec<u8>, Error> {
        Ok(self
            .registry()?
            .capsuleOf(file_id)
            .call()
            .await
            .map_err(|e| chain_error("reading the capsule", &self.network, e))?
            .to_vec())
    }

    /// The custodial capsule registered for `file_id`; an error if it is not one.
    pub(crate) async fn custodial_capsule(
        &self,
        file_id: B256,
    ) -> Result<zgvault_proto::request::CustodialCapsule, Error> {
        Ok(zgvault_proto::request::CustodialCapsule::from_bytes(
            &self.capsule(file_id).await?,
        )?)
    }

    /// The head block number.
    pub(crate) async fn head(&self) -> Result<u64, Error> {
        self.provider
            .get_block_number()
            .await
            .map_err(|e| chain_error("reading the head block", &self.network, e))
    }
}

/// What the vault reads from a devnet manifest (the rest is the network's business).
#[derive(Debug, Deserialize)]
struct ManifestView {
    #[serde(default)]
    deploy_block: u64,
    key_network: Option<ManifestKeys>,
}

#[derive(Debug, Deserialize)]
struct ManifestKeys {
    nodes: Vec<ManifestKeyNode>,
}

#[derive(Debug, Deserialize)]
struct ManifestKeyNode {
    index: u32,
    http: String,
}

fn missing(net: &Network, what: &str) -> Error {
    Error::Config {
        message: format!(
            "network {} has no {what} address: zgvault's contracts are not deployed there \
             yet; set it in the config file",
            net.name
        ),
    }
}

pub(crate) fn chain_error(during: &str, net: &Network, e: impl std::fmt::Display) -> Error {
    Error::Chain {
        during: format!("{during} at {}", net.rpc_url),
        message: e.to_string(),
    }
}

/// Writes `bytes` to `path` with mode 0600 (created or truncated), via a rename so a
/// crash never leaves half a file.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |action: &'static str, e| Error::Io {
        action,
        path: path.to_owned(),
        source: e,
    };
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let tmp = path.with_extension("tmp");
    // A leftover temp file (a crash, or planted by someone who can write the folder) is
    // never reused: it may have other permissions, another owner, or be a link. It is
    // removed, and the new one is created only if nothing took its place meanwhile.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("remove the leftover", e)),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("create", e))?;
    f.write_all(bytes).map_err(|e| io("write", e))?;
    f.sync_all().map_err(|e| io("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("rename into", e))
}

/// Creates `dir` (and parents) with mode 0700 for new folders.
/// Deletes `path` if it exists. For files that hold K (or its sealed copy), where a failed
/// delete must be reported, never ignored.
pub(crate) fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Io {
            action: "create the folder",
            path: dir.to_owned(),
            source: e,
        })
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A file that holds K is deleted or the failure is reported; a missing one is fine.
    #[test]
    fn remove_if_present_reports_a_failed_delete() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        std::fs::write(&file, b"k").unwrap();
        remove_if_present(&file).unwrap();
        assert!(!file.exists());
        remove_if_present(&file).unwrap();
        // A path that cannot be removed as a file (here a directory: root may delete
        // anything it owns, so permissions would not make this fail).
        let stuck = dir.path().join("stuck");
        std::fs::create_dir(&stuck).unwrap();
        assert!(remove_if_present(&stuck).is_err());
    }

    #[test]
    fn fail_a_leftover_temp_file_with_other_permissions_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, b"planted").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_private(&path, b"secret").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!tmp.exists());
        // A link planted as the temp file is removed, not followed.
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, &tmp).unwrap();
        write_private(&path, b"again").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert_eq!(std::fs::read(&path).unwrap(), b"again");
    }
}
