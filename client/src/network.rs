//! Network profiles: where the chain, the 0G storage nodes and the zgvault contracts are.
//!
//! The devnet profile comes from its manifest; the public 0G networks are built in, with
//! their flow address read live from a storage node's `zgs_getStatus` (it can change) and
//! every chain id checked before anything is sent.

use std::path::Path;

use alloy::primitives::{Address, B256};
use alloy::providers::{Provider, ProviderBuilder};
use serde::{Deserialize, Serialize};

use zgvault_proto::RpcUrl;

use crate::error::Error;
use crate::storage::{IndexerClient, NodeClient, ShardedNode};

/// Chain id of the 0G Galileo testnet.
pub const GALILEO_CHAIN_ID: u64 = 16602;
/// Chain id of 0G mainnet.
pub const MAINNET_CHAIN_ID: u64 = 16661;

/// Everything needed to reach one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// The chain id every endpoint must report.
    pub chain_id: u64,
    /// The JSON-RPC endpoint of the chain (shown redacted: it may hold an API key).
    pub rpc_url: RpcUrl,
    /// A 0G indexer, used to find storage nodes when none are listed.
    pub indexer: Option<String>,
    /// Storage nodes to use directly (skips the indexer).
    pub storage_nodes: Vec<String>,
    /// The 0G Flow contract; read from a storage node when absent.
    pub flow: Option<Address>,
    /// zgvault's contracts, where deployed.
    pub file_registry: Option<Address>,
    pub access_pass: Option<Address>,
    pub node_registry: Option<Address>,
    /// The custodial vault, where one is known (the devnet's, or `vault_url` in the config).
    #[serde(default)]
    pub vault: Option<VaultEndpoint>,
    /// The block the FileRegistry was deployed at: event scans (`ls`, `revoke`) start there
    /// instead of at genesis.
    #[serde(default)]
    pub registry_deploy_block: Option<u64>,
    /// How many blocks below the head to sign access requests for nodes (or a vault) that
    /// do not report their `confirmations` on `/v1/info` (reached over libp2p only, or
    /// older); `None`: 0. Nodes that report theirs are signed for as they report.
    #[serde(default)]
    pub confirmations: Option<u64>,
}

/// Where the custodial vault answers: `POST /v1/keys` over HTTP, or `/zgvault/keys/1` over
/// libp2p.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultEndpoint {
    /// Base URL of its HTTP API (`http://127.0.0.1:7000`).
    pub http: Option<String>,
    /// Its libp2p peer id (base58).
    pub peer_id: Option<String>,
    /// Its libp2p addresses.
    #[serde(default)]
    pub p2p: Vec<String>,
    /// Its X25519 encryption key, when known ahead (the devnet manifest's, or `vault_key`
    /// in the config): a vault whose `/v1/info` reports another key is refused.
    #[serde(default)]
    pub key: Option<B256>,
}

impl Network {
    /// A built-in profile by name: `galileo` (testnet, turbo storage), `galileo-standard`,
    /// `mainnet` (turbo) or `mainnet-standard`. `devnet` is read with [`Network::from_devnet`].
    pub fn builtin(name: &str) -> Option<Network> {
        let (chain_id, rpc, indexer) = match name {
            "galileo" | "galileo-turbo" | "testnet" => (
                GALILEO_CHAIN_ID,
                "https://evmrpc-testnet.0g.ai",
                "https://indexer-storage-testnet-turbo.0g.ai",
            ),
            "galileo-standard" => (
                GALILEO_CHAIN_ID,
                "https://evmrpc-testnet.0g.ai",
                "https://indexer-storage-testnet-standard.0g.ai",
            ),
            "mainnet" | "mainnet-turbo" => (
                MAINNET_CHAIN_ID,
                "https://evmrpc.0g.ai",
                "https://indexer-storage-turbo.0g.ai",
            ),
            "mainnet-standard" => (
                MAINNET_CHAIN_ID,
                "https://evmrpc.0g.ai",
                "https://indexer-storage.0g.ai",
            ),
            _ => return None,
        };
        Some(Network {
            name: name.to_owned(),
            chain_id,
            rpc_url: RpcUrl::parse(rpc).ok()?,
            indexer: Some(indexer.to_owned()),
            storage_nodes: Vec::new(),
            flow: None,
            file_registry: None,
            access_pass: None,
            node_registry: None,
            vault: None,
            registry_deploy_block: None,
            confirmations: None,
        })
    }

