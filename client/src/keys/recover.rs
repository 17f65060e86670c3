//! The fan-out: one request to every node at once, answers verified as they arrive, the
//! rest cancelled once enough are good.

use tokio::{task::JoinSet, time::Instant};
use zeroize::Zeroizing;
use zgvault_proto::{
    FileKey,
    request::SignedAccessRequest,
    sealbox::BoxSecretKey,
    threshold::CulpritReason,
    wire::{KeyRequest, KeyResponse},
};

use super::{
    Channel, Combiner, FailureKind, KeyNode, MAX_KEY_NODES, NodeFailure, NodeFailures,
    RecoverOptions,
};
use crate::error::Error;

/// A recovered file key, with the nodes that failed along the way.
#[derive(Debug)]
pub struct Recovered {
    /// K.
    pub key: FileKey,
    /// The nodes whose shares were combined.
    pub used: Vec<u32>,
    /// Nodes that answered badly or not at all before enough good shares were in; nodes
    /// still in flight then are not listed (their requests were cancelled).
    pub failures: Vec<NodeFailure>,
}

/// Asks every node in `nodes` for its share of the key `request` is about, verifies each
/// answer with `combiner` as it arrives and recovers K from the first good ones.
///
/// Each node gets `opts.per_node_timeout`; the whole recovery `opts.overall_timeout`.
/// Requests still in flight once enough shares verified are cancelled. On failure the
/// error names every node and what it did: refusals with the node's code and message
/// ([`Error::KeyRequestRefused`] when all nodes refused alike), unreachable, timed out,
/// bad or unsealable shares ([`Error::NotEnoughKeyShares`]).
pub async fn recover_key<C: Combiner>(
    nodes: &[KeyNode],
    request: &SignedAccessRequest,
    response_secret: &BoxSecretKey,
    combiner: C,
    opts: RecoverOptions,
) -> Result<Recovered, Error> {
    if nodes.is_empty() || nodes.len() > MAX_KEY_NODES {
        return Err(Error::KeyNodeCount {
            count: nodes.len(),
            max: MAX_KEY_NODES,
        });
    }
    let asked = KeyRequest::Access(request.clone());
    let request_hash = request.hash();
    let channel = Channel::new(opts.into())?;

    let mut combiner = combiner;
    let mut failures = Vec::new();
    let mut in_flight = JoinSet::new();
    let mut waiting = Vec::new();
    for node in nodes {
        let Some(via) = node.endpoint.transport(opts.prefer) else {
            combiner.report(node.index, CulpritReason::Unreachable);
            failures.push(NodeFailure {
                node_index: node.index,
                via: None,
                kind: FailureKind::NoTransport,
            });
            continue;
        };
        waiting.push((node.index, via));
        let (index, endpoint) = (node.index, node.endpoint.clone());
        let (channel, asked) = (channel.clone(), asked.clone());
        in_flight.spawn(async move {
            let (answered_via, answer) = channel.ask(&endpoint, &asked).await;
            (index, answered_via.unwrap_or(via), answer)
        });
    }

    let deadline = Instant::now() + opts.overall_timeout;
    while !combiner.is_ready() {
        let joined = match tokio::time::timeout_at(deadline, in_flight.join_next()).await {
            Ok(Some(joined)) => joined,
            Ok(None) => break,
            Err(_) => {
                for (index, via) in waiting.drain(..) {
                    combiner.report(index, CulpritReason::Unreachable);
                    failures.push(NodeFailure {
                        node_index: index,
                        via: Some(via),
                        kind: FailureKind::TimedOut {
                            after: opts.overall_timeout,
                        },
                    });
                }
                break;
            }
        };
        let (index, via, answer) = joined.map_err(|_| Error::Internal {
            what: "key request task",
        })?;
        waiting.retain(|(i, _)| *i != index);
        let outcome = match answer
            .and_then(|response| open_answer(response, index, response_secret, &request_hash))
        {
            Ok(share) => {
                let (back, added) = verify(combiner, index, share).await?;
                combiner = back;
                added.map_err(FailureKind::BadShare)
            }
            Err(kind) => {
                combiner.report(index, kind.culprit_reason());
                Err(kind)
            }
        };
        if let Err(kind) = outcome {
            tracing::debug!(target: "client::keys", node = index, %via, failure = %kind, "key node failed");
            failures.push(NodeFailure {
                node_index: index,
                via: Some(via),
                kind,
            });
        }
    }
    // Cancel the slower nodes: their answers are not needed (or can no longer help).
    in_flight.abort_all();
    drop(in_flight);
    drop(channel);

    if combiner.is_ready() {
        let recovered = tokio::task::spawn_blocking(move || combiner.finish())
            .await
            .map_err(|_| Error::Internal {
                what: "key combine task",
            })??;
        return Ok(Recovered {
            key: recovered.key,
            used: recovered.used,
            failures,
        });
    }
    let failures = NodeFailures(failures);
    if combiner.good() == 0
        && let Some((code, refusing, messages)) = failures.common_refusal()
    {
        let wait = failures
            .0
            .iter()
            .filter_map(|f| match &f.kind {
                FailureKind::Refused(r) => Some(r.retry_after_secs),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        if code == zgvault_proto::wire::ErrorCode::RateLimited && wait > 0 {
            let noun = if refusing.len() == 1 {
                "key node"
            } else {
                "key nodes"
            };
            return Err(Error::RateLimited {
                who: format!("{noun} {}", super::list_nodes(&refusing)),
                retry_after_secs: wait,
                message: messages.join("; "),
            });
        }
        return Err(Error::KeyRequestRefused {
            code,
            asked: nodes.len(),
            nodes: refusing,
            messages,
        });
    }
    Err(Error::NotEnoughKeyShares {
        good: combiner.good(),
        needed: combiner.needed(),
        failures,
    })
}

/// Opens the share sealed in a node's answer.
fn open_answer(
    response: KeyResponse,
    node_index: u32,
    response_secret: &BoxSecretKey,
    request_hash: &alloy::primitives::B256,
) -> Result<Zeroizing<Vec<u8>>, FailureKind> {
    let sealed = match response {
        KeyResponse::Partial(sealed) | KeyResponse::Share(sealed) => sealed,
        KeyResponse::Error(_)
        | KeyResponse::DepositAck(_)
        | KeyResponse::Key(_)
        | KeyResponse::ShredAck(_) => {
            return Err(FailureKind::Malformed {
                message: "an answer of another kind instead of a share".into(),
            });
        }
    };
    if sealed.node_index != node_index {
        return Err(FailureKind::Malformed {
            message: format!("answered as node {}", sealed.node_index),
        });
    }
    sealed
        .open(response_secret, request_hash)
        .map_err(|_| FailureKind::Unsealable)
}

/// Runs the share check (two pairings for bls) off the async executor.
async fn verify<C: Combiner>(
    mut combiner: C,
    index: u32,
    share: Zeroizing<Vec<u8>>,
) -> Result<(C, Result<(), CulpritReason>), Error> {
    tokio::task::spawn_blocking(move || {
        let added = combiner.add(index, &share);
        (combiner, added)
    })
    .await
    .map_err(|_| Error::Internal {
        what: "share verification task",
    })
}
