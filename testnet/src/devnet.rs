//! Bringing a devnet up (in-process for tests, detached for the CLI), down, and asking
//! about it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use crate::error::{Error, Result};
use crate::manifest::{Account, MANIFEST_VERSION, Manifest, Process};
use crate::process::{self, READY_TIMEOUT, Spawned};
use crate::storage::{
    self, DEFAULT_STORAGE_NODES, MAX_STORAGE_NODES, StorageInfo, StorageLayout, StorageNodeInfo,
    StorageNodeOptions,
};
use zgvault_devsupport::{
    ANVIL_READY_MARKER, AnvilArgs, DeployConfig, Deployed, deploy_all, find_anvil,
};

/// Chain id of the devnet unless told otherwise (anvil's own default).
pub const DEFAULT_CHAIN_ID: u64 = 31337;
/// Share-holder node accounts funded by default (the demo runs 3 of 5).
pub const DEFAULT_NODE_ACCOUNTS: usize = 5;
/// Upper bound on `--nodes`, so a typo cannot fund ten thousand accounts.
pub const MAX_NODE_ACCOUNTS: usize = 64;
/// Every named account starts with this many ether.
pub const ACCOUNT_BALANCE_ETH: u64 = 10_000;
/// The people of the demo story, funded besides the deployer and the nodes.
pub const PEOPLE: [&str; 3] = ["alice", "bob", "carol"];
/// Environment variable naming the state directory.
pub const STATE_DIR_ENV: &str = "ZGVAULT_DEVNET_DIR";
/// Seconds between the blocks anvil mines on its own when the nodes need confirmations and
/// no `--block-time` is given (transactions are still mined at once).
pub const CONFIRMATIONS_BLOCK_TIME_SECS: u64 = 1;

/// How to start a devnet.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Where the manifest and logs go.
    pub state_dir: PathBuf,
    /// Loopback port for the chain's RPC; 0 picks a free one.
    pub port: u16,
    pub chain_id: u64,
    /// Share-holder nodes to start, each with a funded `node-N` operator account
    /// (0: no key network).
    pub nodes: usize,
    /// Shares needed to recover a key (`t` of `nodes`).
    pub threshold: usize,
    /// Requests per second each key node accepts from one origin (its default when
    /// `None`); benchmarks raise it.
    pub node_rate_limit: Option<u32>,
    /// Seconds between blocks; `None` mines a block per transaction (but see
    /// `confirmations`).
    pub block_time: Option<u64>,
    /// How deep `atBlock` must be for the key nodes and the vault (their
    /// `chain.confirmations`; 0, the default, accepts the head). Above 0 the chain must
    /// keep producing blocks, as a real chain does, or a fresh registration or grant would
    /// never become deep enough: without a `block_time`, anvil then mines a block every
    /// [`CONFIRMATIONS_BLOCK_TIME_SECS`] besides one per transaction.
    pub confirmations: u64,
    /// Start a custodial vault with this KEK (`None`: no vault). `zgvault-testnet up`
    /// starts one by default; [`DevnetConfig::new`] does not, so tests that do not need it
    /// stay lean.
    pub vault: Option<crate::vault::VaultKek>,
    /// Dev storage nodes to start (0 for a chain only).
    pub storage_nodes: usize,
    pub storage_layout: StorageLayout,
}

