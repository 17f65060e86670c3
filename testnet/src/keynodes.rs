//! The devnet's share-holder network: a **dealer-made** BLS key set (devnet only: the
//! dealer saw the master secret; production uses a DKG), `zgvault-node` processes each
//! holding one share, and the epoch registered in the NodeRegistry so clients and nodes
//! find each other on-chain.

use std::path::{Path, PathBuf};

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use serde::{Deserialize, Serialize};
use zgvault_contracts::NodeRegistry;
use zgvault_node::{GenesisShare, HTTP_LISTENING_LINE, NodeConfig, NodeInfo};
use zgvault_proto::threshold::deal_bls_key_set;

use crate::error::{Error, Result};
use crate::process::{self, READY_TIMEOUT, Spawned};

/// Shares needed to recover a key on the default devnet (3 of 5).
pub const DEFAULT_THRESHOLD: usize = 3;
/// The epoch the devnet's genesis key set is registered as.
pub const GENESIS_EPOCH: u64 = 1;
/// File name of a node's config in its data folder.
pub const NODE_CONFIG_FILE: &str = "node.toml";
/// File name of a node's dealer-made share (imported on first start).
pub const GENESIS_SHARE_FILE: &str = "genesis-share.json";

/// The share-holder network of a running devnet, as recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyNetworkInfo {
    pub epoch: u64,
    /// Shares needed to recover a key.
    pub threshold: u32,
    /// blsttc `PublicKeySet` bytes, hex (also in the NodeRegistry).
    pub public_key_set: String,
    pub nodes: Vec<KeyNodeInfo>,
}

/// One share-holder node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyNodeInfo {
    pub index: u32,
    /// Its HTTP API, e.g. `http://127.0.0.1:41234`.
    pub http: String,
    pub peer_id: String,
    pub p2p: Vec<String>,
    pub encryption_key: B256,
    pub operator: Address,
    pub data_dir: PathBuf,
}

/// Finds the `zgvault-node` binary like `zgs-dev`: `$ZGVAULT_NODE_BIN`, beside this
/// program, then `PATH`.
pub fn find_zgvault_node() -> Result<PathBuf> {
    process::find_workspace_binary("zgvault-node", "ZGVAULT_NODE_BIN", "zgvault-node")
}

/// Finds the `zgvault` CLI the same way: `$ZGVAULT_BIN`, beside this program, then `PATH`.
pub fn find_zgvault() -> Result<PathBuf> {
    process::find_workspace_binary("zgvault", "ZGVAULT_BIN", "zgvault-cli")
}

/// What the key network needs from the rest of the devnet.
#[derive(Debug)]
pub(crate) struct KeyNetworkSetup<'a> {
    pub state_dir: &'a Path,
    pub rpc_url: &'a str,
    pub chain_id: u64,
    pub file_registry: Address,
    pub node_registry: Address,
    /// The NodeRegistry admin.
    pub admin: PrivateKeySigner,
    /// One operator account per node.
    pub operators: Vec<Address>,
    pub threshold: usize,
    /// Per-origin requests per second, when not the node's default.
    pub rate_limit: Option<u32>,
    /// `chain.confirmations` of every node.
    pub confirmations: u64,
    pub detached: bool,
}

