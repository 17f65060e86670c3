//! Why the libp2p transport could not start.

use libp2p::Multiaddr;

/// Errors of `start`. Once running, the transport does not fail: misbehaving peers
/// and failed streams are logged and dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum P2pError {
    /// The TCP + Noise + Yamux transport could not be built.
    #[error("cannot set up the libp2p transport: {message}; this is likely a bug, report it")]
    Transport {
        /// What libp2p said.
        message: String,
    },
    /// Listening on an address failed (address in use, not a TCP address, ...).
    #[error("cannot listen on {addr}: {message}; pick another p2p.listen address or port")]
    Listen {
        /// The multiaddr asked for.
        addr: Multiaddr,
        /// What libp2p said.
        message: String,
    },
    /// No listen address was given.
    #[error("no libp2p listen address: set p2p.listen (e.g. /ip4/0.0.0.0/tcp/7100)")]
    NoListenAddress,
    /// A listener reported no bound address in time.
    #[error("libp2p did not report a bound address for {addr} within {secs} s; check the address")]
    ListenTimeout {
        /// The multiaddr asked for.
        addr: Multiaddr,
        /// How long we waited.
        secs: u64,
    },
}
