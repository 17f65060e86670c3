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

    /// A devnet option out of range (`--nodes`, `--threshold`, ...).
    #[error("invalid devnet option: {message}")]
    Option { message: String },

    /// A process name the devnet does not have (fault injection, restarts).
    #[error("the devnet has no process {name}: `zgvault-testnet status` lists its processes")]
    NoProcess { name: String },

    /// A fault-injection step asked for a process in the other state.
    #[error("{name} {state}: kill it before restarting it, restart it before killing it again")]
    ProcessState { name: String, state: &'static str },

    /// No account of that name in the manifest.
    #[error("no account named {name} in the devnet manifest (it has: {have})")]
    NoAccount { name: String, have: String },

    /// The dev-only dealer could not make the key set.
    #[error("cannot deal a {threshold} of {nodes} BLS key set: {message}")]
    KeySet {
        threshold: usize,
        nodes: usize,
        message: String,
    },

    /// A node reported something the devnet cannot use (its `/v1/info`).
    #[error("{name} reported an unusable {what} ({message}); see its log in the devnet folder")]
    BadNodeInfo {
        name: String,
        what: &'static str,
        message: String,
    },

    /// A dev storage node or the indexer failed.
    #[error("{what}: {message}; see its log in the devnet folder")]
    Storage { what: String, message: String },

    /// The devnet vault's SoftHSM2 token cannot be made.
    #[error(
        "the devnet vault's SoftHSM2 token: {problem}; run scripts/setup (it installs \
         SoftHSM2), or start the devnet with `--vault-kek file` (a passphrase-sealed KEK) or \
         `--no-vault`"
    )]
    SoftHsm { problem: String },

    /// Something that cannot fail did (serialising our own types): a bug to report.
    #[error("internal error while {what}: {message} (please report it)")]
    Internal { what: &'static str, message: String },

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
