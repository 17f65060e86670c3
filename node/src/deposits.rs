//! Owner-signed store changes, once admission has verified the signature and charged the
//! replay cache and the signer's bucket: Shamir share deposits (share-holders), key deposits
//! (the vault) and shreds (both). Each checks the file's record on-chain through the gate's
//! reads, then changes the [`KeyHolder`]; the answer goes out after the commit (fsync):
//! acknowledged = durable.

use alloy_primitives::{Address, keccak256};
use zgvault_proto::{
    request::{CustodialCapsule, Scheme, SignedKeyDeposit, SignedShareDeposit, SignedShred},
    threshold::ShamirShare,
    wire::{DepositAck, ErrorCode, ErrorReply, KeyResponse, ShredAck},
};

use crate::{
    custody::VaultEntry,
    gate::{Gate, check_scheme},
    holder::{Change, KeyHolder},
    keys::NodeKeys,
    reply::{internal, refuse, shredded, store_failed},
    request::RequestLog,
    store::{DepositOutcome, ShredOutcome, StoredDeposit},
};

/// A Shamir share deposit for this share-holder (index `node_index`): for a registered
/// Shamir file the signer owns, under the registered commitments, sealed to this node.
pub(crate) async fn share_deposit<H>(
    gate: &Gate,
    keys: &NodeKeys,
    holder: &H,
    node_index: Option<u32>,
    deposit: &SignedShareDeposit,
    signer: Address,
    log: &mut RequestLog,
) -> Result<KeyResponse, ErrorReply>
where
    H: KeyHolder<Deposit = StoredDeposit>,
{
    let fields = deposit.deposit();
    let file_id = fields.file.file_id;
    let node_index = node_index.ok_or_else(|| {
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
    let file = gate
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
    let (share, commitments) =
        ShamirShare::open_deposit(&keys.encryption, fields).map_err(|e| {
            refuse(
                ErrorCode::Malformed,
                format!(
                    "{e}: the share must be sealed to this node's encryption key (see \
                     /v1/info) and match the commitments"
                ),
            )
        })?;
    let change = Change::new(file_id, signer, deposit.hash(), fields.issued_at);
    let failed = "the node could not store the share: retry later";
    store(
        holder,
        change,
        StoredDeposit { share, commitments },
        log,
        failed,
    )
    .await?;
    Ok(KeyResponse::DepositAck(DepositAck {
        node_index,
        file_id,
    }))
}

/// A custodial key deposit for the vault whose encryption key is `keys.encryption`: for a
/// custodial file the signer owns, whose registered capsule names this vault and commits to
/// the deposited K, not shredded since it was signed.
pub(crate) async fn key_deposit<H>(
    gate: &Gate,
    keys: &NodeKeys,
    holder: &H,
    deposit: &SignedKeyDeposit,
    signer: Address,
    log: &mut RequestLog,
) -> Result<KeyResponse, ErrorReply>
where
    H: KeyHolder<Deposit = zgvault_proto::FileKey, Stored = VaultEntry>,
{
    let fields = deposit.deposit();
    let file_ref = fields.file;
    let file_id = file_ref.file_id;
    // One block for the record and the capsule, so they are consistent.
    let head = gate.head().await?;
    let file = gate
        .owned_file(
            file_id,
            signer,
            Some(head),
            "deposit",
            "register it, then deposit",
        )
        .await?;
    check_scheme(&file, Scheme::Custodial, file_id)?;
    let capsule_bytes = gate.capsule(file_id, head).await?.ok_or_else(|| {
        refuse(
            ErrorCode::UnknownFile,
            format!("file {file_id} is not registered: register it, then deposit"),
        )
    })?;
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
    let own = keys.encryption.public_key();
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
    let key = fields.open_key(&keys.encryption).map_err(|e| {
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
    let change = Change::new(file_id, signer, deposit.hash(), fields.issued_at);
    let failed = "the vault could not store the key: retry later";
    store(holder, change, key, log, failed).await?;
    Ok(KeyResponse::DepositAck(DepositAck {
        node_index: 0,
        file_id,
    }))
}

/// The owner's shred, in both modes: addressed to this holder's key, signed by the owner
/// of the file at the latest block; then the record is deleted, unless it was deposited
/// after the shred was signed, and the tombstone raised, in one transaction. An older shred
/// (a replay past the replay cache) keeps a newer deposit (`held = false`).
pub(crate) async fn shred<H: KeyHolder>(
    gate: &Gate,
    keys: &NodeKeys,
    holder: &H,
    shred: &SignedShred,
    signer: Address,
    log: &mut RequestLog,
) -> Result<KeyResponse, ErrorReply> {
    let fields = shred.shred();
    let file_id = fields.file.file_id;
    let own = keys.encryption.public_key();
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
    gate.owned_file(file_id, signer, None, "shred", "nothing to shred")
        .await?;
    let change = Change::new(file_id, signer, shred.hash(), fields.issued_at);
    let writer = holder.clone();
    let outcome = tokio::task::spawn_blocking(move || writer.shred(&change))
        .await
        .map_err(|_| internal("store write task"))?
        .map_err(|e| {
            tracing::error!(target: "zgvault::node::store", %file_id, error = %e, "shred failed");
            store_failed("the node could not carry out the shred: retry later")
        })?;
    log.audited = holder.audits_changes();
    if let ShredOutcome::KeptNewer { deposited_at } = outcome {
        tracing::warn!(
            target: "zgvault::node::store",
            %file_id,
            shred_issued_at = change.issued_at,
            deposited_at,
            "a shred older than the held deposit (a replay?) kept the newer deposit"
        );
    }
    Ok(KeyResponse::ShredAck(ShredAck {
        file_id,
        held: outcome.deleted(),
    }))
}

/// Stores a checked deposit off the async workers; `SHREDDED` when the file was shredded at
/// or after it was signed.
async fn store<H: KeyHolder>(
    holder: &H,
    change: Change,
    deposit: H::Deposit,
    log: &mut RequestLog,
    failed: &'static str,
) -> Result<(), ErrorReply> {
    let writer = holder.clone();
    let file_id = change.file_id;
    let outcome = tokio::task::spawn_blocking(move || writer.put_unless_shredded(&change, deposit))
        .await
        .map_err(|_| internal("store write task"))?
        .map_err(|e| {
            tracing::error!(target: "zgvault::node::store", %file_id, error = %e, "storing a deposit failed");
            store_failed(failed)
        })?;
    if let DepositOutcome::Shredded { at } = outcome {
        return Err(shredded(file_id, change.issued_at, at));
    }
    log.audited = holder.audits_changes();
    Ok(())
}
