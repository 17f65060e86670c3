//! What an [`Admitted`] access request gets: the node's BLS partial for the requested file,
//! its Shamir share, or (the vault) K, each sealed to the requester's response key with
//! `requestHash ‖ nodeIndex` as associated data.

use std::sync::Arc;

use zgvault_proto::{
    request::{CustodialCapsule, SignedAccessRequest},
    sealbox::BoxPublicKey,
    threshold::{BlsCapsule, BlsSecretShare},
    wire::{ErrorCode, ErrorReply, KeyResponse, SealedShare},
};

use crate::{
    custody::VaultEntry,
    gate::Admitted,
    holder::{Held, KeyHolder},
    reply::{internal, refuse},
    store::StoredDeposit,
};

/// BLS: the node's signature share on the label of the *requested* file.
pub(crate) async fn bls(
    share: Option<&Arc<BlsSecretShare>>,
    node_index: Option<u32>,
    request: &SignedAccessRequest,
    admitted: &Admitted,
) -> Result<KeyResponse, ErrorReply> {
    let share = share.map(Arc::clone).ok_or_else(|| {
        refuse(
            ErrorCode::UnknownFile,
            "this node holds no BLS key share (not in the current key set): ask other nodes",
        )
    })?;
    let file = admitted.file;
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
            format!(
                "{e} (the capsule registered for this file is not a BLS capsule this node serves)"
            ),
        )
    })?;
    let node_index = node_index.ok_or_else(|| internal("BLS share without a node index"))?;
    let sealed = SealedShare::seal(node_index, request, partial.to_bytes().as_slice())
        .map_err(|e| ErrorReply::from_error(&e))?;
    Ok(KeyResponse::Partial(sealed))
}

/// Shamir: the stored share, whose commitments must hash to the registered `capsuleHash`.
pub(crate) async fn shamir<H>(
    holder: &H,
    node_index: Option<u32>,
    request: &SignedAccessRequest,
    admitted: &Admitted,
) -> Result<KeyResponse, ErrorReply>
where
    H: KeyHolder<Stored = StoredDeposit>,
{
    let file_id = admitted.file.file_id;
    let node_index = node_index.ok_or_else(|| {
        refuse(
            ErrorCode::UnknownFile,
            "this node has no index in the key set and holds no shares: ask other nodes",
        )
    })?;
    let stored = match fetch(holder, file_id, "share store read").await? {
        Held::Present(stored) => stored,
        Held::Shredded { at } => {
            return Err(refuse(
                ErrorCode::Shredded,
                format!(
                    "the owner shredded node {node_index}'s share of file {file_id} (shred \
                     signed at {at}): this node holds nothing for it"
                ),
            ));
        }
        Held::Absent => {
            return Err(refuse(
                ErrorCode::UnknownFile,
                format!(
                    "node {node_index} holds no share for file {file_id}: the owner has not \
                     deposited one here (if you are the owner, run `zgvault put` again to \
                     resume)"
                ),
            ));
        }
    };
    if stored.commitments.hash() != admitted.record.capsule_hash {
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

/// Custodial (the vault): K from the store, which must rebuild the capsule registered at
/// `atBlock` with `vault_key` (this vault's encryption key).
pub(crate) async fn custodial<H>(
    holder: &H,
    vault_key: BoxPublicKey,
    request: &SignedAccessRequest,
    admitted: &Admitted,
) -> Result<KeyResponse, ErrorReply>
where
    H: KeyHolder<Stored = VaultEntry>,
{
    let file_id = admitted.file.file_id;
    let entry = match fetch(
        holder,
        file_id,
        "the key held for this file cannot be opened; the operator is alerted",
    )
    .await?
    {
        Held::Present(entry) => entry,
        Held::Shredded { at } => {
            return Err(refuse(
                ErrorCode::Shredded,
                format!(
                    "the owner shredded the key of file {file_id} here (shred signed at {at}): \
                     the vault holds nothing for it"
                ),
            ));
        }
        Held::Absent => {
            return Err(refuse(
                ErrorCode::UnknownFile,
                format!(
                    "the vault holds no key for file {file_id}: the owner has not deposited it \
                     here (if you are the owner, run `zgvault put` again to resume)"
                ),
            ));
        }
    };
    // The stored K must rebuild the capsule registered at atBlock: a record that opens
    // but is not the file's key (restored from the wrong backup, re-registered capsule)
    // is never released.
    let expected = CustodialCapsule::new(&admitted.file, vault_key, &entry.key).hash();
    if expected != admitted.record.capsule_hash {
        tracing::error!(target: "zgvault::node::vault", %file_id, requester = %admitted.requester, "stored key does not match the registered capsule: nothing released");
        return Err(internal(
            "the key held for this file does not match its registered capsule: nothing was \
             released; the owner must deposit the key of the current capsule",
        ));
    }
    let sealed = SealedShare::seal(0, request, entry.key.as_bytes())
        .map_err(|e| ErrorReply::from_error(&e))?;
    Ok(KeyResponse::Key(sealed))
}

/// The holder's record of `file_id`, read off the async workers; a failure is logged and
/// refused as `INTERNAL` (`what` says what failed), nothing released.
async fn fetch<H: KeyHolder>(
    holder: &H,
    file_id: alloy_primitives::B256,
    what: &str,
) -> Result<Held<H::Stored>, ErrorReply> {
    let reader = holder.clone();
    tokio::task::spawn_blocking(move || reader.fetch(file_id))
        .await
        .map_err(|_| internal("store read task"))?
        .map_err(|e| {
            tracing::error!(target: "zgvault::node::store", %file_id, error = %e, "reading a held record failed: nothing released");
            internal(what)
        })
}