/// Deals the key set, starts one node per operator and registers the epoch. The started
/// processes are appended to `children`.
pub(crate) async fn start_key_network(
    setup: KeyNetworkSetup<'_>,
    children: &mut Vec<(String, Spawned)>,
) -> Result<KeyNetworkInfo> {
    let n = setup.operators.len();
    let (key_set, shares) = deal_bls_key_set(setup.threshold, n).map_err(|e| Error::KeySet {
        threshold: setup.threshold,
        nodes: n,
        message: e.to_string(),
    })?;
    let http = reqwest::Client::new();
    let mut nodes = Vec::with_capacity(n);
    for (share, operator) in shares.iter().zip(&setup.operators) {
        let index = share.node_index();
        let name = format!("keynode-{}", index + 1);
        let data_dir = setup.state_dir.join(&name);
        // A new chain means a new key set: a share from an earlier devnet would be wrong.
        if data_dir.exists() {
            std::fs::remove_dir_all(&data_dir).map_err(|e| Error::io(&data_dir, e))?;
        }
        crate::vault::create_private_dir(&data_dir)?;
        let genesis = data_dir.join(GENESIS_SHARE_FILE);
        GenesisShare::from_share(share)
            .write(&genesis)
            .map_err(|e| Error::Storage {
                what: format!("writing the genesis share {}", genesis.display()),
                message: e.to_string(),
            })?;
        let mut config = NodeConfig {
            data_dir: data_dir.clone(),
            node_index: Some(index),
            operator: Some(*operator),
            genesis_share: Some(genesis),
            ..NodeConfig::default()
        };
        config.chain.rpc_url = crate::devnet::parse_url(setup.rpc_url)?;
        config.chain.chain_id = setup.chain_id;
        config.chain.file_registry = setup.file_registry;
        config.chain.node_registry = setup.node_registry;
        config.chain.confirmations = setup.confirmations;
        if let Some(rate) = setup.rate_limit {
            // Benchmarks send thousands of requests from one origin and one signer.
            config.limits.rate_per_sec = rate;
            config.limits.rate_burst = rate.saturating_mul(2);
            config.limits.requester_rate_per_min = rate.saturating_mul(60);
            config.limits.requester_burst = rate.saturating_mul(2);
            config.limits.replay_cache_per_origin = config.limits.replay_cache_size;
            config.limits.replay_cache_per_signer = config.limits.replay_cache_size;
        }
        let config_path = data_dir.join(NODE_CONFIG_FILE);
        let toml = toml::to_string(&config).map_err(|e| Error::Internal {
            what: "writing a key node's config",
            message: e.to_string(),
        })?;
        std::fs::write(&config_path, toml).map_err(|e| Error::io(&config_path, e))?;

        let (proc, url) = start_node_process(setup.state_dir, &name, &data_dir, setup.detached)?;
        children.push((name, proc));
        let info = node_info(&http, &url).await?;
        nodes.push(KeyNodeInfo {
            index,
            http: url,
            peer_id: info.peer_id.clone(),
            p2p: info.listen_addrs.clone(),
            encryption_key: info.encryption_key,
            operator: *operator,
            data_dir,
        });
    }

    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(setup.admin))
        .connect_http(crate::devnet::parse_url(setup.rpc_url)?.expose().clone());
    let registry = NodeRegistry::new(setup.node_registry, &provider);
    let members = nodes
        .iter()
        .map(|node| {
            let peer: libp2p::PeerId = node.peer_id.parse().map_err(|e| Error::BadNodeInfo {
                name: format!("keynode-{}", node.index + 1),
                what: "peer id",
                message: format!("{e}"),
            })?;
            Ok(NodeRegistry::Member {
                peerId: Bytes::from(peer.to_bytes()),
                multiaddrs: node.p2p.clone(),
                encKey: node.encryption_key,
                blsPublicKeyShare: Bytes::from(key_set.public_key_share(node.index).to_vec()),
                operator: node.operator,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let threshold = u32::try_from(setup.threshold).map_err(|_| Error::Option {
        message: format!("--threshold {} is too large", setup.threshold),
    })?;
    let receipt = registry
        .setEpoch(
            GENESIS_EPOCH,
            threshold,
            members,
            Bytes::from(key_set.to_bytes()),
        )
        .send()
        .await
        .map_err(|e| Error::chain(setup.rpc_url, "NodeRegistry.setEpoch", e))?
        .get_receipt()
        .await
        .map_err(|e| Error::chain(setup.rpc_url, "NodeRegistry.setEpoch receipt", e))?;
    if !receipt.status() {
        return Err(Error::chain(
            setup.rpc_url,
            "NodeRegistry.setEpoch",
            "the transaction reverted",
        ));
    }
    Ok(KeyNetworkInfo {
        epoch: GENESIS_EPOCH,
        threshold,
        public_key_set: format!("0x{}", hex::encode(key_set.to_bytes())),
        nodes,
    })
}

/// Starts (or restarts) the node whose config is in `data_dir`; returns its HTTP URL.
pub(crate) fn start_node_process(
    state_dir: &Path,
    name: &str,
    data_dir: &Path,
    detached: bool,
) -> Result<(Spawned, String)> {
    let bin = find_zgvault_node()?;
    let log = state_dir.join(format!("{name}.log"));
    let args = vec![
        "run".to_owned(),
        "--config".to_owned(),
        data_dir.join(NODE_CONFIG_FILE).display().to_string(),
    ];
    let mut proc = Spawned::start("zgvault-node", &bin, &args, &log, detached)?;
    let addr = proc.wait_for_line(HTTP_LISTENING_LINE, READY_TIMEOUT)?;
    Ok((proc, format!("http://{}", addr.trim())))
}

pub(crate) async fn node_info(http: &reqwest::Client, url: &str) -> Result<NodeInfo> {
    let info_url = format!("{url}/v1/info");
    let fail = |message: String| Error::Chain {
        url: info_url.clone(),
        during: "reading the node's /v1/info".into(),
        message,
    };
    let body = http
        .get(&info_url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?
        .bytes()
        .await
        .map_err(|e| fail(e.to_string()))?;
    serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))
}