impl DevnetConfig {
    /// Defaults with the given state directory and a free port.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        DevnetConfig {
            state_dir: state_dir.into(),
            port: 0,
            chain_id: DEFAULT_CHAIN_ID,
            nodes: DEFAULT_NODE_ACCOUNTS,
            threshold: crate::keynodes::DEFAULT_THRESHOLD,
            node_rate_limit: None,
            block_time: None,
            confirmations: zgvault_node::DEFAULT_CONFIRMATIONS,
            vault: None,
            storage_nodes: DEFAULT_STORAGE_NODES,
            storage_layout: StorageLayout::Sharded,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.nodes > MAX_NODE_ACCOUNTS {
            return Err(Error::Option {
                message: format!("--nodes {} is more than {MAX_NODE_ACCOUNTS}", self.nodes),
            });
        }
        if self.nodes > 0 && (self.threshold == 0 || self.threshold > self.nodes) {
            return Err(Error::Option {
                message: format!(
                    "--threshold {} must be between 1 and --nodes {}",
                    self.threshold, self.nodes
                ),
            });
        }
        if self.storage_nodes > MAX_STORAGE_NODES {
            return Err(Error::Option {
                message: format!(
                    "--storage-nodes {} is more than {MAX_STORAGE_NODES}",
                    self.storage_nodes
                ),
            });
        }
        if self.storage_layout == StorageLayout::Sharded
            && self.storage_nodes > 0
            && !self.storage_nodes.is_power_of_two()
        {
            return Err(Error::Option {
                message: format!(
                    "--storage-nodes {} must be a power of two when sharded (every shard needs a node); or use --storage-layout replicated",
                    self.storage_nodes
                ),
            });
        }
        if self.confirmations > zgvault_node::DEFAULT_FRESHNESS_BLOCKS {
            return Err(Error::Option {
                message: format!(
                    "--confirmations {} is more than the nodes' freshness window ({} blocks): \
                     no block would be both deep and fresh enough",
                    self.confirmations,
                    zgvault_node::DEFAULT_FRESHNESS_BLOCKS
                ),
            });
        }
        if self.block_time == Some(0) {
            return Err(Error::Option {
                message:
                    "--block-time must be at least 1 second (leave it out to mine per transaction)"
                        .into(),
            });
        }
        Ok(())
    }
}

/// The default state directory: `$ZGVAULT_DEVNET_DIR`, else
/// `$XDG_STATE_HOME/zgvault/devnet`, else `~/.local/state/zgvault/devnet`.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(STATE_DIR_ENV) {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("zgvault/devnet")
}

/// A devnet owned by this process: everything it started stops when it is dropped.
#[derive(Debug)]
pub struct Devnet {
    manifest: Manifest,
    state_dir: PathBuf,
    /// Processes this value owns, by manifest name; empty for a detached devnet.
    children: Vec<(String, Spawned)>,
}

impl Devnet {
    /// Starts anvil on a free loopback port, deploys every contract, funds the named
    /// accounts and writes the manifest into `config.state_dir`.
    pub async fn start(config: &DevnetConfig) -> Result<Devnet> {
        launch(config, false).await
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The chain's RPC URL, in full (a local anvil: it holds no credentials).
    pub fn rpc_url(&self) -> &str {
        self.manifest.rpc_url.expose().as_str()
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The signer of a named account (`deployer`, `alice`, `bob`, `carol`, `node-1`…).
    pub fn signer(&self, name: &str) -> Result<PrivateKeySigner> {
        signer_of(&self.manifest, name)
    }

    /// The custodial vault, when the devnet has one.
    pub fn vault(&self) -> Option<&crate::vault::VaultInfo> {
        self.manifest.vault.as_ref()
    }

    /// The storage side (nodes and indexer), when the devnet has one.
    pub fn storage(&self) -> Option<&StorageInfo> {
        self.manifest.storage.as_ref()
    }

    /// The pid of a process this devnet owns (`chain`, `storage-0`, `indexer`…).
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.pid())
    }

    /// Fault injection: kills storage node `i` at once (SIGKILL), mid-whatever it was doing.
    pub fn kill_storage_node(&mut self, i: usize) -> Result<()> {
        self.kill_process(&format!("storage-{i}"))
    }

