use std::path::PathBuf;

/// Everything that can go wrong while bringing a devnet up, down, or asking about it.
/// Each message says what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "port {port} on 127.0.0.1 is already in use: pick another with --port, or leave --port out to use a free one"
    )]
    PortInUse { port: u16 },

    #[error("{tool} exited before it was ready ({status}); the end of its log {log}:\n{tail}")]
    ExitedEarly {
        tool: &'static str,
        status: String,
        log: PathBuf,
        tail: String,
    },

    #[error("{tool} did not become ready within {secs} s; see its log {log}")]
    NotReady {
        tool: &'static str,
        secs: u64,
        log: PathBuf,
    },

    #[error(
        "the chain at {url} failed during {during}: {message}; is the devnet still running? (`zgvault-testnet status`)"
    )]
    Chain {
        url: String,
        during: String,
        message: String,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "devnet manifest {path} is unreadable ({message}): run `zgvault-testnet down` to clear it, then `up` again"
    )]
    BadManifest { path: PathBuf, message: String },

    #[error(
        "no devnet is running from {dir} (no manifest there): start one with `zgvault-testnet up`"
    )]
    NotRunning { dir: PathBuf },

    #[error("invalid devnet option: {message}")]
    Config { message: String },

    #[error("{source}")]
    RpcUrl {
        #[source]
        source: zgvault_proto::Error,
    },

    /// A tool is missing or did not start, or a URL is bad (`zgvault-devsupport`).
    #[error(transparent)]
    DevSupport(zgvault_devsupport::Error),
}

impl From<zgvault_devsupport::Error> for Error {
    fn from(e: zgvault_devsupport::Error) -> Self {
        use zgvault_devsupport::Error as Dev;
        match e {
            Dev::Chain {
                url,
                during,
                message,
            } => Error::Chain {
                url,
                during,
                message,
            },
            other => Error::DevSupport(other),
        }
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn chain(url: &str, during: impl Into<String>, err: impl std::fmt::Display) -> Self {
        zgvault_devsupport::Error::chain(url, during, err).into()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
