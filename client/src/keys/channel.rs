//! The one way to a node. Every exchange with a key node or the custodial vault (recovery,
//! the vault's release and deposit, Shamir deposits, shreds) goes through a [`Channel`]: it
//! picks the transport from what the node's entry offers (HTTP or libp2p), bounds each
//! attempt with its timeout, waits out a short `RATE_LIMITED` once, and decodes the answer.

use std::sync::Arc;
use std::time::Duration;

use alloy::transports::http::reqwest;
use tokio::sync::OnceCell;
use zgvault_proto::wire::{self, ErrorCode, ErrorReply, KeyRequest, KeyResponse};

use super::http;
use super::{
    DEFAULT_PER_NODE_TIMEOUT, Endpoint, FailureKind, P2pRequester, RecoverOptions, Refusal,
    Transport,
};
use crate::error::Error;

/// The longest `retry_after_secs` of a `RATE_LIMITED` reply that is waited out (once);
/// longer ones are reported to the user.
pub const MAX_RATE_LIMIT_WAIT_SECS: u32 = 5;

/// How a [`Channel`] reaches nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelOptions {
    /// How long one attempt may take (dial, request, answer).
    pub timeout: Duration,
    /// The transport used for nodes that offer both.
    pub prefer: Transport,
    /// Try the node's other transport when the preferred one cannot reach it. Exchanges with
    /// one node do; a recovery does not: there the other nodes stand in, within its overall
    /// timeout.
    pub fall_back: bool,
}

impl ChannelOptions {
    /// One node on its own (the vault, a deposit, a shred): HTTP first, libp2p when HTTP
    /// cannot reach it.
    pub const SINGLE_NODE: ChannelOptions = ChannelOptions {
        timeout: DEFAULT_PER_NODE_TIMEOUT,
        prefer: Transport::Http,
        fall_back: true,
    };
}

impl From<RecoverOptions> for ChannelOptions {
    fn from(opts: RecoverOptions) -> Self {
        ChannelOptions {
            timeout: opts.per_node_timeout,
            prefer: opts.prefer,
            fall_back: false,
        }
    }
}

/// Who a single-node exchange is with, for its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// The custodial vault.
    Vault,
    /// The share-holder node with this index.
    KeyNode(u32),
}

/// Sends requests to nodes and decodes their answers. Cheap to clone; the libp2p swarm is
/// started on first use and shared by the clones.
#[derive(Clone, Debug)]
pub struct Channel {
    opts: ChannelOptions,
    http: reqwest::Client,
    p2p: Arc<OnceCell<P2pRequester>>,
}

impl Channel {
    /// A channel with `opts`; nothing is dialled yet.
    pub fn new(opts: ChannelOptions) -> Result<Channel, Error> {
        Ok(Channel {
            opts,
            http: http::http_client(opts.timeout)?,
            p2p: Arc::new(OnceCell::new()),
        })
    }

    /// Sends `request` to `node`. Returns the transport that answered last (`None` if the
    /// node offers none) and the decoded answer; an error reply is
    /// [`FailureKind::Refused`].
    pub async fn ask(
        &self,
        node: &Endpoint,
        request: &KeyRequest,
    ) -> (Option<Transport>, Result<KeyResponse, FailureKind>) {
        let body = wire::encode_request(request);
        let (mut via, mut answer) = self.send(node, &body).await;
        // Rate-limited with a short wait: wait it out and ask once more.
        if let Ok(KeyResponse::Error(reply)) = &answer
            && let Some(wait) = short_wait(reply)
        {
            tokio::time::sleep(wait).await;
            (via, answer) = self.send(node, &body).await;
        }
        let answer = answer.and_then(|response| match response {
            KeyResponse::Error(reply) => Err(FailureKind::Refused(Refusal {
                code: reply.code,
                message: reply.message,
                retry_after_secs: reply.retry_after_secs,
            })),
            other => Ok(other),
        });
        (via, answer)
    }

    /// [`Channel::ask`] for an exchange with one node, its failure as an [`Error`] that
    /// names `peer` and its address.
    pub async fn call(
        &self,
        peer: Peer,
        node: &Endpoint,
        request: &KeyRequest,
    ) -> Result<KeyResponse, Error> {
        let (_, answer) = self.ask(node, request).await;
        answer.map_err(|kind| failure_error(peer, node, kind))
    }

