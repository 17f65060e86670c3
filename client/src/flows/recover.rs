//! Getting a registered file's K back through whatever custody holds it: the threshold
//! network (bls, shamir) or the custodial vault. Used by `get`, and by `custody` to move
//! K without re-uploading. Every released K is verified before it is returned: bls and
//! shamir shares one by one by the combiner, a vault's K against the registered commitment.
//! Every request is signed at a block its holders accept (`at_block.rs`), and signed again
//! deeper when they answer `NOT_CONFIRMED`.

use alloy::primitives::B256;
use zgvault_contracts::FileRegistry;
use zgvault_proto::FileKey;
use zgvault_proto::request::{AccessRequest, CustodialCapsule, Scheme};
use zgvault_proto::sealbox::BoxSecretKey;
use zgvault_proto::threshold::{BlsCapsule, ShamirCommitments};
use zgvault_proto::wire::ErrorCode;

use super::custodial::configured_vault;
use super::{FileAt, Session, at_block::BlockChooser, now_secs};
use crate::error::{Error, quoted};
use crate::keys::{
    AnyCombiner, Endpoint, FailureKind, RecoverOptions, Recovered, list_nodes, recover_key,
    request_vault_key,
};

/// How long an access request stays valid (nodes accept at most 300 s).
pub(crate) const REQUEST_LIFETIME_SECS: u64 = 120;
/// The wait assumed when a `NOT_CONFIRMED` answer's `retry_after_secs` is not at hand (the
/// nodes send `NOT_CONFIRMED_RETRY_AFTER_SECS`, 2 s: about one block).
const NOT_CONFIRMED_DEFAULT_WAIT_SECS: u32 = 2;

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
    Scheme::from_u8(scheme).map_err(|_| Error::UnknownScheme { file_id, scheme })
}

/// What a key release is doing, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyProgress {
    /// Waiting for the chain to reach block `until` (it is at `head`): the holders answer
    /// only for a block some confirmations deep, and what the request relies on is newer.
    Confirming { head: u64, until: u64 },
    /// `done` of `total` shares (or the vault's one key) in.
    Shares { done: u64, total: u64 },
}

