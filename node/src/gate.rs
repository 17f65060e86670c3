//! The gate: the chain reads a node makes, on its own, before it releases anything, and the
//! file-record checks every owner-signed message shares.
//!
//! An admitted access request (signature, times, replay, rate: `admission.rs`) is checked,
//! cheapest first: `atBlock` within the freshness window and deep enough → the file record at
//! `atBlock` → scheme and capsule hash match the registered ones → `canAccess(fileId,
//! requester)` at `atBlock` and again at `head - confirmations` (so a revocation bites within
//! seconds, not after the freshness window). Every read is pinned to a block (`atBlock`, or the
//! newest block the node trusts): none depends on a block that moved meanwhile. What passes is
//! an [`Admitted`] request; releasing it is `release.rs`'s. Any chain failure or timeout
//! refuses with `CHAIN_UNAVAILABLE`: the gate fails closed.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use alloy_primitives::{Address, B256};
use futures::future::BoxFuture;
use zgvault_contracts::reason_text;
use zgvault_proto::{
    request::{FileRef, Scheme, SignedAccessRequest},
    wire::{ErrorCode, ErrorReply},
};

use crate::{
    chain::{CHAIN_CALL_TIMEOUT, Chain, FileRecord},
    config::ChainConfig,
    error::Result,
    metrics::Metrics,
    reply::{NOT_CONFIRMED_RETRY_AFTER_SECS, chain_unavailable, refuse},
    util::unix_now,
};

/// An access request that passed the gate: the file asked for, who asked, and the file's
/// record at the request's `atBlock`.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// The file the request names (its label is what a BLS partial signs).
    pub(crate) file: FileRef,
    /// The verified signer, allowed by `canAccess` at `atBlock` and at the newest trusted
    /// block.
    pub(crate) requester: Address,
    /// The file's registry record at `atBlock`.
    pub(crate) record: FileRecord,
}

/// The chain reads of one node, each under [`CHAIN_CALL_TIMEOUT`], and the health state they
/// leave behind.
pub(crate) struct Gate {
    chain: Arc<dyn Chain>,
    confirmations: u64,
    freshness_blocks: u64,
    metrics: Arc<Metrics>,
    /// Unix seconds of the last successful chain call (0 = never), for `/health`.
    chain_ok_at: AtomicU64,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("chain", &self.chain)
            .field("confirmations", &self.confirmations)
            .field("freshness_blocks", &self.freshness_blocks)
            .finish_non_exhaustive()
    }
}