    /// One try over the preferred transport, then over the other one if allowed and the
    /// first could not reach the node.
    async fn send(
        &self,
        node: &Endpoint,
        body: &[u8],
    ) -> (Option<Transport>, Result<KeyResponse, FailureKind>) {
        let Some(first) = node.transport(self.opts.prefer) else {
            return (None, Err(FailureKind::NoTransport));
        };
        let answer = self.send_via(first, node, body).await;
        let second = first.other();
        match answer {
            Err(kind) if self.opts.fall_back && kind.is_unreached() && node.offers(second) => {
                (Some(second), self.send_via(second, node, body).await)
            }
            answer => (Some(first), answer),
        }
    }

    async fn send_via(
        &self,
        transport: Transport,
        node: &Endpoint,
        body: &[u8],
    ) -> Result<KeyResponse, FailureKind> {
        let timeout = self.opts.timeout;
        let bytes = match tokio::time::timeout(timeout, self.transfer(transport, node, body)).await
        {
            Ok(bytes) => bytes?,
            Err(_) => return Err(FailureKind::TimedOut { after: timeout }),
        };
        wire::decode_response(&bytes).map_err(|e| FailureKind::Malformed {
            message: e.to_string(),
        })
    }

    async fn transfer(
        &self,
        transport: Transport,
        node: &Endpoint,
        body: &[u8],
    ) -> Result<Vec<u8>, FailureKind> {
        match (transport, &node.http, &node.p2p) {
            (Transport::Http, Some(base), _) => {
                http::post_request(&self.http, base, body.to_vec()).await
            }
            (Transport::P2p, _, Some((peer, addr))) => {
                let requester = self
                    .p2p
                    .get_or_try_init(|| async { P2pRequester::start(self.opts.timeout) })
                    .await
                    .map_err(|e| FailureKind::Unreachable {
                        message: e.to_string(),
                    })?;
                requester.request(*peer, addr.clone(), body.to_vec()).await
            }
            _ => Err(FailureKind::NoTransport),
        }
    }
}

/// How long to wait before asking again, when `reply` is a `RATE_LIMITED` asking for a
/// short wait (1..=[`MAX_RATE_LIMIT_WAIT_SECS`] s); longer ones are reported to the user.
fn short_wait(reply: &ErrorReply) -> Option<Duration> {
    (reply.code == ErrorCode::RateLimited
        && (1..=MAX_RATE_LIMIT_WAIT_SECS).contains(&reply.retry_after_secs))
    .then(|| Duration::from_secs(reply.retry_after_secs.into()))
}

/// A single-node exchange's failure as the error the user sees.
fn failure_error(peer: Peer, node: &Endpoint, kind: FailureKind) -> Error {
    let url = node.to_string();
    match (peer, kind) {
        (peer, FailureKind::Refused(r))
            if r.code == ErrorCode::RateLimited && r.retry_after_secs > 0 =>
        {
            Error::RateLimited {
                who: match peer {
                    Peer::Vault => format!("the custodial vault {url}"),
                    Peer::KeyNode(index) => format!("key node {index} ({url})"),
                },
                retry_after_secs: r.retry_after_secs,
                message: r.message,
            }
        }
        (Peer::Vault, FailureKind::Refused(r)) => Error::VaultRefused {
            url,
            code: r.code,
            message: r.message,
        },
        (Peer::KeyNode(index), FailureKind::Refused(r)) => Error::KeyRequestRefused {
            code: r.code,
            asked: 1,
            nodes: vec![index],
            messages: vec![r.message],
        },
        (_, FailureKind::Malformed { message }) => Error::KeyNodeMalformed { url, message },
        (_, kind @ (FailureKind::Unsealable | FailureKind::BadShare(_))) => {
            Error::KeyNodeMalformed {
                url,
                message: kind.to_string(),
            }
        }
        (Peer::Vault, kind) => Error::VaultUnreachable {
            url,
            message: kind.to_string(),
        },
        (Peer::KeyNode(_), kind) => Error::KeyNodeUnreachable {
            url,
            message: kind.to_string(),
        },
    }
}

/// The answer `wanted` did not come: what came instead, for the error.
pub(crate) fn unexpected(node: &Endpoint, wanted: &str, got: &KeyResponse) -> Error {
    Error::KeyNodeMalformed {
        url: node.to_string(),
        message: format!("expected {wanted}, got {}", response_kind(got)),
    }
}

/// What kind of answer `response` is, for messages.
pub(crate) fn response_kind(response: &KeyResponse) -> &'static str {
    match response {
        KeyResponse::Partial(_) => "a BLS partial",
        KeyResponse::Share(_) => "a Shamir share",
        KeyResponse::DepositAck(_) => "a deposit acknowledgement",
        KeyResponse::Key(_) => "a released key",
        KeyResponse::ShredAck(_) => "a shred acknowledgement",
        KeyResponse::Error(_) => "an error",
    }
}
