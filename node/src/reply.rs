//! The refusals more than one step sends, and the `retry_after_secs` they carry: one wording
//! per situation, whichever module meets it.

use alloy_primitives::B256;
use zgvault_proto::wire::{ErrorCode, ErrorReply};

/// `retry_after_secs` sent with `CHAIN_UNAVAILABLE`.
pub const CHAIN_RETRY_AFTER_SECS: u32 = 5;
/// `retry_after_secs` sent when the node is at its concurrency limit.
pub const BUSY_RETRY_AFTER_SECS: u32 = 1;
/// `retry_after_secs` sent when the replay cache, or the share of it the request's origin or
/// signer may hold, is full.
pub const REPLAY_FULL_RETRY_AFTER_SECS: u32 = 30;
/// `retry_after_secs` sent with `NOT_CONFIRMED` (about one block on most chains).
pub const NOT_CONFIRMED_RETRY_AFTER_SECS: u32 = 2;

/// `REPLAY` message of a share or key deposit received before.
pub(crate) const DEPOSIT_REPLAYED: &str = "this deposit was already received: if you did not get its answer, check the file with \
     a read; to deposit again, sign a new deposit";
/// `REPLAY` message of a shred received before.
pub(crate) const SHRED_REPLAYED: &str =
    "this shred was already received: to shred again, sign a new shred";
/// `REPLAY` message of an access request answered before.
pub(crate) const ACCESS_REPLAYED: &str =
    "this request was already answered: sign a new request (fresh nonce)";

/// A refusal without `retry_after_secs`.
pub(crate) fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorReply {
    ErrorReply::new(code, message, 0)
}

/// `INTERNAL`: the node itself failed at `what`.
pub(crate) fn internal(what: &str) -> ErrorReply {
    refuse(
        ErrorCode::Internal,
        format!("the node failed ({what}): retry or ask other nodes"),
    )
}

/// `INTERNAL` with a retry hint: a store write that failed (`message` says which).
pub(crate) fn store_failed(message: &'static str) -> ErrorReply {
    ErrorReply::new(ErrorCode::Internal, message, BUSY_RETRY_AFTER_SECS)
}

/// The refusal a threshold node gives custodial messages.
pub(crate) fn not_a_vault() -> ErrorReply {
    refuse(
        ErrorCode::WrongScheme,
        "this is a threshold node; use the vault (the node whose /v1/info says mode \"custodial\") \
         for custodial files",
    )
}

/// The refusal the vault gives threshold messages.
pub(crate) fn not_a_share_holder() -> ErrorReply {
    refuse(
        ErrorCode::WrongScheme,
        "this is the custodial vault; send BLS and Shamir requests and share deposits to the \
         threshold share-holder nodes",
    )
}

/// The `SHREDDED` refusal of a deposit signed at `issued_at` for a file shredded at `at`.
pub(crate) fn shredded(file_id: B256, issued_at: u64, at: u64) -> ErrorReply {
    refuse(
        ErrorCode::Shredded,
        format!(
            "file {file_id} was shredded here by a shred signed at {at}, and this deposit was \
             signed at {issued_at}: sign a new deposit to protect the file again"
        ),
    )
}

/// `CHAIN_UNAVAILABLE` after `call` failed or timed out: the gate fails closed.
pub(crate) fn chain_unavailable(call: &'static str) -> ErrorReply {
    ErrorReply::new(
        ErrorCode::ChainUnavailable,
        format!(
            "this node cannot read the chain right now ({call} failed): retry in \
             {CHAIN_RETRY_AFTER_SECS} s or rely on the other nodes"
        ),
        CHAIN_RETRY_AFTER_SECS,
    )
}
