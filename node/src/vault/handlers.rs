//! The vault's side of the gate: key deposits, the release of K, and the audit line of every
//! decision. The access checks themselves are `gate.rs`'s, shared with share-holder nodes.
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

use alloy_primitives::{B256, keccak256};
use zgvault_proto::{
    request::{CustodialCapsule, SignedAccessRequest, SignedKeyDeposit},
    sealbox::BoxPublicKey,
    wire::{DepositAck, ErrorCode, ErrorReply, KeyRequest, KeyResponse, SealedShare},
};

use super::{REFUSAL_AUDIT_LINES_PER_SEC, Vault};
use crate::{
    chain::FileRecord,
    custody::{AuditAction, AuditDecision, AuditRecord},
    gate::{DEPOSIT_REPLAYED, check_scheme, internal, not_a_vault, refuse, shredded},
    service::{BUSY_RETRY_AFTER_SECS, KeyService, RequestLog, unix_now},
    store::DepositOutcome,
};
use zgvault_proto::request::Scheme;

impl KeyService {
    fn vault_or_refuse(&self) -> Result<&Arc<Vault>, ErrorReply> {
        self.inner.vault.as_ref().ok_or_else(not_a_vault)
    }

    /// The vault's public encryption key: what a custodial capsule must name.
    fn vault_key(&self) -> BoxPublicKey {
        self.inner.keys.encryption.public_key()
    }

    /// After the gate admitted `request` for a custodial `file`: K from the store, checked
    /// against the registered capsule, sealed to the requester.
    pub(crate) async fn release_custodial(
        &self,
        request: &SignedAccessRequest,
        file: &FileRecord,
    ) -> Result<KeyResponse, ErrorReply> {
        let vault = self.vault_or_refuse()?;
        let file_ref = request.request().file;
        let file_id = file_ref.file_id;
        let store = vault.store().clone();
        let (entry, shredded_at) =
            tokio::task::spawn_blocking(move || Ok::<_, crate::Error>((store.entry(file_id)?, store.shredded_at(file_id)?)))
                .await
                .map_err(|_| internal("vault read task"))?
                .map_err(|e| {
                    tracing::error!(target: "zgvault::node::vault", %file_id, error = %e, "vault record unusable: nothing released");
                    internal("the key held for this file cannot be opened; the operator is alerted")
                })?;
        let entry = entry.ok_or_else(|| match shredded_at {
            Some(at) => refuse(
                ErrorCode::Shredded,
                format!(
                    "the owner shredded the key of file {file_id} here (shred signed at {at}): \
                     the vault holds nothing for it"
                ),
            ),
            None => refuse(
                ErrorCode::UnknownFile,
                format!(
                    "the vault holds no key for file {file_id}: the owner has not deposited it \
                     here (if you are the owner, run `zgvault put` again to resume)"
                ),
            ),
        })?;
        // The stored K must rebuild the capsule registered at atBlock: a record that opens
        // but is not the file's key (restored from the wrong backup, re-registered capsule)
        // is never released.
        let expected = CustodialCapsule::new(&file_ref, self.vault_key(), &entry.key).hash();
        if expected != file.capsule_hash {
            tracing::error!(target: "zgvault::node::vault", %file_id, "stored key does not match the registered capsule: nothing released");
            return Err(internal(
                "the key held for this file does not match its registered capsule: nothing was \
                 released; the owner must deposit the key of the current capsule",
            ));
        }
        let sealed = SealedShare::seal(0, request, entry.key.as_bytes())
            .map_err(|e| ErrorReply::from_error(&e))?;
        Ok(KeyResponse::Key(sealed))
    }

