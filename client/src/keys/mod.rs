//! Key recovery: ask every share-holder node for its part of a file key K, verify each
//! answer as it arrives, and combine the first `t` good ones (DESIGN §5–7).
//!
//! [`recover_key`] sends one signed access request to **all** nodes at once, over HTTP
//! (`POST /v1/keys`) or libp2p (`/zgvault/keys/1`), each with its own timeout. Every answer
//! is opened with the request's ephemeral response key and checked by the [`Combiner`]
//! before it counts; as soon as enough good answers are in, the requests still in flight are
//! cancelled. When recovery fails, the error names every node and what went wrong with it,
//! and refusals (`ACCESS_DENIED`, ...) are reported once with what the nodes said.
//!
//! Every exchange with a node goes through the one [`Channel`]: it picks HTTP or libp2p from
//! the node's [`Endpoint`] (the NodeRegistry lists libp2p addresses; HTTP URLs come from
//! the devnet manifest or the config), bounds each attempt, waits out a short
//! `RATE_LIMITED` once and decodes the answer. Recovery, the vault's release and deposit
//! (`custodial.rs`), Shamir deposits and shreds (`holders.rs`) all use it.

mod channel;
mod combiner;
mod custodial;
mod failure;
mod holders;
mod http;
mod p2p;
mod recover;

use std::time::Duration;

pub use channel::{Channel, ChannelOptions, MAX_RATE_LIMIT_WAIT_SECS, Peer};
pub use combiner::{AnyCombiner, Combiner};
pub use custodial::{deposit_key, request_vault_key};
pub use failure::{FailureKind, NodeFailure, NodeFailures, Refusal};
pub(crate) use failure::{code_advice, list_nodes, quote_messages};
pub use holders::{deposit_share, send_shred};
pub use http::{MAX_INFO_BYTES, NodeInfo, fetch_node_info, fetch_node_info_within};
use libp2p::{Multiaddr, PeerId};
pub use p2p::{KEYS_PROTOCOL, KeysCodec, P2P_COMMAND_QUEUE, P2pRequester};
pub use recover::{Recovered, recover_key};

/// How long one node may take to answer, connection included.
pub const DEFAULT_PER_NODE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole recovery may take.
pub const DEFAULT_OVERALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Most nodes one recovery asks (a key set has at most this many shares).
pub const MAX_KEY_NODES: usize = zgvault_proto::threshold::MAX_NODES;

/// One share-holder node, as the NodeRegistry lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyNode {
    /// The node's 0-based index in the key set.
    pub index: u32,
    /// Where it answers.
    pub endpoint: Endpoint,
    /// Its long-term X25519 encryption key (Shamir deposits are sealed to it).
    pub enc_key: [u8; 32],
}

/// Where a node (or the custodial vault) answers: its HTTP API, its libp2p address, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL of its HTTP API (`http://127.0.0.1:7000`), if it serves one.
    pub http: Option<String>,
    /// Its libp2p peer id and one address to dial, if it is reachable over libp2p.
    pub p2p: Option<(PeerId, Multiaddr)>,
}

impl Endpoint {
    /// The transport used for this node: the preferred one if the node has it, else the other.
    pub fn transport(&self, prefer: Transport) -> Option<Transport> {
        [prefer, prefer.other()]
            .into_iter()
            .find(|t| self.offers(*t))
    }

    /// Whether the node can be reached over `transport`.
    pub fn offers(&self, transport: Transport) -> bool {
        match transport {
            Transport::Http => self.http.is_some(),
            Transport::P2p => self.p2p.is_some(),
        }
    }
}

/// Where the node is, for messages: its HTTP URL, else its libp2p address.
impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.http, &self.p2p) {
            (Some(url), _) => f.write_str(url),
            (None, Some((peer, addr))) => write!(f, "{addr}/p2p/{peer}"),
            (None, None) => f.write_str("(no address)"),
        }
    }
}

/// How a request reaches a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `POST /v1/keys` on the node's HTTP API.
    #[default]
    Http,
    /// Request-response on `/zgvault/keys/1` over libp2p (TCP + Noise + Yamux).
    P2p,
}

impl Transport {
    pub(crate) const fn other(self) -> Self {
        match self {
            Transport::Http => Transport::P2p,
            Transport::P2p => Transport::Http,
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Http => "http",
            Transport::P2p => "p2p",
        })
    }
}

/// Timeouts and transport choice of a recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoverOptions {
    /// How long one node may take to answer (dial, request, response).
    pub per_node_timeout: Duration,
    /// How long the whole recovery may take; nodes still silent then count as timed out.
    pub overall_timeout: Duration,
    /// The transport used for nodes that offer both.
    pub prefer: Transport,
}

impl Default for RecoverOptions {
    fn default() -> Self {
        Self {
            per_node_timeout: DEFAULT_PER_NODE_TIMEOUT,
            overall_timeout: DEFAULT_OVERALL_TIMEOUT,
            prefer: Transport::Http,
        }
    }
}
