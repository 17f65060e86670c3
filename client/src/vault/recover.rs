//! Getting a registered file's K back through whatever custody holds it: the threshold
//! network (bls, shamir) or the custodial vault. Used by `get`, and by `custody` to move
//! K without re-uploading. Every released K is verified before it is returned: bls and
//! shamir shares one by one by the combiner, a vault's K against the registered commitment.

use alloy::primitives::B256;
use zgvault_contracts::FileRegistry;
use zgvault_proto::FileKey;
use zgvault_proto::request::{AccessRequest, CustodialCapsule, Scheme};
use zgvault_proto::sealbox::BoxSecretKey;
use zgvault_proto::threshold::{BlsCapsule, ShamirCommitments};
use zgvault_proto::wire::ErrorCode;

use super::custodial::configured_vault;
use super::{Vault, now_secs};
use crate::error::Error;
use crate::keys::{
    AnyCombiner, FailureKind, KeyNode, RecoverOptions, node_address, recover_key, request_vault_key,
};

/// How long an access request stays valid (nodes accept at most 300 s).
pub(crate) const REQUEST_LIFETIME_SECS: u64 = 120;

/// A verified K and where it came from.
#[derive(Debug)]
pub(crate) struct RecoveredKey {
    pub(crate) key: FileKey,
    /// Key nodes whose shares were combined (empty for the vault).
    pub(crate) nodes_used: Vec<u32>,
    /// Key nodes that failed or were not needed, with what went wrong.
    pub(crate) node_failures: Vec<String>,
    /// The vault's address, when a vault released K.
    pub(crate) vault: Option<String>,
}

/// The registered scheme: the registry stores the wire's codes, so this is the wire's parser
/// with an error that names the file.
pub(crate) fn wire_scheme(file_id: B256, scheme: u8) -> Result<Scheme, Error> {
    Scheme::from_u8(scheme).map_err(|_| Error::Config {
        message: format!(
            "file {file_id} uses custody scheme {scheme}, which this zgvault does not know: \
             upgrade zgvault"
        ),
    })
}

