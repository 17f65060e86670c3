//! `shred`: the owner asks everyone who holds key material for a file to delete it: every
//! share-holder node (Shamir) or the custodial vault. Each answers whether it held
//! something, and from then on refuses older deposits for the file. Copies of K already
//! released stay released, and the ciphertext on 0G stays (unreadable without K).

use alloy::primitives::B256;
use serde::Serialize;
use tokio::task::JoinSet;
use zgvault_proto::{
    request::{Scheme, Shred},
    sealbox::BoxPublicKey,
};

use super::recover::wire_scheme;
use super::{Vault, now_secs, put::vault_encryption_key};
use crate::error::Error;
use crate::keys::{FailureKind, KeyNode, node_address, send_shred};

/// Said with every shred: what it does not undo.
pub const SHRED_NOTE: &str = "copies of the key already released to readers stay released, \
                              and the ciphertext on 0G remains (unreadable without the key)";

/// What one holder said to a shred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShredOutcome {
    /// `vault`, or `node N` (0-based index).
    pub holder: String,
    /// Its HTTP URL or libp2p address.
    pub address: String,
    /// `held` (it had key material and deleted it), `not held`, `unreachable` or `refused`.
    pub outcome: &'static str,
    /// What went wrong, for `unreachable` and `refused`.
    pub detail: Option<String>,
}

impl ShredOutcome {
    /// The holder answered (held or not): nothing of the file is left there.
    pub fn done(&self) -> bool {
        matches!(self.outcome, "held" | "not held")
    }
}

/// What `shred` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShredReport {
    pub file_id: B256,
    /// The custody scheme shredded: `shamir` or `custodial`.
    pub scheme: &'static str,
    pub holders: Vec<ShredOutcome>,
    /// Every holder answered.
    pub complete: bool,
    pub note: &'static str,
}

/// Shreds the key material of `file_id` (owner only) in its current custody.
pub async fn shred(vault: &Vault, file_id: B256) -> Result<ShredReport, Error> {
    let record = vault.record(file_id).await?;
    if record.owner != vault.address() {
        return Err(Error::NotOwner {
            file_id,
            owner: record.owner,
            user: vault.address(),
            action: "shred it",
        });
    }
    let scheme = wire_scheme(file_id, record.scheme)?;
    let holders = match scheme {
        Scheme::Shamir => shamir_holders(vault).await?,
        Scheme::Custodial => vec![vault_holder(vault).await?],
        Scheme::Bls => {
            return Err(Error::Custody {
                file_id,
                message: "threshold (bls) custody keeps nothing per file on the nodes to shred: \
                          K is in the registered capsule, encrypted to the network's key. Move \
                          it to custodial custody (`zgvault custody FILE_ID --to custodial`) \
                          and shred it there, or close the gate (`zgvault policy FILE_ID \
                          --owner-only`)"
                    .into(),
            });
        }
    };
    let outcomes = shred_at(vault, file_id, &holders).await?;
    Ok(ShredReport {
        file_id,
        scheme: scheme.name(),
        complete: outcomes.iter().all(ShredOutcome::done),
        holders: outcomes,
        note: SHRED_NOTE,
    })
}

/// Every share-holder node of the current key network, labelled.
pub(crate) async fn shamir_holders(vault: &Vault) -> Result<Vec<(String, KeyNode)>, Error> {
    let keys = vault.key_network().await?;
    Ok(keys
        .nodes
        .into_iter()
        .map(|n| (format!("node {}", n.index), n))
        .collect())
}

/// The custodial vault, labelled, with its encryption key (shreds are addressed to it).
pub(crate) async fn vault_holder(vault: &Vault) -> Result<(String, KeyNode), Error> {
    let mut node = vault.custodial_vault()?;
    node.enc_key = *vault_encryption_key(vault).await?.as_bytes();
    Ok(("vault".to_owned(), node))
}

/// Sends one owner-signed shred of `file_id` to every holder at once.
pub(crate) async fn shred_at(
    vault: &Vault,
    file_id: B256,
    holders: &[(String, KeyNode)],
) -> Result<Vec<ShredOutcome>, Error> {
    let file = vault.file_ref(file_id)?;
    let issued_at = now_secs();
    let mut tasks = JoinSet::new();
    for (i, (_, node)) in holders.iter().enumerate() {
        // One shred per holder, addressed to its key: it cannot be replayed to another.
        let shred = Shred {
            file,
            holder: BoxPublicKey::from_bytes(node.enc_key),
            issued_at,
        }
        .sign(vault.signer().credential())?;
        let node = node.clone();
        tasks.spawn(async move { (i, send_shred(&node, shred).await) });
    }
    let mut answers = Vec::with_capacity(holders.len());
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.map_err(|_| Error::Internal { what: "shred task" })?);
    }
    answers.sort_by_key(|(i, _)| *i);
    Ok(answers
        .into_iter()
        .filter_map(|(i, answer)| {
            let (label, node) = holders.get(i)?;
            let (outcome, detail) = match answer {
                Ok(ack) if ack.file_id != file_id => (
                    "refused",
                    Some(format!("acknowledged another file {}", ack.file_id)),
                ),
                Ok(ack) if ack.held => ("held", None),
                Ok(_) => ("not held", None),
                Err(kind @ FailureKind::Refused(_)) => ("refused", Some(kind.to_string())),
                Err(kind) => ("unreachable", Some(kind.to_string())),
            };
            Some(ShredOutcome {
                holder: label.clone(),
                address: node_address(node),
                outcome,
                detail,
            })
        })
        .collect())
}