    /// The devnet described by a `zgvault-testnet` manifest (`manifest.json`).
    pub fn from_devnet(manifest: &Path) -> Result<Network, Error> {
        let text = std::fs::read_to_string(manifest).map_err(|source| Error::Io {
            action: "read the devnet manifest",
            path: manifest.to_owned(),
            source,
        })?;
        let m: DevnetManifest =
            serde_json::from_str(&text).map_err(|source| Error::DevnetManifest {
                path: manifest.to_owned(),
                source,
            })?;
        let (storage_nodes, indexer) = match m.storage {
            Some(s) => (
                s.nodes.into_iter().map(|n| n.url).collect(),
                Some(s.indexer),
            ),
            None => (Vec::new(), None),
        };
        Ok(Network {
            name: "devnet".to_owned(),
            chain_id: m.chain_id,
            rpc_url: m.rpc_url,
            indexer,
            storage_nodes,
            flow: Some(m.contracts.flow),
            file_registry: Some(m.contracts.file_registry),
            access_pass: Some(m.contracts.access_pass),
            node_registry: Some(m.contracts.node_registry),
            vault: m.vault.map(|v| VaultEndpoint {
                http: Some(v.http),
                peer_id: Some(v.peer_id),
                p2p: v.p2p,
                key: v.encryption_key,
            }),
            registry_deploy_block: m.deploy_block,
            confirmations: None,
        })
    }

    /// Checks the chain id, finds storage nodes covering every shard and the Flow address.
    pub async fn connect(&self) -> Result<Connected, Error> {
        let chain_id = ProviderBuilder::new()
            .connect_http(self.rpc_url.expose().clone())
            .get_chain_id()
            .await
            .map_err(|e| Error::Chain {
                during: format!("asking {} for its chain id", self.rpc_url),
                message: e.to_string(),
            })?;
        if chain_id != self.chain_id {
            return Err(Error::WrongChain {
                endpoint: self.rpc_url.to_string(),
                expected: self.chain_id,
                got: chain_id,
            });
        }
        let nodes = if !self.storage_nodes.is_empty() {
            self.storage_nodes
                .iter()
                .map(|u| NodeClient::new(u.clone()))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            let indexer = self
                .indexer
                .as_deref()
                .ok_or_else(|| Error::NoStorageSource {
                    network: self.name.clone(),
                })?;
            let listed = IndexerClient::new(indexer)?.sharded_nodes().await?;
            select_covering(&listed.trusted)
                .into_iter()
                .map(|n| NodeClient::new(n.url.clone()))
                .collect::<Result<Vec<_>, _>>()?
        };
        let first = nodes.first().ok_or_else(|| Error::NoStorageNodes {
            network: self.name.clone(),
        })?;
        let status = first.status().await?;
        if status.network_identity.chain_id != self.chain_id {
            return Err(Error::WrongChain {
                endpoint: first.url().to_owned(),
                expected: self.chain_id,
                got: status.network_identity.chain_id,
            });
        }
        let flow = self.flow.unwrap_or(status.network_identity.flow_address);
        Ok(Connected {
            network: self.clone(),
            nodes,
            flow,
        })
    }
}

/// A network whose endpoints answered and agree on the chain.
#[derive(Debug, Clone)]
pub struct Connected {
    pub network: Network,
    /// Storage nodes that together cover every shard.
    pub nodes: Vec<NodeClient>,
    pub flow: Address,
}

/// Picks nodes so that every shard residue is covered once, preferring nodes that hold
/// more (smaller `numShard`), as the official clients' "min" selection does.
pub fn select_covering(nodes: &[ShardedNode]) -> Vec<&ShardedNode> {
    let mut sorted: Vec<&ShardedNode> = nodes
        .iter()
        .filter(|n| n.config.validate().is_ok())
        .collect();
    sorted.sort_by_key(|n| n.config.num_shard);
    let target = sorted.iter().map(|n| n.config.num_shard).max().unwrap_or(1);
    let mut covered = vec![false; usize::try_from(target).unwrap_or(0)];
    let mut chosen = Vec::new();
    for node in sorted {
        let adds = covered
            .iter()
            .enumerate()
            .any(|(r, c)| !*c && node.config.owns(r as u64));
        if adds {
            for (r, c) in covered.iter_mut().enumerate() {
                *c |= node.config.owns(r as u64);
            }
            chosen.push(node);
        }
        if covered.iter().all(|c| *c) {
            break;
        }
    }
    chosen
}

