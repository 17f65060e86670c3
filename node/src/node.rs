//! `run`: start a node from its config and serve until the shutdown future completes.

use std::{
    collections::HashSet, future::Future, io::Write as _, os::unix::fs::PermissionsExt, sync::Arc,
    time::Duration,
};

use alloy_primitives::Address;
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use tokio::{net::TcpListener, sync::watch};
use zgvault_contracts::NodeRegistry;

use crate::{
    chain::{AlloyChain, CHAIN_CALL_TIMEOUT, Chain},
    config::NodeConfig,
    error::{Error, Result},
    genesis::import_genesis_share,
    http::serve_http,
    keys::NodeKeys,
    p2p::{self, P2pHandle, P2pLimits},
    service::{KeyService, NodeInfo},
    store::ShareStore,
    vault::{
        NodeMode, Vault,
        admin::{bind_admin, serve_admin},
    },
};

/// How often the node asks the chain for its head when idle, so `/health` stays true.
pub const HEALTH_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How often the NodeRegistry is re-read for new peers while the node runs.
pub const REGISTRY_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Most bootstrap peers taken from the NodeRegistry and the config together (the contract
/// allows 64 members of 8 addresses each).
pub const MAX_BOOTSTRAP_PEERS: usize = 64 * 8;
/// Attempts to reach the chain at start before giving up (the devnet may start the chain a
/// moment after the nodes).
pub const STARTUP_CHAIN_ATTEMPTS: u32 = 10;
/// Pause between those attempts.
pub const STARTUP_CHAIN_RETRY: Duration = Duration::from_millis(500);
/// The line the devnet launcher waits for on stdout, followed by the bound address.
pub const HTTP_LISTENING_LINE: &str = "zgvault-node http listening on";
/// The line printed by a custodial vault once its admin socket listens, followed by its path.
pub const ADMIN_LISTENING_LINE: &str = "zgvault-node admin listening on";
/// The line printed per libp2p listen address, followed by the multiaddr.
pub const P2P_LISTENING_LINE: &str = "zgvault-node p2p listening on";

/// The data folder must be 0700. The vault refuses to start otherwise (its admin socket and
/// KEK secrets live there); a threshold node tightens it itself, with a warning (launchers
/// commonly create it with the umask's 0755 before writing the genesis share).
fn private_data_dir(config: &NodeConfig) -> Result<(), Error> {
    match crate::keys::ensure_private_dir(&config.data_dir) {
        Err(Error::DataDirPermissions { path, mode }) if config.mode == NodeMode::Threshold => {
            tracing::warn!(target: "zgvault::node", path = %path.display(), mode = format!("{mode:o}"), "data folder was reachable by group or others: set to 0700");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io("chmod", &path, e))
        }
        other => other,
    }
}

