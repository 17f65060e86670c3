//! The gate: everything a node checks, on its own, before it releases anything; and the
//! deposit path for Shamir shares.
//!
//! Access, cheapest first: signature and times (`SignedAccessRequest::verify`) → replay cache
//! → `atBlock` within the freshness window and deep enough → the file record at `atBlock` →
//! scheme and capsule hash match the registered ones → `canAccess(fileId, requester)` at
//! `atBlock` and again at `head - confirmations` (so a revocation bites within seconds, not
//! after the freshness window) → only then the partial (BLS, off the event loop) or the
//! stored share (Shamir), sealed to the requester; or, on the custodial vault, K
//! (`vault/handlers.rs`). Any chain failure refuses with `CHAIN_UNAVAILABLE`.
//!
//! Every owner- or requester-signed message (access request, deposit, shred) goes through the
//! replay cache right after its signature is verified (`REPLAY`), and only a message not seen
//! before is charged to its signer's token bucket, before any chain call (`RATE_LIMITED`):
//! replays of an answered message cannot drain a signer's bucket. The entry is charged to the
//! message's origin and signer, and each may hold only its share of the cache
//! (`limits.replay_cache_per_origin` / `_per_signer`, then `RATE_LIMITED`), so no origin or
//! signer can fill it with answered messages. Only an answered message stays remembered until
//! it expires; every refusal (`KeyService::dispatch`) and a timeout forget it, because nothing
//! was released or changed: the same message may be sent again as is, and a flood of refused
//! messages from fresh signers leaves nothing behind. The price: a captured refused message,
//! replayed, costs its signer a token each time (it is no longer told apart from a new one).

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use zgvault_contracts::reason_text;
use zgvault_proto::{
    request::{
        CLOCK_SKEW_SECS, MAX_DEPOSIT_AGE_SECS, Scheme, SignedAccessRequest, SignedShareDeposit,
        SignedShred,
    },
    threshold::{BlsCapsule, ShamirShare},
    wire::{DepositAck, ErrorCode, ErrorReply, KeyResponse, SealedShare, ShredAck},
};

use crate::{
    chain::FileRecord,
    custody::AuditAction,
    service::{BUSY_RETRY_AFTER_SECS, KeyService, RequestLog, unix_now},
    store::{DepositOutcome, ShredOutcome},
    vault::NodeMode,
};

/// `retry_after_secs` sent with `NOT_CONFIRMED` (about one block on most chains).
pub const NOT_CONFIRMED_RETRY_AFTER_SECS: u32 = 2;

