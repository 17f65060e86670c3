//! The node's libp2p transport (DESIGN §7): TCP + Noise + Yamux, identify, kademlia, and
//! request-response on `/zgvault/keys/1` carrying the same `wire` messages as `POST /v1/keys`.
//!
//! Shape (libp2p file-sharing example, mini-redis): [`start`] takes its identity, listen
//! addresses, bootstrap peers, request handler, limits and a shutdown future, binds, and
//! returns a [`P2pHandle`] once every listener has an address. One event loop owns the swarm
//! and runs a single `select!` over the shutdown signal, finished answers, handle commands and
//! swarm events. Each inbound request runs the handler on its own task, at most
//! [`P2pLimits::max_concurrent_requests`] at once (beyond that the peer gets `RATE_LIMITED` at
//! once); answers come back to the loop through a bounded channel. Sizes, timeouts, streams
//! and connections are all capped, so a peer that sends too much, garbage, or nothing at all
//! costs one stream until its timeout and never stalls the loop.

mod behaviour;
mod codec;
mod error;
mod event_loop;
mod settings;

use std::{collections::BTreeSet, future::Future};

pub use behaviour::{IDENTIFY_PROTOCOL_VERSION, KAD_PROTOCOL};
pub use codec::{Inbound, KEYS_PROTOCOL, KeysCodec};
pub use error::P2pError;
use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr::Protocol};
use settings::strip_p2p;
pub use settings::{
    DEFAULT_P2P_IDLE_CONNECTION_TIMEOUT, DEFAULT_P2P_MAX_CONCURRENT_REQUESTS,
    DEFAULT_P2P_MAX_CONNECTIONS, DEFAULT_P2P_MAX_CONNECTIONS_PER_PEER,
    DEFAULT_P2P_MAX_PENDING_INCOMING, DEFAULT_P2P_MAX_STREAMS_PER_CONNECTION,
    DEFAULT_P2P_REQUEST_TIMEOUT, LISTEN_TIMEOUT, MAX_IDENTIFY_ADDRS, P2P_BUSY_RETRY_AFTER_SECS,
    P2P_COMMAND_QUEUE, P2pLimits, RequestHandler,
};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

/// The running transport: its identity, where it listens, and a way to add peers.
#[derive(Debug)]
pub struct P2pHandle {
    peer_id: PeerId,
    listen_addrs: Vec<Multiaddr>,
    commands: mpsc::Sender<event_loop::Command>,
    peers: watch::Receiver<BTreeSet<PeerId>>,
    task: JoinHandle<()>,
}

impl P2pHandle {
    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses bound when [`start`] returned (port 0 resolved), one or more per
    /// listen address asked for.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// The listen addresses with `/p2p/<peer id>` appended: what other nodes and clients
    /// dial, and what the node prints (`zgvault-node p2p listening on ...`).
    pub fn dial_addrs(&self) -> Vec<Multiaddr> {
        self.listen_addrs
            .iter()
            .map(|addr| addr.clone().with_p2p(self.peer_id).unwrap_or_else(|a| a))
            .collect()
    }

    /// Adds a peer to the routing table and dials it (a NodeRegistry change). Returns
    /// false if the transport has stopped.
    pub async fn add_peer(&self, peer: PeerId, addr: Multiaddr) -> bool {
        self.commands().add_peer(peer, addr).await
    }

    /// A cloneable handle for tasks that feed the transport (the NodeRegistry refresher).
    pub fn commands(&self) -> P2pCommands {
        P2pCommands {
            commands: self.commands.clone(),
        }
    }

    /// The peers currently connected, kept up to date while the transport runs (for
    /// `/health` and metrics; `wait_for` on it to await a connection).
    pub fn connected_peers(&self) -> watch::Receiver<BTreeSet<PeerId>> {
        self.peers.clone()
    }

    /// Waits until the event loop has stopped (after the shutdown future completed).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

/// Commands to a running transport, through its bounded command queue.
#[derive(Clone, Debug)]
pub struct P2pCommands {
    commands: mpsc::Sender<event_loop::Command>,
}

impl P2pCommands {
    /// Adds a peer to kademlia and dials it (the `/p2p/<id>` suffix of `addr` is optional).
    /// Waits while the queue is full; returns false if the transport has stopped.
    pub async fn add_peer(&self, peer: PeerId, addr: Multiaddr) -> bool {
        self.commands
            .send(event_loop::Command::AddPeer { peer, addr })
            .await
            .is_ok()
    }
}

/// Starts the transport: binds every `listen` address, adds the `bootstrap` peers (from the
/// NodeRegistry) to kademlia and dials them, and serves `/zgvault/keys/1` with `handler`
/// until `shutdown` completes.
///
/// Returns once every listener reports a bound address, so the caller can print them.
pub async fn start<H: RequestHandler>(
    keypair: Keypair,
    listen: Vec<Multiaddr>,
    bootstrap: Vec<(PeerId, Multiaddr)>,
    handler: H,
    limits: P2pLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<P2pHandle, P2pError> {
    if listen.is_empty() {
        return Err(P2pError::NoListenAddress);
    }
    let peer_id = keypair.public().to_peer_id();
    let mut swarm = behaviour::build_swarm(keypair, &limits)?;
    let mut listeners = Vec::new();
    for addr in listen {
        check_port_free(&addr)?;
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| P2pError::Listen {
                addr: addr.clone(),
                message: e.to_string(),
            })?;
        listeners.push((id, addr));
    }
    for (peer, addr) in bootstrap {
        let addr = strip_p2p(addr);
        swarm.behaviour_mut().kad.add_address(&peer, addr);
    }
    if swarm.behaviour_mut().kad.bootstrap().is_err() {
        tracing::debug!(target: "zgvault::node::p2p", "no bootstrap peers: kademlia starts empty");
    }

    let (commands, command_rx) = mpsc::channel(P2P_COMMAND_QUEUE);
    let (peers_tx, peers) = watch::channel(BTreeSet::new());
    let mut event_loop = event_loop::EventLoop::new(swarm, handler, limits, command_rx, peers_tx);
    let listen_addrs = event_loop.wait_listening(listeners).await?;
    for addr in &listen_addrs {
        tracing::info!(target: "zgvault::node::p2p", %addr, %peer_id, "libp2p listening");
    }
    let task = tokio::spawn(event_loop.run(shutdown));
    Ok(P2pHandle {
        peer_id,
        listen_addrs,
        commands,
        peers,
        task,
    })
}

/// libp2p binds its listeners with `SO_REUSEPORT`, so a second node on a taken TCP port
/// would silently share it. A bind with `SO_REUSEADDR` only fails on a port some socket
/// listens on (and not on connections of a previous run lingering in `TIME_WAIT`): try one
/// first and release it.
fn check_port_free(addr: &Multiaddr) -> Result<(), P2pError> {
    let mut parts = addr.iter();
    let (ip, socket): (std::net::IpAddr, _) = match parts.next() {
        Some(Protocol::Ip4(ip)) => (ip.into(), tokio::net::TcpSocket::new_v4()),
        Some(Protocol::Ip6(ip)) => (ip.into(), tokio::net::TcpSocket::new_v6()),
        _ => return Ok(()),
    };
    let Some(Protocol::Tcp(port)) = parts.next() else {
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    socket
        .and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind((ip, port).into())
        })
        .map_err(|e| P2pError::Listen {
            addr: addr.clone(),
            message: e.to_string(),
        })
}
