//! The vault's audit around its key store: [`AuditedVault`] is the vault's [`KeyHolder`] (the
//! `VaultStore`, with the audit line of every store change written right after its commit),
//! and [`audit_decision`] writes the line of every other decision before its answer leaves.
//!
//! Audit policy: every release, stored key and shred gets one line, written and fsync'd
//! before the answer leaves; a release whose line cannot be written is refused (`INTERNAL`),
//! so nothing leaves unaudited. A store change (a key stored, a shred carried out) is audited
//! in the blocking step of its commit; if that line cannot be written the answer still tells
//! the truth (the change happened), the failure is logged at error and `/health` reports
//! `audit_ok: false`. A refusal of a message whose signer is known (its signature verified)
//! gets its line too, up to [`REFUSAL_AUDIT_BURST`](super::REFUSAL_AUDIT_BURST) at once and
//! [`REFUSAL_AUDIT_LINES_PER_SEC`] after: signers are free, so a flood of refused messages
//! from fresh keys must not become a flood of fsyncs that releases queue behind (or a log
//! that fills the disk). Refusals over that rate are counted
//! (`zgvault_node_audit_refusals_unrecorded_total`) and the next refusal line says how many
//! were not written before it. Messages refused before a signer is known (origin rate limit,
//! concurrency cap, too large, undecodable, bad or expired signature) get no line: they carry
//! no identity worth recording. They are counted in `zgvault_node_requests_total` and logged
//! at debug/info.

use std::sync::Arc;

use alloy_primitives::B256;
use zgvault_proto::{
    FileKey,
    wire::{ErrorCode, ErrorReply, KeyRequest, KeyResponse},
};

use super::{REFUSAL_AUDIT_LINES_PER_SEC, Vault};
use crate::{
    custody::{AuditAction, AuditDecision, AuditRecord, VaultEntry},
    error::Result,
    holder::{Change, Held, KeyHolder},
    reply::BUSY_RETRY_AFTER_SECS,
    request::RequestLog,
    store::{DepositOutcome, ShredOutcome},
};

/// The vault's key store with its audit wrapped around it: a stored key and a shred get their
/// line in the same blocking step as their commit, so a cancelled request cannot leave a
/// change unrecorded.
#[derive(Clone, Debug)]
pub(crate) struct AuditedVault(pub(crate) Arc<Vault>);

impl KeyHolder for AuditedVault {
    type Deposit = FileKey;
    type Stored = VaultEntry;

    fn fetch(&self, file_id: B256) -> Result<Held<VaultEntry>> {
        self.0.store().fetch(file_id)
    }

    fn put_unless_shredded(&self, change: &Change, key: FileKey) -> Result<DepositOutcome> {
        let outcome = KeyHolder::put_unless_shredded(self.0.store(), change, key)?;
        if outcome == DepositOutcome::Stored {
            self.0
                .record_store_change(AuditAction::Deposit, change, None);
        }
        Ok(outcome)
    }

    fn shred(&self, change: &Change) -> Result<ShredOutcome> {
        let outcome = KeyHolder::shred(self.0.store(), change)?;
        let note = match outcome {
            ShredOutcome::KeptNewer { deposited_at } => Some(format!(
                "older than the key held (deposited at {deposited_at}): key kept"
            )),
            ShredOutcome::Deleted | ShredOutcome::NotHeld => None,
        };
        self.0.record_store_change(AuditAction::Shred, change, note);
        Ok(outcome)
    }

    fn audits_changes(&self) -> bool {
        true
    }
}

/// Writes the audit line of a decision whose signer is known, then lets the answer go; if
/// the line cannot be written, the answer becomes `INTERNAL` (nothing released; the caller
/// forgets the request's replay entry, so it may be sent again). A refusal over the
/// refusal-line rate is only counted; a store change [`AuditedVault`] already audited is not
/// written twice.
pub(crate) async fn audit_decision(
    vault: &Arc<Vault>,
    request: &KeyRequest,
    log: &RequestLog,
    response: Result<KeyResponse, ErrorReply>,
) -> Result<KeyResponse, ErrorReply> {
    // A signer is known only once the message's hash and file are: nothing else to record.
    let (Some(requester), Some(file_id), Some(request_hash)) =
        (log.requester, log.file_id, log.hash)
    else {
        return response;
    };
    if log.audited {
        // Written right after the store change it records.
        return response;
    }
    let action = match request {
        KeyRequest::Access(_) => AuditAction::Release,
        KeyRequest::Deposit(_) | KeyRequest::KeyDeposit(_) => AuditAction::Deposit,
        KeyRequest::Shred(_) => AuditAction::Shred,
    };
    let (decision, pending) = match &response {
        Ok(_) => (AuditDecision::Allowed, 0),
        Err(reply) => {
            let Some(pending) = vault.refusal_line() else {
                return response;
            };
            let code = reply.code.as_str_name().to_owned();
            (AuditDecision::Refused { code }, pending)
        }
    };
    let note = (pending > 0).then(|| {
        format!(
            "{pending} refusals before this line were not written one by one (over \
             {REFUSAL_AUDIT_LINES_PER_SEC} a second)"
        )
    });
    let record = AuditRecord {
        action,
        requester,
        file_id,
        decision,
        request_hash,
        note,
    };
    let writer = Arc::clone(vault);
    let written = tokio::task::spawn_blocking(move || writer.record(&record)).await;
    match written {
        Ok(Ok(_)) => response,
        _ => {
            vault.refusal_line_failed(pending);
            Err(ErrorReply::new(
                ErrorCode::Internal,
                "the vault could not write its audit log, so it releases nothing: retry \
                 later (the operator is alerted by /health)",
                BUSY_RETRY_AFTER_SECS,
            ))
        }
    }
}
