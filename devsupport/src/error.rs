//! What can go wrong finding or starting a tool, or deploying to a chain.

use std::path::PathBuf;

/// Errors of this crate; each message says what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tool is nowhere it was looked for.
    #[error("{tool} not found (looked in {looked}): run scripts/setup, or set {env} to the binary")]
    ToolMissing {
        /// The tool's name.
        tool: &'static str,
        /// The environment variable that names it.
        env: &'static str,
        /// Where it was looked for.
        looked: String,
    },
    /// The tool could not be started.
    #[error("could not start {tool} ({path}): {source}")]
    Spawn {
        /// The tool's name.
        tool: &'static str,
        /// The binary.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The tool did not print its ready line in time (or exited first).
    #[error("{tool} did not say it was ready within {secs} s: run it by hand to see why")]
    NotReady {
        /// The tool's name.
        tool: &'static str,
        /// How long was waited.
        secs: u64,
    },
    /// An RPC URL that does not parse.
    #[error("RPC URL {url} is not a URL ({message}): give it as http://HOST:PORT")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What the parser said.
        message: String,
    },
    /// A chain call failed.
    #[error("the chain at {url} failed during {during}: {message}; is the chain still running?")]
    Chain {
        /// The RPC URL.
        url: String,
        /// What was being done.
        during: String,
        /// What the chain or the transport said.
        message: String,
    },
}

impl Error {
    /// A failed chain call: the RPC URL, what was being done, and the error.
    pub fn chain(url: &str, during: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::Chain {
            url: url.to_owned(),
            during: during.into(),
            message: err.to_string(),
        }
    }
}

/// This crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
