//! JSON-RPC errors with the codes and texts of the real storage node, which clients key
//! on (`already uploaded and finalized`, `too many data writing`).

use std::path::Path;

use serde_json::{Value, json};

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a JSON-RPC request object.
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

/// An error answered to a JSON-RPC call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("parse error: {0}")]
    Parse(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("method not found: {0}")]
    MethodNotFound(String),
    /// Bad parameters; the reason goes in `data`, as the real node does.
    #[error("invalid params: {0}")]
    Params(String),
    /// The clients treat this one as success.
    #[error("already uploaded and finalized")]
    AlreadyFinalized,
    #[error("internal error: {0}")]
    Internal(String),
}

impl RpcError {
    pub fn params(reason: impl Into<String>) -> Self {
        RpcError::Params(reason.into())
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        RpcError::Internal(reason.into())
    }

    pub fn io(path: &Path, e: std::io::Error) -> Self {
        RpcError::Internal(format!("{}: {e}", path.display()))
    }

    /// The JSON-RPC `error` object.
    pub fn to_json(&self) -> Value {
        let (code, message, data) = match self {
            RpcError::Parse(d) => (PARSE_ERROR, "Parse error".to_owned(), Some(d.clone())),
            RpcError::InvalidRequest(d) => (
                INVALID_REQUEST,
                "Invalid request".to_owned(),
                Some(d.clone()),
            ),
            RpcError::MethodNotFound(m) => {
                (METHOD_NOT_FOUND, format!("Method not found: {m}"), None)
            }
            RpcError::Params(d) => (
                INVALID_PARAMS,
                format!("Invalid params: {d}"),
                Some(d.clone()),
            ),
            RpcError::AlreadyFinalized => (
                INVALID_PARAMS,
                "Invalid params: segment".to_owned(),
                Some("already uploaded and finalized".to_owned()),
            ),
            RpcError::Internal(d) => (INTERNAL_ERROR, "Internal error".to_owned(), Some(d.clone())),
        };
        match data {
            Some(data) => json!({"code": code, "message": message, "data": data}),
            None => json!({"code": code, "message": message}),
        }
    }
}