pub(crate) fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorReply {
    ErrorReply::new(code, message, 0)
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

pub(crate) fn internal(what: &str) -> ErrorReply {
    refuse(
        ErrorCode::Internal,
        format!("the node failed ({what}): retry or ask other nodes"),
    )
}

impl KeyService {
    pub(crate) async fn access(
        &self,
        request: &SignedAccessRequest,
        log: &mut RequestLog,
    ) -> Result<KeyResponse, ErrorReply> {
        let inner = &self.inner;
        let fields = request.request();
        log.hash = Some(request.hash());
        log.file_id = Some(fields.file.file_id);
        let verified = request
            .verify(&inner.domain, unix_now())
            .map_err(|e| ErrorReply::from_error(&e))?;
        log.requester = Some(verified.requester);
        // A request for the other kind of node costs the signer nothing here.
        match (inner.mode, fields.scheme) {
            (NodeMode::Threshold, Scheme::Custodial) => return Err(not_a_vault()),
            (NodeMode::Custodial, Scheme::Bls | Scheme::Shamir) => {
                return Err(not_a_share_holder());
            }
            _ => {}
        }
        self.admit_signed(
            verified.hash,
            verified.replay_until,
            verified.requester,
            log,
            "this request was already answered: sign a new request (fresh nonce)",
        )?;
        self.gate_and_release(request, verified.requester).await
    }

    async fn gate_and_release(
        &self,
        request: &SignedAccessRequest,
        requester: Address,
    ) -> Result<KeyResponse, ErrorReply> {
        let inner = &self.inner;
        let fields = request.request();
        let file_id = fields.file.file_id;
        let at_block = fields.at_block;

        let head = self
            .chain_call("eth_blockNumber", inner.chain.head())
            .await?;
        self.check_block(at_block, head)?;

        let file = self
            .chain_call(
                "FileRegistry.getFile",
                inner.chain.file(file_id, Some(at_block)),
            )
            .await?
            .ok_or_else(|| unknown_file(file_id, at_block))?;
        check_scheme(&file, fields.scheme, file_id)?;
        if fields.scheme == Scheme::Bls && fields.capsule_hash != file.capsule_hash {
            return Err(refuse(
                ErrorCode::CapsuleMismatch,
                format!(
                    "the capsule sent does not match the one registered for file {file_id} at \
                     block {at_block}: fetch the capsule with FileRegistry.capsuleOf and sign again"
                ),
            ));
        }

        let allowed = self
            .chain_call(
                "FileRegistry.canAccess",
                inner.chain.can_access(file_id, requester, at_block),
            )
            .await?;
        if !allowed {
            return Err(self.denied(file_id, requester, at_block).await);
        }
        // The requester picks `atBlock` anywhere in the freshness window, so a deny, a burn,
        // an expiry or a balance drop would otherwise wait up to `freshness_blocks` to bite
        // (and one pass could be handed from account to account). Ask again at the newest
        // block this node trusts: a revocation counts once it is `confirmations` deep.
        let latest = head.saturating_sub(inner.confirmations);
        if latest > at_block {
            let still = self
                .chain_call(
                    "FileRegistry.canAccess",
                    inner.chain.can_access(file_id, requester, latest),
                )
                .await?;
            if !still {
                return Err(self.denied(file_id, requester, latest).await);
            }
        }

        match fields.scheme {
            Scheme::Bls => self.release_bls(request).await,
            Scheme::Shamir => self.release_shamir(request, &file).await,
            Scheme::Custodial => self.release_custodial(request, &file).await,
        }
    }

    /// `atBlock` must be at least `confirmations` deep and at most `freshness_blocks` old.
    fn check_block(&self, at_block: u64, head: u64) -> Result<(), ErrorReply> {
        let inner = &self.inner;
        let Some(depth) = head.checked_sub(at_block) else {
            return Err(ErrorReply::new(
                ErrorCode::NotConfirmed,
                format!(
                    "atBlock {at_block} is after this node's head {head}: use a block at most \
                     head - {} (retry shortly if the node is behind)",
                    inner.confirmations
                ),
                NOT_CONFIRMED_RETRY_AFTER_SECS,
            ));
        };
        if depth < inner.confirmations {
            return Err(ErrorReply::new(
                ErrorCode::NotConfirmed,
                format!(
                    "atBlock {at_block} has {depth} confirmations, this node needs {}: use an \
                     older block or retry shortly",
                    inner.confirmations
                ),
                NOT_CONFIRMED_RETRY_AFTER_SECS,
            ));
        }
        if depth > inner.freshness_blocks {
            return Err(refuse(
                ErrorCode::StaleBlock,
                format!(
                    "atBlock {at_block} is {depth} blocks behind the head {head} (limit {}): \
                     sign a new request at a recent block",
                    inner.freshness_blocks
                ),
            ));
        }
        Ok(())
    }

    /// The `ACCESS_DENIED` reply, with the registry's reason when `accessCheck` answers.
    async fn denied(&self, file_id: B256, requester: Address, at_block: u64) -> ErrorReply {
        let check = self
            .chain_call(
                "FileRegistry.accessCheck",
                self.inner.chain.access_check(file_id, requester, at_block),
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

    async fn release_bls(&self, request: &SignedAccessRequest) -> Result<KeyResponse, ErrorReply> {
        let share = self.inner.bls.as_ref().map(Arc::clone).ok_or_else(|| {
            refuse(
                ErrorCode::UnknownFile,
                "this node holds no BLS key share (not in the current key set): ask other nodes",
            )
        })?;
        let file = request.request().file;
        let capsule = request.capsule().to_vec();
        // The answer signs the label of the file asked for (`file`, whose gate just passed)
        // and the capsule's `U`: useless for any other file. A hash to G2 and a G2
        // multiplication (~1 ms): off the async workers.
        let partial = tokio::task::spawn_blocking(move || {
            BlsCapsule::from_bytes(&capsule).map(|capsule| share.decrypt_share(&file, &capsule))
        })
        .await
        .map_err(|_| internal("BLS decryption task"))?
        .map_err(|e| {
            refuse(
                ErrorCode::CapsuleMismatch,
                format!("{e} (the capsule registered for this file is not a BLS capsule this node serves)"),
            )
        })?;
        let node_index = self
            .inner
            .node_index
            .ok_or_else(|| internal("BLS share without a node index"))?;
        let sealed = SealedShare::seal(node_index, request, partial.to_bytes().as_slice())
            .map_err(|e| ErrorReply::from_error(&e))?;
        Ok(KeyResponse::Partial(sealed))
    }

    async fn release_shamir(
        &self,
        request: &SignedAccessRequest,
        file: &FileRecord,
    ) -> Result<KeyResponse, ErrorReply> {
        let file_id = request.request().file.file_id;
        let node_index = self.inner.node_index.ok_or_else(|| {
            refuse(
                ErrorCode::UnknownFile,
                "this node has no index in the key set and holds no shares: ask other nodes",
            )
        })?;
        let store = self.inner.store.clone();
        let (stored, shredded_at) = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::Error>((store.deposit(file_id, node_index)?, store.shredded_at(file_id)?))
        })
        .await
        .map_err(|_| internal("store read task"))?
        .map_err(|e| {
            tracing::error!(target: "zgvault::node::store", %file_id, error = %e, "reading a deposit failed");
            internal("share store read")
        })?;
        let stored = stored.ok_or_else(|| match shredded_at {
            Some(at) => refuse(
                ErrorCode::Shredded,
                format!(
                    "the owner shredded node {node_index}'s share of file {file_id} (shred \
                     signed at {at}): this node holds nothing for it"
                ),
            ),
            None => refuse(
                ErrorCode::UnknownFile,
                format!(
                    "node {node_index} holds no share for file {file_id}: the owner has not \
                     deposited one here (if you are the owner, run `zgvault put` again to \
                     resume)"
                ),
            ),
        })?;
        if stored.commitments.hash() != file.capsule_hash {
            return Err(refuse(
                ErrorCode::UnknownFile,
                format!(
                    "the share held for file {file_id} was deposited under other commitments \
                     than the registered ones: the owner must deposit the new shares"
                ),
            ));
        }
        let sealed = SealedShare::seal(node_index, request, stored.share.to_bytes().as_slice())
            .map_err(|e| ErrorReply::from_error(&e))?;
        Ok(KeyResponse::Share(sealed))
    }

    pub(crate) async fn deposit(
        &self,
        deposit: &SignedShareDeposit,
        log: &mut RequestLog,
    ) -> Result<KeyResponse, ErrorReply> {
        let inner = &self.inner;
        let fields = deposit.deposit();
        let file_id = fields.file.file_id;
        let signer = self.admit_owner_message(
            deposit.hash(),
            file_id,
            fields.issued_at,
            deposit.verify(&inner.domain, unix_now()),
            log,
            DEPOSIT_REPLAYED,
        )?;
        if inner.mode == NodeMode::Custodial {
            return Err(not_a_share_holder());
        }
        let node_index = inner.node_index.ok_or_else(|| {
            refuse(
                ErrorCode::Internal,
                "this node has no index in the key set yet and cannot hold shares",
            )
        })?;
        if fields.node_index != node_index {
            return Err(refuse(
                ErrorCode::WrongDomain,
                format!(
                    "the deposit is for node {}, this is node {node_index}: send each share to \
                     its own node",
                    fields.node_index
                ),
            ));
        }
        let file = self
            .owned_file(
                file_id,
                signer,
                None,
                "deposit",
                "register it, then deposit",
            )
            .await?;
        check_scheme(&file, Scheme::Shamir, file_id)?;
        if fields.commitments.hash() != file.capsule_hash {
            return Err(refuse(
                ErrorCode::CapsuleMismatch,
                format!(
                    "the deposit's commitments are not the ones registered for file {file_id}: \
                     register them (setCapsule) or deposit the matching shares"
                ),
            ));
        }
        let (share, commitments) = ShamirShare::open_deposit(&inner.keys.encryption, fields)
            .map_err(|e| {
                refuse(
                    ErrorCode::Malformed,
                    format!(
                        "{e}: the share must be sealed to this node's encryption key (see \
                     /v1/info) and match the commitments"
                    ),
                )
            })?;
        let store = inner.store.clone();
        let issued_at = fields.issued_at;
        // The ack goes out only after the commit returned (fsync): acknowledged = durable.
        let outcome = tokio::task::spawn_blocking(move || {
            store.put_deposit_unless_shredded(file_id, &share, &commitments, issued_at)
        })
        .await
            .map_err(|_| internal("store write task"))?
            .map_err(|e| {
                tracing::error!(target: "zgvault::node::store", %file_id, error = %e, "storing a deposit failed");
                ErrorReply::new(
                    ErrorCode::Internal,
                    "the node could not store the share: retry later",
                    BUSY_RETRY_AFTER_SECS,
                )
            })?;
        if let DepositOutcome::Shredded { at } = outcome {
            return Err(shredded(file_id, issued_at, at));
        }
        Ok(KeyResponse::DepositAck(DepositAck {
            node_index,
            file_id,
        }))
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
            .chain_call("FileRegistry.getFile", self.inner.chain.file(file_id, at))
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

    /// The owner's shred, in both modes: the signer must own the file on-chain (latest
    /// block); then the share (threshold) or K (vault) is deleted, unless it was deposited
    /// after the shred was signed, and the tombstone raised, in one transaction. An older
    /// shred (a replay past the replay cache) keeps a newer deposit (`held = false`).
    pub(crate) async fn shred(
        &self,
        shred: &SignedShred,
        log: &mut RequestLog,
    ) -> Result<KeyResponse, ErrorReply> {
        let inner = &self.inner;
        let fields = shred.shred();
        let file_id = fields.file.file_id;
        let signer = self.admit_owner_message(
            shred.hash(),
            file_id,
            fields.issued_at,
            shred.verify(&inner.domain, unix_now()),
            log,
            SHRED_REPLAYED,
        )?;
        let own = inner.keys.encryption.public_key();
        if fields.holder != own {
            return Err(refuse(
                ErrorCode::WrongDomain,
                format!(
                    "this shred is addressed to the holder with key 0x{}, this node's key is \
                     0x{} (see /v1/info): sign one shred per holder, addressed to its key",
                    hex::encode(fields.holder.as_bytes()),
                    hex::encode(own.as_bytes())
                ),
            ));
        }
        self.owned_file(file_id, signer, None, "shred", "nothing to shred")
            .await?;
        let issued_at = fields.issued_at;
        let outcome = match &inner.vault {
            Some(vault) => {
                let vault = Arc::clone(vault);
                let hash = shred.hash();
                let done = tokio::task::spawn_blocking(move || {
                    let outcome = vault.store().shred(file_id, issued_at)?;
                    // The audit line in the same blocking step, right after the commit: a
                    // cancelled request cannot leave a shred unrecorded.
                    let note = match outcome {
                        ShredOutcome::KeptNewer { deposited_at } => Some(format!(
                            "older than the key held (deposited at {deposited_at}): key kept"
                        )),
                        ShredOutcome::Deleted | ShredOutcome::NotHeld => None,
                    };
                    vault.record_store_change(AuditAction::Shred, signer, file_id, hash, note);
                    Ok::<_, crate::Error>(outcome)
                })
                .await;
                if matches!(done, Ok(Ok(_))) {
                    log.audited = true;
                }
                done
            }
            None => {
                let store = inner.store.clone();
                let node_index = inner.node_index;
                tokio::task::spawn_blocking(move || match node_index {
                    Some(index) => store.shred(file_id, index, issued_at),
                    // No index: no share can be held, but the tombstone still counts.
                    None => store.shred(file_id, u32::MAX, issued_at),
                })
                .await
            }
        }
        .map_err(|_| internal("store write task"))?
        .map_err(|e| {
            tracing::error!(target: "zgvault::node::store", %file_id, error = %e, "shred failed");
            ErrorReply::new(
                ErrorCode::Internal,
                "the node could not carry out the shred: retry later",
                BUSY_RETRY_AFTER_SECS,
            )
        })?;
        if let ShredOutcome::KeptNewer { deposited_at } = outcome {
            tracing::warn!(
                target: "zgvault::node::store",
                %file_id,
                shred_issued_at = issued_at,
                deposited_at,
                "a shred older than the held deposit (a replay?) kept the newer deposit"
            );
        }
        Ok(KeyResponse::ShredAck(ShredAck {
            file_id,
            held: outcome.deleted(),
        }))
    }
}

/// `REPLAY` message of a share or key deposit received before.
pub(crate) const DEPOSIT_REPLAYED: &str = "this deposit was already received: if you did not get its answer, check the file with \
     a read; to deposit again, sign a new deposit";
/// `REPLAY` message of a shred received before.
pub(crate) const SHRED_REPLAYED: &str =
    "this shred was already received: to shred again, sign a new shred";

/// Until when an owner-signed message (deposit, shred) is remembered by the replay cache:
/// past it, its signature has expired.
pub(crate) fn owner_message_replay_until(issued_at: u64) -> u64 {
    issued_at
        .saturating_add(MAX_DEPOSIT_AGE_SECS)
        .saturating_add(CLOCK_SKEW_SECS)
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

pub(crate) fn unknown_file(file_id: B256, at_block: u64) -> ErrorReply {
    refuse(
        ErrorCode::UnknownFile,
        format!(
            "file {file_id} is not registered in the FileRegistry at block {at_block}: check the \
             file id, or sign again at a later block if it was just registered"
        ),
    )
}

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
        |s| format!("{s:?}"),
    );
    Err(refuse(
        ErrorCode::WrongScheme,
        format!(
            "file {file_id} is protected by the {name} scheme, not {wanted:?}: request it with \
             the registered scheme"
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