    /// Fault injection: kills a process this devnet owns (`chain`, `storage-0`,
    /// `keynode-1`, `indexer`…) at once with SIGKILL.
    pub fn kill_process(&mut self, name: &str) -> Result<()> {
        let pos = self
            .children
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| Error::ProcessState {
                name: name.to_owned(),
                state: "is not running",
            })?;
        let (_, proc) = self.children.remove(pos);
        proc.kill();
        Ok(())
    }

    /// Restarts a killed storage node, key node or the vault on its data folder; returns its
    /// URL (a storage node gets its old port; a key node or the vault a new one, written to
    /// the manifest so clients reading it find it again).
    pub fn restart_process(&mut self, name: &str) -> Result<String> {
        if let Some(i) = name.strip_prefix("storage-").and_then(|i| i.parse().ok()) {
            self.restart_storage_node(i)?;
            return self
                .storage()
                .and_then(|s| s.nodes.get(i))
                .map(|n| n.url.clone())
                .ok_or_else(|| Error::NoProcess {
                    name: name.to_owned(),
                });
        }
        if self.children.iter().any(|(n, _)| n == name) {
            return Err(Error::ProcessState {
                name: name.to_owned(),
                state: "is still running",
            });
        }
        if name == crate::vault::VAULT_NAME {
            return self.restart_vault();
        }
        let data_dir = self
            .manifest
            .key_network
            .as_ref()
            .and_then(|k| {
                k.nodes
                    .iter()
                    .find(|n| format!("keynode-{}", n.index + 1) == name)
            })
            .map(|n| n.data_dir.clone())
            .ok_or_else(|| Error::NoProcess {
                name: name.to_owned(),
            })?;
        let (proc, url) =
            crate::keynodes::start_node_process(&self.state_dir, name, &data_dir, false)?;
        let p2p = p2p_addrs(&proc)?;
        let pid = proc.pid();
        self.children.push((name.to_owned(), proc));
        // Clients read HTTP URLs from the manifest: point them at the new port (the
        // NodeRegistry keeps the old libp2p address; HTTP is tried first).
        if let Some(node) = self.manifest.key_network.as_mut().and_then(|k| {
            k.nodes
                .iter_mut()
                .find(|n| format!("keynode-{}", n.index + 1) == name)
        }) {
            node.http = url.clone();
            node.p2p = p2p;
        }
        self.record_restart(name, pid)?;
        Ok(url)
    }

    /// The restarted process's new pid, in the manifest on disk too.
    fn record_restart(&mut self, name: &str, pid: u32) -> Result<()> {
        if let Some(p) = self.manifest.processes.iter_mut().find(|p| p.name == name) {
            p.pid = pid;
        }
        self.manifest.store(&self.state_dir)?;
        Ok(())
    }

    /// Restarts the killed vault on its data folder (same keys, token and stored K). It gets
    /// a new port: the manifest is rewritten with its new addresses, so clients reading it
    /// find the vault again. Returns its HTTP URL.
    fn restart_vault(&mut self) -> Result<String> {
        let name = crate::vault::VAULT_NAME;
        let data_dir = self
            .manifest
            .vault
            .as_ref()
            .map(|v| v.data_dir.clone())
            .ok_or_else(|| Error::NoProcess {
                name: name.to_owned(),
            })?;
        let (proc, url) = crate::vault::start_vault_process(&self.state_dir, &data_dir, false)?;
        let pid = proc.pid();
        let p2p = p2p_addrs(&proc)?;
        self.children.push((name.to_owned(), proc));
        if let Some(vault) = self.manifest.vault.as_mut() {
            vault.http = url.clone();
            vault.p2p = p2p;
        }
        self.record_restart(name, pid)?;
        Ok(url)
    }

    /// Restarts storage node `i` on its old address and data folder.
    pub fn restart_storage_node(&mut self, i: usize) -> Result<()> {
        let name = format!("storage-{i}");
        if self.children.iter().any(|(n, _)| *n == name) {
            return Err(Error::ProcessState {
                name,
                state: "is still running",
            });
        }
        let node = self
            .storage()
            .and_then(|s| s.nodes.get(i))
            .cloned()
            .ok_or_else(|| Error::NoProcess { name: name.clone() })?;
        let opts = StorageNodeOptions {
            name: name.clone(),
            data_dir: node.data_dir.clone(),
            shard: node.shard(),
            listen: node.url.trim_start_matches("http://").to_owned(),
            corrupt_downloads: false,
        };
        let proc = self.spawn_storage(&opts)?.0;
        self.children.push((name, proc));
        Ok(())
    }

    /// Starts one more storage node that is not in the indexer (for fault tests, e.g. a
    /// node that corrupts what it serves); it stops with the devnet. Returns its URL.
    pub fn start_extra_storage_node(&mut self, opts: &StorageNodeOptions) -> Result<String> {
        let (proc, url) = self.spawn_storage(opts)?;
        self.children.push((opts.name.clone(), proc));
        Ok(url)
    }

    fn spawn_storage(&self, opts: &StorageNodeOptions) -> Result<(Spawned, String)> {
        let zgs_dev = storage::find_zgs_dev()?;
        storage::start_node(
            &zgs_dev,
            &self.state_dir,
            self.manifest.rpc_url.expose().as_str(),
            self.manifest.contracts.flow,
            self.manifest.deploy_block,
            opts,
            false,
        )
    }

    /// Stops everything and removes the manifest.
    pub fn stop(mut self) -> Result<()> {
        // Storage first, then the chain it follows.
        while let Some((_, proc)) = self.children.pop() {
            proc.stop();
        }
        Manifest::remove(&self.state_dir)
    }
}