/// Loads keys and store, checks the chain, serves HTTP until `shutdown` completes, then lets
/// requests in flight finish.
///
/// Prints `zgvault-node http listening on ADDR` on stdout once bound.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    config.validate_for_run()?;
    private_data_dir(&config)?;
    let keys = NodeKeys::load_or_create(&config.data_dir)?;
    let store = ShareStore::open(&config.data_dir, &keys.store)?;
    if let Some(path) = &config.genesis_share {
        import_genesis_share(&store, path)?;
    }
    // The vault opens before anything listens: a KEK that cannot be used, a record under an
    // unconfigured KEK or a broken audit chain stop the start (fail closed).
    let vault = match config.mode {
        NodeMode::Threshold => None,
        NodeMode::Custodial => {
            let opening = config.clone();
            let vault = tokio::task::spawn_blocking(move || Vault::open(&opening))
                .await
                .map_err(|_| Error::Internal {
                    what: "vault opening task",
                })??;
            Some(Arc::new(vault))
        }
    };
    let chain = AlloyChain::new(&config.chain.rpc_url, config.chain.file_registry)?;
    check_chain_id(&chain, &config).await?;
    let service = match &vault {
        None => KeyService::new(&config, keys, store, Arc::new(chain.clone()))?,
        Some(vault) => KeyService::custodial(
            &config,
            keys,
            store,
            Arc::new(chain.clone()),
            Arc::clone(vault),
        )?,
    };
    // So that `/health` is true from the first line the launcher sees, not one poll later.
    service.refresh_chain().await;
    let info = service.info();
    if info.node_index.is_none() && vault.is_none() {
        tracing::warn!(
            target: "zgvault::node",
            "this node holds no BLS share and has no node_index: it can answer nothing until \
             it is given one (genesis_share on the devnet)"
        );
    }

    // One shutdown signal, many listeners: the HTTP server, libp2p and the background tasks.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means "stop".
        let _ = rx.wait_for(|stop| *stop).await;
    };

    // libp2p first, HTTP last: once the HTTP line is printed, everything is listening.
    let p2p = if config.p2p.enabled {
        let handle = start_p2p(&config, &chain, &service, stopped(stop_rx.clone())).await?;
        for addr in handle.dial_addrs() {
            service.add_listen_addr(addr.to_string());
            announce(&format!("{P2P_LISTENING_LINE} {addr}"));
        }
        Some(handle)
    } else {
        tracing::info!(target: "zgvault::node", "p2p.enabled = false: serving HTTP only");
        None
    };

    let admin = match &vault {
        None => None,
        Some(vault) => {
            let listener = bind_admin(&config.data_dir)?;
            let path = crate::vault::admin::admin_socket_path(&config.data_dir);
            announce(&format!("{ADMIN_LISTENING_LINE} {}", path.display()));
            Some(tokio::spawn(serve_admin(
                listener,
                Arc::clone(vault),
                stopped(stop_rx.clone()),
            )))
        }
    };

    let listener = TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.http.listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.http.listen.to_string(),
        source,
    })?;
    service.set_http_addr(addr);
    announce(&format!("{HTTP_LISTENING_LINE} {addr}"));
    tracing::info!(
        target: "zgvault::node",
        %addr,
        mode = %config.mode,
        peer_id = %info.peer_id,
        node_index = ?info.node_index,
        chain_id = config.chain.chain_id,
        file_registry = %config.chain.file_registry,
        "node started"
    );

    let poller = tokio::spawn(poll_chain(service.clone(), stopped(stop_rx.clone())));
    let refresh = async {
        if let Some(handle) = &p2p {
            let stop = stopped(stop_rx.clone());
            refresh_peers(&chain, config.chain.node_registry, handle, stop).await;
        }
    };
    let (served, ()) = tokio::join!(
        serve_http(listener, service, stopped(stop_rx.clone())),
        refresh
    );
    poller.abort();
    if let Some(admin) = admin {
        if let Ok(Err(error)) = admin.await {
            tracing::warn!(target: "zgvault::node", %error, "admin socket failed");
        }
        let _ = std::fs::remove_file(crate::vault::admin::admin_socket_path(&config.data_dir));
    }
    if let Some(handle) = p2p {
        handle.stopped().await;
    }
    tracing::info!(target: "zgvault::node", "node stopped");
    served
}

