//! The transport's bounds and defaults, and what it hands inbound requests to: shared by the
//! event loop, the behaviour and `start` (`p2p/mod.rs` re-exports them).

use std::{future::Future, time::Duration};

use libp2p::{Multiaddr, multiaddr::Protocol};

use crate::request::Origin;

/// Requests handled at once over libp2p by default.
pub const DEFAULT_P2P_MAX_CONCURRENT_REQUESTS: usize = 64;
/// How long one inbound request may take, read, handling and answer included. Longer than
/// the service's own end-to-end limit, so its timeout reply still gets through.
pub const DEFAULT_P2P_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Concurrent key-protocol streams per connection.
pub const DEFAULT_P2P_MAX_STREAMS_PER_CONNECTION: usize = 16;
/// Established connections in total.
pub const DEFAULT_P2P_MAX_CONNECTIONS: u32 = 256;
/// Established connections per peer.
pub const DEFAULT_P2P_MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// Incoming connections still in their handshake.
pub const DEFAULT_P2P_MAX_PENDING_INCOMING: u32 = 64;
/// How long a connection without streams is kept open.
pub const DEFAULT_P2P_IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// `retry_after_secs` of the `RATE_LIMITED` reply sent when every request slot is taken.
pub const P2P_BUSY_RETRY_AFTER_SECS: u32 = 1;
/// Commands queued from [`P2pHandle`]s to the event loop.
pub const P2P_COMMAND_QUEUE: usize = 16;
/// How long [`start`] waits for each listener to report its bound address.
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Addresses taken from one peer's identify message (the rest are ignored).
pub const MAX_IDENTIFY_ADDRS: usize = 8;

/// Every bound of the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct P2pLimits {
    /// Requests handled at once; beyond that peers get `RATE_LIMITED` at once.
    pub max_concurrent_requests: usize,
    /// How long one inbound request may take (read, handling, answer).
    pub request_timeout: Duration,
    /// Concurrent key-protocol streams (and negotiating streams) per connection.
    pub max_streams_per_connection: usize,
    /// Established connections in total (incoming and overall).
    pub max_connections: u32,
    /// Established connections per peer.
    pub max_connections_per_peer: u32,
    /// Incoming connections still in their handshake.
    pub max_pending_incoming: u32,
    /// How long an idle connection is kept.
    pub idle_connection_timeout: Duration,
}

impl Default for P2pLimits {
    fn default() -> Self {
        Self {
            max_concurrent_requests: DEFAULT_P2P_MAX_CONCURRENT_REQUESTS,
            request_timeout: DEFAULT_P2P_REQUEST_TIMEOUT,
            max_streams_per_connection: DEFAULT_P2P_MAX_STREAMS_PER_CONNECTION,
            max_connections: DEFAULT_P2P_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_P2P_MAX_CONNECTIONS_PER_PEER,
            max_pending_incoming: DEFAULT_P2P_MAX_PENDING_INCOMING,
            idle_connection_timeout: DEFAULT_P2P_IDLE_CONNECTION_TIMEOUT,
        }
    }
}

/// What answers inbound key requests: the node passes its `KeyService`; tests pass a
/// closure `|origin, bytes| async { .. }`.
pub trait RequestHandler: Clone + Send + Sync + 'static {
    /// Answers one encoded `wire::KeyRequest` with an encoded `wire::KeyResponse`.
    fn handle_request(
        &self,
        origin: Origin,
        request: Vec<u8>,
    ) -> impl Future<Output = Vec<u8>> + Send;
}

impl<F, Fut> RequestHandler for F
where
    F: Fn(Origin, Vec<u8>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send,
{
    fn handle_request(
        &self,
        origin: Origin,
        request: Vec<u8>,
    ) -> impl Future<Output = Vec<u8>> + Send {
        self(origin, request)
    }
}

/// Kademlia wants the transport address without the trailing `/p2p/<id>`.
pub(super) fn strip_p2p(mut addr: Multiaddr) -> Multiaddr {
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}