/// The libp2p addresses a freshly started `zgvault-node` printed (before its HTTP line, so
/// all of them are in its log once it is ready).
fn p2p_addrs(proc: &Spawned) -> Result<Vec<String>> {
    let log = fs::read_to_string(&proc.log).map_err(|e| Error::io(&proc.log, e))?;
    Ok(log
        .lines()
        .filter_map(|l| {
            l.split_once(zgvault_node::P2P_LISTENING_LINE)
                .map(|(_, a)| a.trim().to_owned())
        })
        .collect())
}

/// The signer of a named account in a manifest.
pub fn signer_of(manifest: &Manifest, name: &str) -> Result<PrivateKeySigner> {
    let account = manifest.account(name).ok_or_else(|| Error::NoAccount {
        name: name.to_owned(),
        have: manifest
            .accounts
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    account
        .private_key
        .parse::<PrivateKeySigner>()
        .map_err(|e| Error::BadManifest {
            path: std::path::PathBuf::from(crate::MANIFEST_FILE),
            message: format!("account {name} has an unreadable key: {e}"),
        })
}

/// What `up` did.
#[derive(Debug)]
pub struct Up {
    pub manifest: Manifest,
    /// A devnet was already running from this state directory; nothing was started.
    pub already_running: bool,
    /// A manifest from a devnet that is gone (crash, reboot) was found and cleared.
    pub cleared_stale: bool,
}

/// Starts a devnet whose processes outlive this one (the CLI's `up`). Running it while a
/// devnet from the same state directory is alive returns that devnet unchanged.
pub async fn up(config: &DevnetConfig) -> Result<Up> {
    let mut cleared_stale = false;
    match Manifest::load(&config.state_dir) {
        Ok(Some(existing)) => {
            if all_alive(&existing) && chain_answers(&existing).await {
                return Ok(Up {
                    manifest: existing,
                    already_running: true,
                    cleared_stale: false,
                });
            }
            // Whatever is left of it is stopped so no half-devnet keeps a port.
            stop_processes(&existing);
            Manifest::remove(&config.state_dir)?;
            cleared_stale = true;
        }
        Ok(None) => {}
        Err(Error::BadManifest { .. }) => {
            Manifest::remove(&config.state_dir)?;
            cleared_stale = true;
        }
        Err(e) => return Err(e),
    }
    let devnet = launch(config, true).await?;
    Ok(Up {
        manifest: devnet.manifest.clone(),
        already_running: false,
        cleared_stale,
    })
}

/// What `down` did.
#[derive(Debug)]
pub struct Down {
    pub stopped: Vec<Process>,
    /// Processes in the manifest that were already gone.
    pub already_gone: Vec<Process>,
}

/// Stops every process a detached devnet started, by pid, and removes its manifest.
pub fn down(state_dir: &Path) -> Result<Down> {
    let manifest = match Manifest::load(state_dir) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(Error::NotRunning {
                dir: state_dir.to_owned(),
            });
        }
        Err(Error::BadManifest { .. }) => {
            Manifest::remove(state_dir)?;
            return Ok(Down {
                stopped: vec![],
                already_gone: vec![],
            });
        }
        Err(e) => return Err(e),
    };
    let (stopped, already_gone) = stop_processes(&manifest);
    Manifest::remove(state_dir)?;
    Ok(Down {
        stopped,
        already_gone,
    })
}