    /// A custodial key deposit: owner-signed, for a custodial file whose registered capsule
    /// names this vault and commits to the deposited K, not shredded since it was signed.
    pub(crate) async fn key_deposit(
        &self,
        deposit: &SignedKeyDeposit,
        log: &mut RequestLog,
    ) -> Result<KeyResponse, ErrorReply> {
        let inner = &self.inner;
        let fields = deposit.deposit();
        let file_ref = fields.file;
        let file_id = file_ref.file_id;
        let signer = self.admit_owner_message(
            deposit.hash(),
            file_id,
            fields.issued_at,
            deposit.verify(&inner.domain, unix_now()),
            log,
            DEPOSIT_REPLAYED,
        )?;
        let vault = self.vault_or_refuse()?;

        // One block for the record and the capsule, so they are consistent.
        let head = self
            .chain_call("eth_blockNumber", inner.chain.head())
            .await?;
        let file = self
            .owned_file(
                file_id,
                signer,
                Some(head),
                "deposit",
                "register it, then deposit",
            )
            .await?;
        let not_registered = || {
            refuse(
                ErrorCode::UnknownFile,
                format!("file {file_id} is not registered: register it, then deposit"),
            )
        };
        check_scheme(&file, Scheme::Custodial, file_id)?;
        let capsule_bytes = self
            .chain_call(
                "FileRegistry.capsuleOf",
                inner.chain.capsule(file_id, Some(head)),
            )
            .await?
            .ok_or_else(not_registered)?;
        if keccak256(&capsule_bytes) != file.capsule_hash {
            return Err(internal("the registry's capsule and capsuleHash disagree"));
        }
        let capsule = CustodialCapsule::from_bytes(&capsule_bytes).map_err(|e| {
            refuse(
                ErrorCode::CapsuleMismatch,
                format!(
                    "{e}: file {file_id} is registered as custodial but its capsule is not \
                     vaultKey (32) ‖ keyCommitment (32); register a custodial capsule"
                ),
            )
        })?;
        let own = self.vault_key();
        if capsule.vault_key != own {
            return Err(refuse(
                ErrorCode::WrongDomain,
                format!(
                    "file {file_id}'s registered capsule names vault key 0x{}, but this vault's \
                     key is 0x{} (see /v1/info): deposit with the vault the capsule names, or \
                     register a capsule naming this vault",
                    hex::encode(capsule.vault_key.as_bytes()),
                    hex::encode(own.as_bytes())
                ),
            ));
        }
        let key = fields.open_key(&inner.keys.encryption).map_err(|e| {
            refuse(
                ErrorCode::Malformed,
                format!("{e}: seal K to this vault's encryption key (see /v1/info) for this file"),
            )
        })?;
        if !capsule.matches(&file_ref, &key) {
            return Err(refuse(
                ErrorCode::CapsuleMismatch,
                format!(
                    "the deposited key is not the one file {file_id}'s registered capsule \
                     commits to: deposit the file's own K (or register its capsule)"
                ),
            ));
        }
        let writer = Arc::clone(vault);
        let issued_at = fields.issued_at;
        let hash = deposit.hash();
        // Acknowledged = durable: the ack goes out after the commit (fsync). The audit line is
        // written in the same blocking step, right after the commit, so a cancelled request
        // cannot leave a stored key unrecorded; if it cannot be written the answer is still
        // the truth (stored), and /health reports the audit log down.
        let outcome = tokio::task::spawn_blocking(move || {
            let outcome = writer
                .store()
                .put_unless_shredded(file_id, &key, signer, issued_at)?;
            if outcome == DepositOutcome::Stored {
                writer.record_store_change(AuditAction::Deposit, signer, file_id, hash, None);
            }
            Ok::<_, crate::Error>(outcome)
        })
        .await
        .map_err(|_| internal("vault write task"))?
        .map_err(|e| {
            tracing::error!(target: "zgvault::node::vault", %file_id, error = %e, "storing a key failed");
            ErrorReply::new(
                ErrorCode::Internal,
                "the vault could not store the key: retry later",
                BUSY_RETRY_AFTER_SECS,
            )
        })?;
        if let DepositOutcome::Shredded { at } = outcome {
            return Err(shredded(file_id, issued_at, at));
        }
        log.audited = true;
        Ok(KeyResponse::DepositAck(DepositAck {
            node_index: 0,
            file_id,
        }))
    }

    /// Writes the audit line of a decision whose signer is known, then lets the answer go;
    /// if the line cannot be written, the answer becomes `INTERNAL` (nothing released). A
    /// refusal over the refusal-line rate is only counted.
    pub(crate) async fn audited(
        &self,
        vault: &Arc<Vault>,
        request: &KeyRequest,
        log: &RequestLog,
        response: Result<KeyResponse, ErrorReply>,
    ) -> Result<KeyResponse, ErrorReply> {
        let Some(requester) = log.requester else {
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
            file_id: log.file_id.unwrap_or(B256::ZERO),
            decision,
            request_hash: log.hash.unwrap_or(B256::ZERO),
            note,
        };
        let writer = Arc::clone(vault);
        let written = tokio::task::spawn_blocking(move || writer.record(&record)).await;
        match written {
            Ok(Ok(_)) => response,
            _ => {
                vault.refusal_line_failed(pending);
                // The request may be retried as is once the log works again.
                self.disarm(log);
                Err(ErrorReply::new(
                    ErrorCode::Internal,
                    "the vault could not write its audit log, so it releases nothing: retry \
                     later (the operator is alerted by /health)",
                    BUSY_RETRY_AFTER_SECS,
                ))
            }
        }
    }
}