/// Recovers the K of `at.file_id` (its record and capsule as read together at block
/// `at.block`) for this session's user. Refusals by the gate become [`Error::AccessDenied`]
/// with the registry's reason. Each request is signed at a block the holders accept
/// ([`BlockChooser`]: one where the file has that same capsule), and signed again deeper
/// when they answer `NOT_CONFIRMED`.
pub(crate) async fn recover_file_key(
    session: &Session,
    at: &FileAt,
    progress: &(dyn Fn(KeyProgress) + Sync),
) -> Result<RecoveredKey, Error> {
    let (file_id, record) = (at.file_id, &at.record);
    tracing::debug!(target: "client::keys", file = %file_id, block = at.block, "recovering the key of the file as registered at this block");
    let scheme = wire_scheme(file_id, record.scheme)?;
    let capsule_bytes = at.capsule.clone();
    let file = session.file_ref(file_id)?;
    let request_capsule = match scheme {
        Scheme::Custodial => Vec::new(),
        _ => capsule_bytes.clone(),
    };
    let waiting = |head, until| progress(KeyProgress::Confirming { head, until });
    let sign = |at_block| -> Result<_, Error> {
        let secret = BoxSecretKey::generate()?;
        let request = AccessRequest::new(
            file,
            scheme,
            secret.public_key(),
            &request_capsule,
            now_secs(),
            REQUEST_LIFETIME_SECS,
            at_block,
        )?;
        let signed = request.sign(session.signer().credential(), request_capsule.clone())?;
        Ok((signed, secret))
    };

    if scheme == Scheme::Custodial {
        let capsule = CustodialCapsule::from_bytes(&capsule_bytes)?;
        let node = vault_named_by(session, file_id, &capsule).await?;
        let url = node.to_string();
        let mut blocks = BlockChooser::new(
            session,
            file_id,
            record.scheme,
            &capsule_bytes,
            std::slice::from_ref(&node),
            "the custodial vault",
        )
        .await?;
        let released = loop {
            let at_block = blocks.choose(&waiting).await?;
            let (signed, secret) = sign(at_block)?;
            progress(KeyProgress::Shares { done: 0, total: 1 });
            match request_vault_key(session.channel(), &node, &signed, &secret).await {
                Err(Error::VaultRefused {
                    code: ErrorCode::NotConfirmed,
                    message,
                    ..
                }) => {
                    blocks
                        .not_confirmed(
                            format!("the custodial vault {url}"),
                            vec![message],
                            NOT_CONFIRMED_DEFAULT_WAIT_SECS,
                        )
                        .await?;
                }
                other => break other,
            }
        };
        let key = match released {
            Ok(key) => key,
            Err(Error::VaultRefused {
                code: ErrorCode::AccessDenied,
                ..
            }) => {
                return Err(denied(session, file_id, record, "the custodial vault refused").await);
            }
            Err(Error::VaultRefused {
                code: code @ (ErrorCode::Shredded | ErrorCode::UnknownFile),
                message,
                ..
            }) => {
                return Err(if code == ErrorCode::Shredded {
                    Error::Shredded {
                        file_id,
                        detail: format!("the custodial vault {url} says: {}", quoted(&message)),
                    }
                } else {
                    Error::Custody {
                        file_id,
                        message: format!(
                            "the custodial vault {url} holds no key for it ({}): the \
                             owner's `zgvault put` did not finish depositing it; the owner runs \
                             the same `zgvault put` again to resume",
                            quoted(&message)
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
        progress(KeyProgress::Shares { done: 1, total: 1 });
        return Ok(RecoveredKey {
            key,
            nodes_used: Vec::new(),
            node_failures: Vec::new(),
            vault: Some(url),
        });
    }

    let keys = session.key_network().await?;
    let mut blocks = BlockChooser::new(
        session,
        file_id,
        record.scheme,
        &capsule_bytes,
        &keys
            .nodes
            .iter()
            .map(|n| n.endpoint.clone())
            .collect::<Vec<_>>(),
        "the key nodes",
    )
    .await?;
    let result = loop {
        let at_block = blocks.choose(&waiting).await?;
        let (signed, secret) = sign(at_block)?;
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
        progress(KeyProgress::Shares {
            done: 0,
            total: keys.threshold.into(),
        });
        let result = recover_key(
            &keys.nodes,
            &signed,
            &secret,
            combiner,
            RecoverOptions::default(),
        )
        .await;
        match blocked_by_not_confirmed(&result) {
            Some((nodes, messages, retry_after_secs)) => {
                let noun = if nodes.len() == 1 {
                    "key node"
                } else {
                    "key nodes"
                };
                blocks
                    .not_confirmed(
                        format!("{noun} {}", list_nodes(&nodes)),
                        messages,
                        retry_after_secs,
                    )
                    .await?;
            }
            None => break result,
        }
    };
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
            return Err(denied(session, file_id, record, &what).await);
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
    progress(KeyProgress::Shares {
        done: keys.threshold.into(),
        total: keys.threshold.into(),
    });
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

/// The key nodes that answered `NOT_CONFIRMED`, what they said and the longest wait they
/// asked for, when their refusals kept `result` from getting enough shares: all nodes
/// refused so, or the shares that verified and theirs would have been enough.
fn blocked_by_not_confirmed(
    result: &Result<Recovered, Error>,
) -> Option<(Vec<u32>, Vec<String>, u32)> {
    match result {
        Err(Error::KeyRequestRefused {
            code: ErrorCode::NotConfirmed,
            nodes,
            messages,
            ..
        }) => Some((
            nodes.clone(),
            messages.clone(),
            NOT_CONFIRMED_DEFAULT_WAIT_SECS,
        )),
        Err(Error::NotEnoughKeyShares {
            good,
            needed,
            failures,
        }) => {
            let mut nodes = Vec::new();
            let mut messages: Vec<String> = Vec::new();
            let mut wait = 0;
            for failure in &failures.0 {
                if let FailureKind::Refused(r) = &failure.kind
                    && r.code == ErrorCode::NotConfirmed
                {
                    nodes.push(failure.node_index);
                    wait = wait.max(r.retry_after_secs);
                    if !messages.contains(&r.message) {
                        messages.push(r.message.clone());
                    }
                }
            }
            (!nodes.is_empty() && good + nodes.len() >= *needed).then_some((nodes, messages, wait))
        }
        _ => None,
    }
}

/// The configured vault, if it is the one the registered capsule names: a request is sent
/// to no other. Its `/v1/info` is read over HTTP; when that does not answer (or the vault is
/// known by libp2p only) the request goes out anyway, over whichever transport reaches it:
/// it carries no secret (the answer is sealed to a fresh response key) and the K released is
/// checked against the capsule's commitment.
async fn vault_named_by(
    session: &Session,
    file_id: B256,
    capsule: &CustodialCapsule,
) -> Result<Endpoint, Error> {
    let node = session.custodial_vault()?;
    if node.http.is_none() {
        return Ok(node);
    }
    match configured_vault(session).await {
        Ok((url, key)) if key != capsule.vault_key => Err(Error::WrongVault {
            file_id,
            holds: B256::from(*capsule.vault_key.as_bytes()),
            configured: Box::new(crate::error::VaultIdentity {
                url: url.to_string(),
                key: B256::from(*key.as_bytes()),
            }),
        }),
        Ok((node, _)) => Ok(node),
        Err(Error::VaultUnreachable { .. }) => Ok(node),
        Err(e) => Err(e),
    }
}

/// [`Error::AccessDenied`] with the registry's own reason.
async fn denied(
    session: &Session,
    file_id: B256,
    record: &FileRegistry::FileInfo,
    what: &str,
) -> Error {
    let reason = match session.registry() {
        Ok(registry) => registry
            .accessCheck(file_id, session.address())
            .call()
            .await
            .ok()
            .map(|r| r.reason),
        Err(_) => None,
    };
    let why = match reason {
        Some(reason) if reason != 0 => zgvault_contracts::reason_text(reason),
        _ => "the registry could not be asked why",
    };
    Error::AccessDenied {
        file_id,
        user: session.address(),
        owner: record.owner,
        reason: format!("{what}; the registry says: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::MAX_SIGNING_ROUNDS;
    use crate::keys::{NodeFailure, NodeFailures, Refusal, Transport};

    fn refused(node_index: u32, code: ErrorCode, retry_after_secs: u32) -> NodeFailure {
        NodeFailure {
            node_index,
            via: Some(Transport::Http),
            kind: FailureKind::Refused(Refusal {
                code,
                message: format!("{} from {node_index}", code.as_str_name()),
                retry_after_secs,
            }),
        }
    }

    fn short(good: usize, failures: Vec<NodeFailure>) -> Result<Recovered, Error> {
        Err(Error::NotEnoughKeyShares {
            good,
            needed: 3,
            failures: NodeFailures(failures),
        })
    }

    #[test]
    fn not_confirmed_that_kept_the_key_back_is_signed_again() {
        // Every node refused so.
        let all = Err(Error::KeyRequestRefused {
            code: ErrorCode::NotConfirmed,
            asked: 3,
            nodes: vec![0, 1, 2],
            messages: vec!["not deep".into()],
        });
        assert_eq!(
            blocked_by_not_confirmed(&all),
            Some((
                vec![0, 1, 2],
                vec!["not deep".into()],
                NOT_CONFIRMED_DEFAULT_WAIT_SECS
            ))
        );
        // Two shares verified, a third node refused NOT_CONFIRMED: it would have been enough.
        let one_lagging = short(2, vec![refused(4, ErrorCode::NotConfirmed, 2)]);
        let (nodes, messages, wait) = blocked_by_not_confirmed(&one_lagging).unwrap_or_default();
        assert_eq!((nodes, wait), (vec![4], 2));
        assert_eq!(messages, vec!["NOT_CONFIRMED from 4".to_owned()]);
    }

    #[test]
    fn fail_other_refusals_are_not_signed_again() {
        let denied = Err(Error::KeyRequestRefused {
            code: ErrorCode::AccessDenied,
            asked: 3,
            nodes: vec![0, 1, 2],
            messages: vec!["no pass".into()],
        });
        assert_eq!(blocked_by_not_confirmed(&denied), None);
        // One share, one NOT_CONFIRMED, one node down: even confirmed, two of three.
        let too_few = short(
            1,
            vec![
                refused(1, ErrorCode::NotConfirmed, 2),
                NodeFailure {
                    node_index: 2,
                    via: Some(Transport::Http),
                    kind: FailureKind::Unreachable {
                        message: "connection refused".into(),
                    },
                },
            ],
        );
        assert_eq!(blocked_by_not_confirmed(&too_few), None);
        let no_not_confirmed = short(2, vec![refused(1, ErrorCode::ChainUnavailable, 5)]);
        assert_eq!(blocked_by_not_confirmed(&no_not_confirmed), None);
    }

    #[test]
    fn waiting_errors_say_how_deep_and_when_to_retry() {
        let text = Error::NotYetConfirmed {
            file_id: B256::repeat_byte(1),
            what: "your access (a grant or policy change)",
            holders: "the key nodes",
            depth: 2,
            head: 100,
            needed: 102,
            waited_secs: 60,
            stalled: true,
            retry_secs: None,
        }
        .to_string();
        assert!(text.contains("your access"), "{text}");
        assert!(text.contains("not yet 2 blocks deep"), "{text}");
        assert!(text.contains("must reach block 102"), "{text}");
        assert!(text.contains("no new block in the last 60 s"), "{text}");
        assert!(
            text.contains("again once the chain produces blocks"),
            "{text}"
        );
        let text = Error::NotConfirmed {
            who: "key nodes 0, 1".into(),
            rounds: MAX_SIGNING_ROUNDS,
            at_block: 90,
            head: 100,
            messages: vec!["atBlock 90 has 10 confirmations, this node needs 12".into()],
        }
        .to_string();
        assert!(
            text.contains("key nodes 0, 1 still answered NOT_CONFIRMED"),
            "{text}"
        );
        assert!(text.contains("10 below this client's head 100"), "{text}");
        assert!(text.contains("set `confirmations` in the config"), "{text}");
    }
}