/// A devnet's health, for `status`.
#[derive(Debug)]
pub struct Status {
    pub manifest: Manifest,
    pub processes: Vec<(Process, bool)>,
    /// The chain's latest block, or why it could not be read.
    pub chain: std::result::Result<u64, String>,
    /// Contracts from the manifest that have no code on the chain.
    pub missing_code: Vec<(&'static str, Address)>,
}

impl Status {
    pub fn healthy(&self) -> bool {
        self.processes.iter().all(|(_, alive)| *alive)
            && self.chain.is_ok()
            && self.missing_code.is_empty()
    }
}

/// Reports on the devnet in `state_dir`: processes alive, chain answering, contracts there.
pub async fn status(state_dir: &Path) -> Result<Status> {
    let manifest = Manifest::load(state_dir)?.ok_or_else(|| Error::NotRunning {
        dir: state_dir.to_owned(),
    })?;
    let processes = manifest
        .processes
        .iter()
        .map(|p| (p.clone(), process::is_alive(p.pid, &p.tool)))
        .collect();
    let provider = ProviderBuilder::new().connect_http(manifest.rpc_url.expose().clone());
    let chain = provider
        .get_block_number()
        .await
        .map_err(|e| format!("{} does not answer: {e}", manifest.rpc_url));
    let mut missing_code = Vec::new();
    if chain.is_ok() {
        for (name, addr) in manifest.contracts.named() {
            match provider.get_code_at(addr).await {
                Ok(code) if !code.is_empty() => {}
                _ => missing_code.push((name, addr)),
            }
        }
    }
    Ok(Status {
        manifest,
        processes,
        chain,
        missing_code,
    })
}

async fn launch(config: &DevnetConfig, detached: bool) -> Result<Devnet> {
    config.validate()?;
    fs::create_dir_all(&config.state_dir).map_err(|e| Error::io(&config.state_dir, e))?;
    let anvil_bin = find_anvil()?;
    let log = config.state_dir.join("anvil.log");
    // Nodes that need confirmations need a chain that moves on its own, like a real one;
    // mixed mining still mines every transaction at once.
    let (block_time, mixed_mining) = match config.block_time {
        Some(secs) => (Some(secs), false),
        None if config.confirmations > 0 => (Some(CONFIRMATIONS_BLOCK_TIME_SECS), true),
        None => (None, false),
    };
    let args = AnvilArgs {
        port: config.port,
        chain_id: config.chain_id,
        // anvil's own dev accounts have well-known keys; we fund fresh ones instead.
        accounts: Some(1),
        block_time,
        mixed_mining,
    }
    .to_args();
    let mut anvil = Spawned::start("anvil", &anvil_bin, &args, &log, detached)?;
    let listening = match anvil.wait_for_line(ANVIL_READY_MARKER, READY_TIMEOUT) {
        Ok(addr) => addr,
        Err(Error::ExitedEarly { tail, .. })
            if config.port != 0 && tail.contains("Address already in use") =>
        {
            return Err(Error::PortInUse { port: config.port });
        }
        Err(e) => return Err(e),
    };
    let rpc_url = format!("http://{listening}");

    let people = PEOPLE.iter().map(|s| (*s).to_owned());
    let nodes = (1..=config.nodes).map(|i| format!("node-{i}"));
    let accounts: Vec<(String, PrivateKeySigner)> = std::iter::once("deployer".to_owned())
        .chain(people)
        .chain(nodes)
        .map(|name| (name, PrivateKeySigner::random()))
        .collect();
    fund(&rpc_url, &accounts).await?;

    let deployer = accounts[0].1.clone();
    let deployed = deploy_all(&rpc_url, deployer.clone(), &DeployConfig::default()).await?;

    let mut children = vec![("chain".to_owned(), anvil)];
    let storage = start_storage(config, &rpc_url, &deployed, detached, &mut children)?;
    let key_network = if config.nodes > 0 {
        let setup = crate::keynodes::KeyNetworkSetup {
            state_dir: &config.state_dir,
            rpc_url: &rpc_url,
            chain_id: config.chain_id,
            file_registry: deployed.contracts.file_registry,
            node_registry: deployed.contracts.node_registry,
            admin: deployer.clone(),
            operators: accounts
                .iter()
                .filter(|(name, _)| name.starts_with("node-"))
                .map(|(_, s)| s.address())
                .collect(),
            threshold: config.threshold,
            rate_limit: config.node_rate_limit,
            confirmations: config.confirmations,
            detached,
        };
        Some(crate::keynodes::start_key_network(setup, &mut children).await?)
    } else {
        None
    };
    let vault = match config.vault {
        Some(kek) => {
            let setup = crate::vault::VaultSetup {
                state_dir: &config.state_dir,
                rpc_url: &rpc_url,
                chain_id: config.chain_id,
                file_registry: deployed.contracts.file_registry,
                node_registry: deployed.contracts.node_registry,
                admin: deployer.clone(),
                kek,
                confirmations: config.confirmations,
                detached,
            };
            Some(crate::vault::start_vault(setup, &mut children).await?)
        }
        None => None,
    };

    let manifest = Manifest {
        version: MANIFEST_VERSION,
        warning: "devnet only: these private keys are for local testing and are not secret"
            .to_owned(),
        rpc_url: parse_url(&rpc_url)?,
        chain_id: config.chain_id,
        deploy_block: deployed.first_block,
        contracts: deployed.contracts,
        price_per_sector: deployed.price_per_sector,
        storage,
        key_network,
        vault,
        accounts: accounts
            .iter()
            .map(|(name, signer)| Account {
                name: name.clone(),
                address: signer.address(),
                private_key: format!("0x{}", hex::encode(signer.to_bytes())),
            })
            .collect(),
        processes: children
            .iter()
            .map(|(name, proc)| storage::record(name, proc))
            .collect(),
        started_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    manifest.store(&config.state_dir)?;
    if detached {
        for (_, proc) in children.drain(..) {
            proc.release();
        }
    }
    Ok(Devnet {
        manifest,
        state_dir: config.state_dir.clone(),
        children,
    })
}

/// Starts the storage nodes and the indexer; their processes join `children`.
fn start_storage(
    config: &DevnetConfig,
    rpc_url: &str,
    deployed: &Deployed,
    detached: bool,
    children: &mut Vec<(String, Spawned)>,
) -> Result<Option<StorageInfo>> {
    if config.storage_nodes == 0 {
        return Ok(None);
    }
    let zgs_dev = storage::find_zgs_dev()?;
    let mut nodes = Vec::with_capacity(config.storage_nodes);
    for i in 0..config.storage_nodes {
        let name = format!("storage-{i}");
        let data_dir = config.state_dir.join(&name);
        // A new chain means a new flow: data from an earlier devnet would be wrong here.
        if data_dir.exists() {
            fs::remove_dir_all(&data_dir).map_err(|e| Error::io(&data_dir, e))?;
        }
        let opts = StorageNodeOptions {
            name: name.clone(),
            data_dir: data_dir.clone(),
            shard: storage::shard_of(config.storage_layout, i, config.storage_nodes),
            listen: "127.0.0.1:0".to_owned(),
            corrupt_downloads: false,
        };
        let (proc, url) = storage::start_node(
            &zgs_dev,
            &config.state_dir,
            rpc_url,
            deployed.contracts.flow,
            deployed.first_block,
            &opts,
            detached,
        )?;
        children.push((name, proc));
        nodes.push(StorageNodeInfo {
            url,
            shard_id: opts.shard.shard_id,
            num_shard: opts.shard.num_shard,
            data_dir,
        });
    }
    let (proc, indexer) = storage::start_indexer(&zgs_dev, &config.state_dir, &nodes, detached)?;
    children.push(("indexer".to_owned(), proc));
    Ok(Some(StorageInfo {
        layout: config.storage_layout,
        nodes,
        indexer,
    }))
}

async fn fund(rpc_url: &str, accounts: &[(String, PrivateKeySigner)]) -> Result<()> {
    let provider = ProviderBuilder::new().connect_http(parse_url(rpc_url)?.expose().clone());
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| Error::chain(rpc_url, "eth_chainId", e))?;
    tracing::debug!(chain_id, "chain is up");
    let balance = U256::from(ACCOUNT_BALANCE_ETH) * U256::from(10u64).pow(U256::from(18u64));
    for (name, signer) in accounts {
        provider
            .raw_request::<_, ()>("anvil_setBalance".into(), (signer.address(), balance))
            .await
            .map_err(|e| Error::chain(rpc_url, format!("funding {name}"), e))?;
    }
    Ok(())
}

pub(crate) fn parse_url(url: &str) -> Result<zgvault_proto::RpcUrl> {
    url.parse().map_err(|source| Error::RpcUrl { source })
}

fn all_alive(manifest: &Manifest) -> bool {
    manifest
        .processes
        .iter()
        .all(|p| process::is_alive(p.pid, &p.tool))
}

async fn chain_answers(manifest: &Manifest) -> bool {
    ProviderBuilder::new()
        .connect_http(manifest.rpc_url.expose().clone())
        .get_chain_id()
        .await
        .is_ok_and(|id| id == manifest.chain_id)
}

fn stop_processes(manifest: &Manifest) -> (Vec<Process>, Vec<Process>) {
    let mut stopped = Vec::new();
    let mut gone = Vec::new();
    // Last started first: storage nodes and the indexer before the chain they follow.
    for p in manifest.processes.iter().rev() {
        if process::terminate(p.pid, &p.tool) {
            stopped.push(p.clone());
        } else {
            gone.push(p.clone());
        }
    }
    (stopped, gone)
}
