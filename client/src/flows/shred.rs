//! `shred`: the owner asks everyone who holds key material for a file to delete it: every
//! share-holder node (Shamir) or the custodial vault. Each answers whether it held
//! something, and from then on refuses older deposits for the file. Copies of K already
//! released stay released, and the ciphertext on 0G stays (unreadable without K).

use std::path::PathBuf;

use alloy::primitives::B256;
use serde::Serialize;
use tokio::task::JoinSet;
use zgvault_proto::{
    request::{Scheme, Shred},
    sealbox::BoxPublicKey,
    wire::ErrorCode,
};

use super::custodial::configured_vault;
use super::pending::LocalState;
use super::recover::wire_scheme;
use super::{Session, now_secs};
use crate::error::Error;
use crate::keys::{Endpoint, FailureKind, send_shred};

/// How long to wait before signing a shred again after a `REPLAY` refusal: past the next
/// whole second of `issuedAt`.
const REPLAY_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(1100);

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
    /// This user's unfinished `put` / `custody` state for the file, deleted after the shred
    /// (a resumed put or move would otherwise deposit K again).
    pub local_state_removed: Vec<PathBuf>,
    pub note: &'static str,
}

/// Shreds the key material of `file_id` (owner only) in its current custody.
pub async fn shred(session: &Session, file_id: B256) -> Result<ShredReport, Error> {
    let at = session.file_at_head(file_id).await?;
    let record = &at.record;
    if record.owner != session.address() {
        return Err(Error::NotOwner {
            file_id,
            owner: record.owner,
            user: session.address(),
            action: "shred it",
        });
    }
    let scheme = wire_scheme(file_id, record.scheme)?;
    // No put or move of this file may run meanwhile, nor resume afterwards: either could
    // deposit K again after the shred.
    let local = LocalState::take(session, file_id)?;
    let holders = match scheme {
        Scheme::Shamir => shamir_holders(session).await?,
        Scheme::Custodial => {
            let capsule = zgvault_proto::request::CustodialCapsule::from_bytes(&at.capsule)?;
            vec![vault_holder_of(session, file_id, &capsule.vault_key).await?]
        }
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
    let outcomes = shred_at(session, file_id, &holders).await?;
    let complete = outcomes.iter().all(ShredOutcome::done);
    let local_state_removed = if complete {
        local.remove()?
    } else {
        Vec::new()
    };
    Ok(ShredReport {
        file_id,
        scheme: scheme.name(),
        complete,
        holders: outcomes,
        local_state_removed,
        note: SHRED_NOTE,
    })
}

/// One holder of key material for a file, as a shred addresses it.
pub(crate) struct Holder {
    /// `vault` or `node N`, for the report.
    label: String,
    endpoint: Endpoint,
    /// Its encryption key: the shred is addressed to it.
    key: BoxPublicKey,
}

/// Every share-holder node of the current key network, labelled.
pub(crate) async fn shamir_holders(session: &Session) -> Result<Vec<Holder>, Error> {
    let keys = session.key_network().await?;
    Ok(keys
        .nodes
        .into_iter()
        .map(|n| Holder {
            label: format!("node {}", n.index),
            endpoint: n.endpoint,
            key: BoxPublicKey::from_bytes(n.enc_key),
        })
        .collect())
}

/// The configured custodial vault, labelled, with its encryption key (shreds are addressed
/// to it), if it is the vault with key `holds` (the one a registered capsule names);
/// otherwise an error naming the vault that holds K, and nothing is sent.
pub(crate) async fn vault_holder_of(
    session: &Session,
    file_id: B256,
    holds: &BoxPublicKey,
) -> Result<Holder, Error> {
    // A shred carries no secret and is addressed to `holds`: the vault need not be one new
    // keys may go to (a retired vault still shreds what it holds), only the one named.
    let (node, configured) = configured_vault(session).await?;
    if configured != *holds {
        return Err(Error::Custody {
            file_id,
            message: format!(
                "its key is held by the custodial vault with key 0x{}, but the configured vault \
                 {} has key 0x{}: nothing was shredded there; set `vault_url` (or pass \
                 --vault-url) to the vault that holds it and run this again",
                hex::encode(holds.as_bytes()),
                node,
                hex::encode(configured.as_bytes())
            ),
        });
    }
    Ok(Holder {
        label: "vault".to_owned(),
        endpoint: node,
        key: configured,
    })
}

/// Sends one owner-signed shred of `file_id` to every holder at once.
pub(crate) async fn shred_at(
    session: &Session,
    file_id: B256,
    holders: &[Holder],
) -> Result<Vec<ShredOutcome>, Error> {
    let file = session.file_ref(file_id)?;
    let mut tasks = JoinSet::new();
    for (i, node) in holders.iter().enumerate() {
        // One shred per holder, addressed to its key: it cannot be replayed to another.
        let sign = {
            let signer = session.signer().clone();
            let holder = node.key;
            move || {
                Shred {
                    file,
                    holder,
                    issued_at: now_secs(),
                }
                .sign(signer.credential())
            }
        };
        let first = sign()?;
        let (node, channel) = (node.endpoint.clone(), session.channel().clone());
        tasks.spawn(async move {
            let mut answer = send_shred(&channel, &node, first).await;
            // A shred signed in the same second as an earlier one (shredding twice in a
            // row) is the same message, refused as a replay: sign a newer one.
            if matches!(&answer, Err(FailureKind::Refused(r)) if r.code == ErrorCode::Replay) {
                tokio::time::sleep(REPLAY_RETRY_WAIT).await;
                answer = match sign() {
                    Ok(shred) => send_shred(&channel, &node, shred).await,
                    Err(e) => Err(FailureKind::Malformed {
                        message: e.to_string(),
                    }),
                };
            }
            (i, answer)
        });
    }
    let mut answers = Vec::with_capacity(holders.len());
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.map_err(|_| Error::Internal { what: "shred task" })?);
    }
    answers.sort_by_key(|(i, _)| *i);
    Ok(answers
        .into_iter()
        .filter_map(|(i, answer)| {
            let holder = holders.get(i)?;
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
                holder: holder.label.clone(),
                address: holder.endpoint.to_string(),
                outcome,
                detail,
            })
        })
        .collect())
}
