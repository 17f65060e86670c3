//! Who sent a request ([`Origin`]) and what its log line shows ([`RequestLog`]), filled in
//! by each step (admission, gate, holder) as the request is understood.

use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, B256};

/// Who sent a request: for per-origin rate limits and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `"http"` or `"p2p"`.
    pub transport: &'static str,
    /// The peer id or IP address.
    pub id: String,
}

/// What the log line of a request shows; filled as the request is understood.
#[derive(Debug)]
pub(crate) struct RequestLog {
    /// Where the request came from (its replay-cache entry is charged to it).
    pub(crate) origin: Origin,
    pub(crate) kind: &'static str,
    pub(crate) hash: Option<B256>,
    pub(crate) file_id: Option<B256>,
    pub(crate) requester: Option<Address>,
    /// The hash this request put in the replay cache (forgotten again on a refusal or a
    /// timeout). Shared with the task runner of `KeyService` for the timeout.
    pub(crate) armed: Arc<Mutex<Option<B256>>>,
    /// The audit line of this decision was already written (by the vault's audited key
    /// holder, in the blocking step of a store change, right after its commit).
    pub(crate) audited: bool,
}

impl RequestLog {
    pub(crate) fn new(origin: Origin) -> Self {
        Self {
            origin,
            kind: "",
            hash: None,
            file_id: None,
            requester: None,
            armed: Arc::default(),
            audited: false,
        }
    }
}