/// The parts of a devnet manifest a client reads (the testnet crate writes it).
#[derive(Debug, Deserialize)]
struct DevnetManifest {
    rpc_url: RpcUrl,
    chain_id: u64,
    contracts: DevnetContracts,
    storage: Option<DevnetStorage>,
    #[serde(default)]
    vault: Option<DevnetVault>,
    #[serde(default)]
    deploy_block: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct DevnetVault {
    http: String,
    peer_id: String,
    #[serde(default)]
    p2p: Vec<String>,
    /// The vault's encryption key, pinned: `/v1/info` must report the same.
    #[serde(default)]
    encryption_key: Option<B256>,
}

#[derive(Debug, Deserialize)]
struct DevnetContracts {
    flow: Address,
    file_registry: Address,
    access_pass: Address,
    node_registry: Address,
}

#[derive(Debug, Deserialize)]
struct DevnetStorage {
    nodes: Vec<DevnetStorageNode>,
    indexer: String,
}

#[derive(Debug, Deserialize)]
struct DevnetStorageNode {
    url: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ShardConfig;

    fn node(id: u64, n: u64) -> ShardedNode {
        ShardedNode {
            url: format!("http://n{id}of{n}"),
            config: ShardConfig {
                shard_id: id,
                num_shard: n,
            },
            latency: 0,
            since: 0,
        }
    }

    #[test]
    fn selection_covers_every_shard_with_few_nodes() {
        let nodes = [node(0, 4), node(1, 4), node(0, 2), node(3, 4), node(1, 2)];
        let chosen: Vec<&str> = select_covering(&nodes)
            .iter()
            .map(|n| n.url.as_str())
            .collect();
        assert_eq!(chosen, ["http://n0of2", "http://n1of2"]);
        let gap = [node(0, 4), node(1, 4), node(3, 4)];
        let chosen = select_covering(&gap);
        assert_eq!(
            chosen.len(),
            3,
            "best effort: the uploader reports the missing shard"
        );
    }

    #[test]
    fn builtin_profiles_have_their_chain_ids() {
        assert_eq!(
            Network::builtin("galileo").unwrap().chain_id,
            GALILEO_CHAIN_ID
        );
        assert_eq!(
            Network::builtin("mainnet").unwrap().chain_id,
            MAINNET_CHAIN_ID
        );
        assert!(Network::builtin("nope").is_none());
    }

    #[test]
    fn devnet_vault_comes_from_the_manifest_when_listed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let addr = "0x0000000000000000000000000000000000000001";
        let base = format!(
            r#""rpc_url": "http://127.0.0.1:1", "chain_id": 31337, "contracts": {{"flow": "{addr}",
               "file_registry": "{addr}", "access_pass": "{addr}", "node_registry": "{addr}"}}"#
        );
        std::fs::write(&path, format!("{{{base}}}")).unwrap();
        let bare = Network::from_devnet(&path).unwrap();
        assert_eq!(bare.vault, None);
        assert_eq!(bare.registry_deploy_block, None);
        std::fs::write(
            &path,
            format!(
                r#"{{{base}, "deploy_block": 7, "vault": {{"http": "http://127.0.0.1:2",
                   "peer_id": "12D3", "p2p": ["/ip4/127.0.0.1/tcp/3"], "encryption_key": "0x{}"}}}}"#,
                "ab".repeat(32)
            ),
        )
        .unwrap();
        let full = Network::from_devnet(&path).unwrap();
        assert_eq!(full.registry_deploy_block, Some(7));
        let vault = full.vault.unwrap();
        assert_eq!(vault.http.as_deref(), Some("http://127.0.0.1:2"));
        assert_eq!(vault.p2p, ["/ip4/127.0.0.1/tcp/3"]);
        assert_eq!(vault.key, Some(B256::repeat_byte(0xab)));
    }

    #[test]
    fn fail_bad_manifest_says_how_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, "{}").unwrap();
        let err = Network::from_devnet(&path).unwrap_err().to_string();
        assert!(err.contains("zgvault-testnet up"), "{err}");
    }
}
