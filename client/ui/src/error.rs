//! The UI crate's one error enum.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// What can go wrong serving the UI or running one of its requests.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Only loopback addresses may be bound: the UI holds the user's unlocked key.
    #[error(
        "refusing to listen on {ip}: the zgvault UI only listens on this computer's loopback \
         address (127.0.0.1 or ::1), never on a network"
    )]
    NotLoopback { ip: IpAddr },

    #[error("cannot listen on {addr}: {source}; pick another --port or leave it out")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },

    #[error("cannot draw a random session token from the OS: {message}")]
    Random { message: String },

    #[error("the server stopped: {source}")]
    Serve { source: std::io::Error },

    /// A flow of the SDK failed; its message says what to do.
    #[error(transparent)]
    Sdk(#[from] zgvault_client::Error),

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// The request is not what the page should send.
    #[error("{message}")]
    BadRequest { message: String },

    /// Nobody is signed in.
    #[error("locked: unlock your key with its passphrase first")]
    Locked,

    /// A first-run action when an identity exists, or the other way round.
    #[error("{message}")]
    Identity { message: String },

    /// A background task ended without an answer.
    #[error("{message}")]
    Task { message: String },

    #[error("no operation {id}: it finished before this server started, or the id is wrong")]
    UnknownOperation { id: u64 },
}