impl Gate {
    pub(crate) fn new(chain: Arc<dyn Chain>, config: &ChainConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            chain,
            confirmations: config.confirmations,
            freshness_blocks: config.freshness_blocks,
            metrics,
            chain_ok_at: AtomicU64::new(0),
        }
    }

    /// The chain this gate reads.
    pub(crate) fn chain(&self) -> &Arc<dyn Chain> {
        &self.chain
    }

    /// Unix seconds of the last successful chain call, `None` if none succeeded yet.
    pub(crate) fn last_ok(&self) -> Option<u64> {
        let at = self.chain_ok_at.load(Ordering::Relaxed);
        (at != 0).then_some(at)
    }

    /// Runs one chain call under [`CHAIN_CALL_TIMEOUT`]. Any failure becomes
    /// `CHAIN_UNAVAILABLE`: the gate fails closed.
    pub(crate) async fn call<T>(
        &self,
        call: &'static str,
        future: BoxFuture<'_, Result<T>>,
    ) -> Result<T, ErrorReply> {
        let outcome = tokio::time::timeout(CHAIN_CALL_TIMEOUT, future).await;
        match outcome {
            Ok(Ok(value)) => {
                self.chain_ok_at.store(unix_now(), Ordering::Relaxed);
                Ok(value)
            }
            Ok(Err(error)) => {
                self.metrics.chain_error(call);
                tracing::warn!(target: "zgvault::node::chain", call, %error, "chain call failed");
                Err(chain_unavailable(call))
            }
            Err(_) => {
                self.metrics.chain_error(call);
                tracing::warn!(target: "zgvault::node::chain", call, timeout_secs = CHAIN_CALL_TIMEOUT.as_secs(), "chain call timed out");
                Err(chain_unavailable(call))
            }
        }
    }

    /// The chain's head block.
    pub(crate) async fn head(&self) -> Result<u64, ErrorReply> {
        self.call("eth_blockNumber", self.chain.head()).await
    }

    /// The registered capsule of `file_id` at block `at` (`None`: not registered).
    pub(crate) async fn capsule(
        &self,
        file_id: B256,
        at: u64,
    ) -> Result<Option<Vec<u8>>, ErrorReply> {
        self.call(
            "FileRegistry.capsuleOf",
            self.chain.capsule(file_id, Some(at)),
        )
        .await
    }

    /// The gate of an access request whose signature, times, replay and rate were admitted:
    /// every check that needs the chain, in order. `requester` is the verified signer.
    pub(crate) async fn admit(
        &self,
        request: &SignedAccessRequest,
        requester: Address,
    ) -> Result<Admitted, ErrorReply> {
        let fields = request.request();
        let file_id = fields.file.file_id;
        let at_block = fields.at_block;

        let head = self.head().await?;
        self.check_block(at_block, head)?;

        let record = self
            .call(
                "FileRegistry.getFile",
                self.chain.file(file_id, Some(at_block)),
            )
            .await?
            .ok_or_else(|| unknown_file(file_id, at_block))?;
        check_scheme(&record, fields.scheme, file_id)?;
        if fields.scheme == Scheme::Bls && fields.capsule_hash != record.capsule_hash {
            return Err(refuse(
                ErrorCode::CapsuleMismatch,
                format!(
                    "the capsule sent does not match the one registered for file {file_id} at \
                     block {at_block}: fetch the capsule with FileRegistry.capsuleOf and sign again"
                ),
            ));
        }

        let allowed = self
            .call(
                "FileRegistry.canAccess",
                self.chain.can_access(file_id, requester, at_block),
            )
            .await?;
        if !allowed {
            return Err(self.denied(file_id, requester, at_block).await);
        }
        // The requester picks `atBlock` anywhere in the freshness window, so a deny, a burn,
        // an expiry or a balance drop would otherwise wait up to `freshness_blocks` to bite
        // (and one pass could be handed from account to account). Ask again at the newest
        // block this node trusts: a revocation counts once it is `confirmations` deep.
        let latest = head.saturating_sub(self.confirmations);
        if latest > at_block {
            let still = self
                .call(
                    "FileRegistry.canAccess",
                    self.chain.can_access(file_id, requester, latest),
                )
                .await?;
            if !still {
                return Err(self.denied(file_id, requester, latest).await);
            }
        }
        Ok(Admitted {
            file: fields.file,
            requester,
            record,
        })
    }

    /// `atBlock` must be at least `confirmations` deep and at most `freshness_blocks` old.
    fn check_block(&self, at_block: u64, head: u64) -> Result<(), ErrorReply> {
        let Some(depth) = head.checked_sub(at_block) else {
            return Err(ErrorReply::new(
                ErrorCode::NotConfirmed,
                format!(
                    "atBlock {at_block} is after this node's head {head}: use a block at most \
                     head - {} (retry shortly if the node is behind)",
                    self.confirmations
                ),
                NOT_CONFIRMED_RETRY_AFTER_SECS,
            ));
        };
        if depth < self.confirmations {
            return Err(ErrorReply::new(
                ErrorCode::NotConfirmed,
                format!(
                    "atBlock {at_block} has {depth} confirmations, this node needs {}: use an \
                     older block or retry shortly",
                    self.confirmations
                ),
                NOT_CONFIRMED_RETRY_AFTER_SECS,
            ));
        }
        if depth > self.freshness_blocks {
            return Err(refuse(
                ErrorCode::StaleBlock,
                format!(
                    "atBlock {at_block} is {depth} blocks behind the head {head} (limit {}): \
                     sign a new request at a recent block",
                    self.freshness_blocks
                ),
            ));
        }
        Ok(())
    }

    /// The `ACCESS_DENIED` reply, with the registry's reason when `accessCheck` answers.
    async fn denied(&self, file_id: B256, requester: Address, at_block: u64) -> ErrorReply {
        let check = self
            .call(
                "FileRegistry.accessCheck",
                self.chain.access_check(file_id, requester, at_block),
            )
            .await;
        let why = match check {
            Ok((_, reason)) => format!("{} (reason {reason})", reason_text(reason)),
            Err(_) => "the file's policy does not admit you".to_owned(),
        };
        refuse(
            ErrorCode::AccessDenied,
            format!(
                "{requester} may not read file {file_id} at block {at_block}: {why}; ask the \
                 file owner for an AccessPass (or to allow-list you), then sign a new request"
            ),
        )
    }

    /// The record of `file_id` at block `at` (`None`: the latest), which `signer` must own:
    /// the check every owner-signed message (deposit, key deposit, shred) makes.
    /// `unregistered` says what to do when the file is not registered.
    pub(crate) async fn owned_file(
        &self,
        file_id: B256,
        signer: Address,
        at: Option<u64>,
        message: &str,
        unregistered: &str,
    ) -> Result<FileRecord, ErrorReply> {
        let file = self
            .call("FileRegistry.getFile", self.chain.file(file_id, at))
            .await?
            .ok_or_else(|| {
                refuse(
                    ErrorCode::UnknownFile,
                    format!("file {file_id} is not registered: {unregistered}"),
                )
            })?;
        if signer != file.owner {
            return Err(refuse(
                ErrorCode::NotOwner,
                format!(
                    "the {message} is signed by {signer}, but file {file_id} is owned by {}: \
                     sign with the owner's key",
                    file.owner
                ),
            ));
        }
        Ok(file)
    }
}