/// Recovers the K of `file_id` (registered as `record`) for this vault's user. Refusals by
/// the gate become [`Error::AccessDenied`] with the registry's reason.
pub(crate) async fn recover_file_key(
    vault: &Vault,
    file_id: B256,
    record: &FileRegistry::FileInfo,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<RecoveredKey, Error> {
    let scheme = wire_scheme(file_id, record.scheme)?;
    let capsule_bytes = vault.capsule(file_id).await?;
    let file = vault.file_ref(file_id)?;
    let secret = BoxSecretKey::generate()?;
    let at_block = vault.head().await?;
    let request_capsule = match scheme {
        Scheme::Custodial => Vec::new(),
        _ => capsule_bytes.clone(),
    };
    let request = AccessRequest::new(
        file,
        scheme,
        secret.public_key(),
        &request_capsule,
        now_secs(),
        REQUEST_LIFETIME_SECS,
        at_block,
    )?;
    let signed = request.sign(vault.signer().credential(), request_capsule)?;

    if scheme == Scheme::Custodial {
        let capsule = CustodialCapsule::from_bytes(&capsule_bytes)?;
        let node = vault_named_by(vault, file_id, &capsule).await?;
        let url = node_address(&node);
        progress(0, 1);
        let key = match request_vault_key(&node, &signed, &secret).await {
            Ok(key) => key,
            Err(Error::VaultRefused {
                code: ErrorCode::AccessDenied,
                ..
            }) => return Err(denied(vault, file_id, record, "the custodial vault refused").await),
            Err(Error::VaultRefused {
                code: code @ (ErrorCode::Shredded | ErrorCode::UnknownFile),
                message,
                ..
            }) => {
                return Err(if code == ErrorCode::Shredded {
                    Error::Shredded {
                        file_id,
                        detail: format!("the custodial vault {url} says: {message:?}"),
                    }
                } else {
                    Error::Custody {
                        file_id,
                        message: format!(
                            "the custodial vault {url} holds no key for it ({message:?}): the \
                             owner's `zgvault put` did not finish depositing it; the owner runs \
                             the same `zgvault put` again to resume"
                        ),
                    }
                });
            }
            Err(e) => return Err(e),
        };
        if !capsule.matches(&file, &key) {
            return Err(Error::KeyMismatch {
                source_name: format!("the custodial vault {url}"),
                file_id,
            });
        }
        progress(1, 1);
        return Ok(RecoveredKey {
            key,
            nodes_used: Vec::new(),
            node_failures: Vec::new(),
            vault: Some(url),
        });
    }

    let keys = vault.key_network().await?;
    let combiner = match scheme {
        Scheme::Shamir => AnyCombiner::Shamir(
            ShamirCommitments::from_bytes(&capsule_bytes)?.combiner(keys.nodes.len()),
        ),
        _ => AnyCombiner::Bls(Box::new(keys.key_set.combiner(
            &file,
            &BlsCapsule::from_bytes(&capsule_bytes)?,
            keys.nodes.len(),
        ))),
    };
    progress(0, keys.threshold.into());
    let result = recover_key(
        &keys.nodes,
        &signed,
        &secret,
        combiner,
        RecoverOptions::default(),
    )
    .await;
    let count = |failures: &crate::keys::NodeFailures, code: ErrorCode| {
        failures
            .0
            .iter()
            .filter(|f| matches!(&f.kind, FailureKind::Refused(r) if r.code == code))
            .count()
    };
    let refused = match &result {
        Err(Error::KeyRequestRefused {
            code, nodes, asked, ..
        }) => Some((
            *code,
            format!("{} of {asked} key nodes refused", nodes.len()),
        )),
        // Some nodes down, the others refusing: honest nodes read the same chain state,
        // so one refusal is the answer the rest would give too.
        Err(Error::NotEnoughKeyShares { failures, .. }) => {
            [ErrorCode::AccessDenied, ErrorCode::Shredded]
                .into_iter()
                .find_map(|code| {
                    let n = count(failures, code);
                    (n > 0).then(|| {
                        (
                            code,
                            format!("{n} of {} key nodes refused ({failures})", keys.nodes.len()),
                        )
                    })
                })
        }
        _ => None,
    };
    match refused {
        Some((ErrorCode::AccessDenied, what)) => {
            return Err(denied(vault, file_id, record, &what).await);
        }
        Some((ErrorCode::Shredded, what)) => {
            return Err(Error::Shredded {
                file_id,
                detail: what,
            });
        }
        _ => {}
    }
    let recovered = match result {
        // Shamir: nodes that hold no share for a registered file (and no shred tombstone,
        // else they answer SHREDDED): the owner's deposits did not finish.
        Err(Error::KeyRequestRefused {
            code: ErrorCode::UnknownFile,
            nodes,
            asked,
            ..
        }) if scheme == Scheme::Shamir => {
            return Err(Error::Custody {
                file_id,
                message: format!(
                    "{} of {asked} key nodes hold no share of it: the owner's `zgvault put` did \
                     not finish depositing the shares; the owner runs the same `zgvault put` \
                     again to resume",
                    nodes.len()
                ),
            });
        }
        other => other?,
    };
    progress(keys.threshold.into(), keys.threshold.into());
    Ok(RecoveredKey {
        key: recovered.key,
        nodes_used: recovered.used.clone(),
        node_failures: recovered
            .failures
            .iter()
            .map(|f| format!("node {}: {}", f.node_index, f.kind))
            .collect(),
        vault: None,
    })
}

/// The configured vault, if it is the one the registered capsule names: a request is sent
/// to no other. Its `/v1/info` is read over HTTP; when that does not answer (or the vault is
/// known by libp2p only) the request goes out anyway, over whichever transport reaches it:
/// it carries no secret (the answer is sealed to a fresh response key) and the K released is
/// checked against the capsule's commitment.
async fn vault_named_by(
    vault: &Vault,
    file_id: B256,
    capsule: &CustodialCapsule,
) -> Result<KeyNode, Error> {
    let node = vault.custodial_vault()?;
    if node.http.is_none() {
        return Ok(node);
    }
    match configured_vault(vault).await {
        Ok((node, url)) if node.enc_key != *capsule.vault_key.as_bytes() => Err(Error::Config {
            message: format!(
                "file {file_id} is held by the custodial vault with key 0x{}, but the \
                 configured vault {url} has key 0x{}: nothing was sent to it; set `vault_url` \
                 (or pass --vault-url) to the vault that holds it",
                hex::encode(capsule.vault_key.as_bytes()),
                hex::encode(node.enc_key)
            ),
        }),
        Ok((node, _)) => Ok(node),
        Err(Error::VaultUnreachable { .. }) => Ok(node),
        Err(e) => Err(e),
    }
}

/// [`Error::AccessDenied`] with the registry's own reason.
async fn denied(
    vault: &Vault,
    file_id: B256,
    record: &FileRegistry::FileInfo,
    what: &str,
) -> Error {
    let reason = match vault.registry() {
        Ok(registry) => registry
            .accessCheck(file_id, vault.address())
            .call()
            .await
            .map(|r| r.reason)
            .unwrap_or(0),
        Err(_) => 0,
    };
    let why = if reason == 0 {
        "the registry could not be asked why"
    } else {
        zgvault_contracts::reason_text(reason)
    };
    Error::AccessDenied {
        file_id,
        user: vault.address(),
        owner: record.owner,
        reason: format!("{what}; the registry says: {why}"),
    }
}
