//! The swarm: TCP + Noise + Yamux, with request-response on `/zgvault/keys/1`, identify,
//! kademlia (in-memory store) and connection limits.

use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, connection_limits, identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    noise,
    request_response::{self, ProtocolSupport},
    swarm::NetworkBehaviour,
    tcp, yamux,
};

use super::{
    codec::{KEYS_PROTOCOL, KeysCodec},
    error::P2pError,
    settings::P2pLimits,
};

/// The kademlia protocol of the zgvault network (kept apart from the public IPFS DHT).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/zgvault/kad/1.0.0");
/// The identify protocol version string nodes announce.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/zgvault/1";

/// Every protocol a node speaks.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Bounds connections before any other behaviour sees them.
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) keys: request_response::Behaviour<KeysCodec>,
    pub(crate) identify: identify::Behaviour,
    pub(crate) kad: kad::Behaviour<MemoryStore>,
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Behaviour").finish_non_exhaustive()
    }
}

/// Builds the node's swarm on the current tokio runtime.
pub(crate) fn build_swarm(
    keypair: Keypair,
    limits: &P2pLimits,
) -> Result<Swarm<Behaviour>, P2pError> {
    let transport = |e: &dyn std::fmt::Display| P2pError::Transport {
        message: e.to_string(),
    };
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| transport(&e))?
        .with_behaviour(|key| {
            let peer_id = key.public().to_peer_id();
            let mut kad_config = kad::Config::new(KAD_PROTOCOL);
            kad_config.set_query_timeout(limits.request_timeout);
            let mut kad =
                kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), kad_config);
            // Nodes are servers: always answer DHT queries, whatever addresses we learn.
            kad.set_mode(Some(kad::Mode::Server));
            Behaviour {
                limits: connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_pending_incoming(Some(limits.max_pending_incoming))
                        .with_max_established_incoming(Some(limits.max_connections))
                        .with_max_established(Some(limits.max_connections))
                        .with_max_established_per_peer(Some(limits.max_connections_per_peer)),
                ),
                keys: request_response::Behaviour::new(
                    [(KEYS_PROTOCOL, ProtocolSupport::Inbound)],
                    request_response::Config::default()
                        .with_request_timeout(limits.request_timeout)
                        .with_max_concurrent_streams(limits.max_streams_per_connection),
                ),
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_owned(), key.public())
                        .with_agent_version(format!("zgvault-node/{}", env!("CARGO_PKG_VERSION"))),
                ),
                kad,
            }
        })
        .map_err(|e| transport(&e))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(limits.idle_connection_timeout)
                .with_max_negotiating_inbound_streams(limits.max_streams_per_connection)
        })
        .build();
    Ok(swarm)
}