/// The node's public description without starting it (`zgvault-node init` / `info`): keys
/// from `config.data_dir` (created when `create`), node index from the store when it can be
/// opened (a running node holds its lock) or from the config.
pub fn offline_info(config: &NodeConfig, create: bool) -> Result<NodeInfo> {
    let keys = if create {
        NodeKeys::load_or_create(&config.data_dir)?
    } else {
        NodeKeys::load_existing(&config.data_dir)?
    };
    let stored_index = ShareStore::open(&config.data_dir, &keys.store)
        .and_then(|store| store.bls_share())
        .ok()
        .flatten()
        .map(|share| share.node_index());
    Ok(NodeInfo {
        mode: config.mode,
        node_index: stored_index.or(config.node_index),
        encryption_key: keys.encryption_public().as_bytes().into(),
        operator: config.operator,
        peer_id: keys.peer_id().to_string(),
        http_addr: None,
        listen_addrs: Vec::new(),
        chain_id: config.chain.chain_id,
        file_registry: config.chain.file_registry,
        confirmations: config.chain.confirmations,
        freshness_blocks: config.chain.freshness_blocks,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// Starts libp2p with the node's identity, serving the same [`KeyService`] as HTTP.
async fn start_p2p(
    config: &NodeConfig,
    chain: &AlloyChain,
    service: &KeyService,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<P2pHandle> {
    let listen = config
        .p2p
        .listen
        .iter()
        .map(|addr| {
            addr.parse::<Multiaddr>().map_err(|e| Error::ConfigValue {
                key: "p2p.listen".into(),
                value: format!("{addr} ({e})"),
                reason: "must be multiaddrs like /ip4/127.0.0.1/tcp/7100",
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let own = service.identity().public().to_peer_id();
    let mut bootstrap = Vec::new();
    for text in &config.p2p.bootstrap {
        let bad = |reason| Error::ConfigValue {
            key: "p2p.bootstrap".into(),
            value: text.clone(),
            reason,
        };
        let addr: Multiaddr = text
            .parse()
            .map_err(|_| bad("must be a multiaddr ending in /p2p/<peer id>"))?;
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            return Err(bad("must end in /p2p/<peer id>"));
        };
        bootstrap.push((peer, addr));
    }
    bootstrap.extend(registry_peers(chain, config.chain.node_registry, own).await);
    bootstrap.truncate(MAX_BOOTSTRAP_PEERS);
    let limits = P2pLimits {
        max_concurrent_requests: config.limits.max_concurrent_requests,
        ..P2pLimits::default()
    };
    let handle = p2p::start(
        service.identity(),
        listen,
        bootstrap,
        service.clone(),
        limits,
        shutdown,
    )
    .await?;
    Ok(handle)
}

/// The other members of the current NodeRegistry epoch as `(peer, address)` pairs. A
/// registry that cannot be read (not deployed yet, chain hiccup) gives none: the node still
/// serves, and [`refresh_peers`] tries again.
async fn registry_peers(
    chain: &AlloyChain,
    registry: Address,
    own: PeerId,
) -> Vec<(PeerId, Multiaddr)> {
    if registry == Address::ZERO {
        return Vec::new();
    }
    let contract = NodeRegistry::new(registry, chain.provider().clone());
    let call = contract.members();
    let members = match tokio::time::timeout(CHAIN_CALL_TIMEOUT, call.call()).await {
        Ok(Ok(members)) => members,
        Ok(Err(error)) => {
            tracing::warn!(target: "zgvault::node::p2p", %registry, %error, "cannot read NodeRegistry members");
            return Vec::new();
        }
        Err(_) => {
            tracing::warn!(target: "zgvault::node::p2p", %registry, "NodeRegistry members call timed out");
            return Vec::new();
        }
    };
    let mut peers = Vec::new();
    for member in members {
        let Ok(peer) = PeerId::from_bytes(&member.peerId) else {
            tracing::warn!(target: "zgvault::node::p2p", operator = %member.operator, "registry member has an invalid peer id; skipped");
            continue;
        };
        if peer == own {
            continue;
        }
        for text in &member.multiaddrs {
            match text.parse::<Multiaddr>() {
                Ok(addr) => peers.push((peer, addr)),
                Err(_) => {
                    tracing::warn!(target: "zgvault::node::p2p", %peer, addr = %text, "registry member has an invalid multiaddr; skipped")
                }
            }
        }
    }
    peers.truncate(MAX_BOOTSTRAP_PEERS);
    peers
}

/// Re-reads the NodeRegistry every [`REGISTRY_REFRESH_INTERVAL`] and hands new peers to the
/// transport (members registered after this node started).
async fn refresh_peers(
    chain: &AlloyChain,
    registry: Address,
    handle: &P2pHandle,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let own = handle.peer_id();
    let mut known: HashSet<(PeerId, Multiaddr)> = HashSet::new();
    let mut interval = tokio::time::interval(REGISTRY_REFRESH_INTERVAL);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = interval.tick() => {
                for (peer, addr) in registry_peers(chain, registry, own).await {
                    if known.len() >= MAX_BOOTSTRAP_PEERS || known.contains(&(peer, addr.clone())) {
                        continue;
                    }
                    known.insert((peer, addr.clone()));
                    if !handle.add_peer(peer, addr).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Writes a line the launcher parses to stdout and flushes it (stdout is a pipe there, so
/// it would otherwise sit in the buffer).
fn announce(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Refuses to start on the wrong chain. Retries a few times if the RPC does not answer yet.
async fn check_chain_id(chain: &AlloyChain, config: &NodeConfig) -> Result<()> {
    let mut attempt = 0;
    let got = loop {
        attempt += 1;
        let outcome = tokio::time::timeout(CHAIN_CALL_TIMEOUT, chain.chain_id()).await;
        match outcome {
            Ok(Ok(id)) => break id,
            Ok(Err(e)) if attempt >= STARTUP_CHAIN_ATTEMPTS => return Err(e),
            Err(_) if attempt >= STARTUP_CHAIN_ATTEMPTS => {
                return Err(Error::Chain {
                    call: "eth_chainId",
                    detail: format!("no answer within {} s", CHAIN_CALL_TIMEOUT.as_secs()),
                });
            }
            _ => tokio::time::sleep(STARTUP_CHAIN_RETRY).await,
        }
    };
    if got != config.chain.chain_id {
        return Err(Error::WrongChain {
            rpc_url: config.chain.rpc_url.to_string(),
            expected: config.chain.chain_id,
            got,
        });
    }
    Ok(())
}

async fn poll_chain(service: KeyService, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut interval = tokio::time::interval(HEALTH_POLL_INTERVAL);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = interval.tick() => {
                service.refresh_chain().await;
            }
        }
    }
}