fn unknown_file(file_id: B256, at_block: u64) -> ErrorReply {
    refuse(
        ErrorCode::UnknownFile,
        format!(
            "file {file_id} is not registered in the FileRegistry at block {at_block}: check the \
             file id, or sign again at a later block if it was just registered"
        ),
    )
}

/// The registered scheme of `file` must be `wanted` (`WRONG_SCHEME` otherwise).
pub(crate) fn check_scheme(
    file: &FileRecord,
    wanted: Scheme,
    file_id: B256,
) -> Result<(), ErrorReply> {
    // The registry stores the wire's codes, so the wire's parser is the one mapping.
    let registered = Scheme::from_u8(file.scheme).ok();
    if registered == Some(wanted) {
        return Ok(());
    }
    let name = registered.map_or_else(
        || format!("unknown ({})", file.scheme),
        |s| s.name().to_owned(),
    );
    Err(refuse(
        ErrorCode::WrongScheme,
        format!(
            "file {file_id} is protected by the {name} scheme, not {}: request it with the \
             registered scheme",
            wanted.name()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, B256};
    use zgvault_contracts::{SCHEME_BLS, SCHEME_CUSTODIAL, SCHEME_SHAMIR};
    use zgvault_proto::{request::Scheme, wire::ErrorCode};

    use super::check_scheme;
    use crate::chain::FileRecord;

    fn record(scheme: u8) -> FileRecord {
        FileRecord {
            owner: Address::repeat_byte(1),
            scheme,
            capsule_hash: B256::ZERO,
        }
    }

    #[test]
    fn registry_codes_are_the_wire_codes() {
        // The gate compares a registered code with a request's scheme through
        // `Scheme::from_u8`: the registry must use the same numbers.
        assert_eq!(SCHEME_BLS, Scheme::Bls.as_u8());
        assert_eq!(SCHEME_SHAMIR, Scheme::Shamir.as_u8());
        assert_eq!(SCHEME_CUSTODIAL, Scheme::Custodial.as_u8());
    }

    #[test]
    fn check_scheme_accepts_only_the_registered_scheme() {
        let all = [Scheme::Bls, Scheme::Shamir, Scheme::Custodial];
        for registered in all {
            for wanted in all {
                let got = check_scheme(&record(registered.as_u8()), wanted, B256::ZERO);
                assert_eq!(
                    got.is_ok(),
                    registered == wanted,
                    "{registered:?} vs {wanted:?}"
                );
            }
        }
        // 0 (unspecified) and codes past custodial match nothing.
        for code in [0, 4, u8::MAX] {
            for wanted in all {
                let refused = check_scheme(&record(code), wanted, B256::ZERO).unwrap_err();
                assert_eq!(refused.code, ErrorCode::WrongScheme);
                assert!(
                    refused.message.contains(&format!("unknown ({code})")),
                    "{refused:?}"
                );
            }
        }
    }
}
