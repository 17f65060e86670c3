//! What the owner sends each holder of key material on its own: a Shamir share deposit
//! (one per node, sealed to that node's encryption key, acknowledged only once stored) and
//! a shred (addressed to one holder: a node or the vault).

use zgvault_proto::request::{SignedShareDeposit, SignedShred};
use zgvault_proto::wire::{KeyRequest, KeyResponse, ShredAck};

use super::channel::unexpected;
use super::{Channel, Endpoint, FailureKind, KeyNode, Peer};
use crate::error::Error;

/// Sends `deposit` to `node` over whichever transport reaches it and waits for its
/// acknowledgement.
pub async fn deposit_share(
    channel: &Channel,
    node: &KeyNode,
    deposit: SignedShareDeposit,
) -> Result<(), Error> {
    let request = KeyRequest::Deposit(deposit);
    match channel
        .call(Peer::KeyNode(node.index), &node.endpoint, &request)
        .await?
    {
        KeyResponse::DepositAck(ack) if ack.node_index == node.index => Ok(()),
        KeyResponse::DepositAck(ack) => Err(Error::KeyNodeMalformed {
            url: node.endpoint.to_string(),
            message: format!(
                "acknowledged the deposit as node {}, not node {}",
                ack.node_index, node.index
            ),
        }),
        other => Err(unexpected(
            &node.endpoint,
            "a deposit acknowledgement",
            &other,
        )),
    }
}

/// Sends the owner's `shred` to one holder and returns its acknowledgement, or how it
/// failed (refusals included).
pub async fn send_shred(
    channel: &Channel,
    holder: &Endpoint,
    shred: SignedShred,
) -> Result<ShredAck, FailureKind> {
    match channel.ask(holder, &KeyRequest::Shred(shred)).await.1? {
        KeyResponse::ShredAck(ack) => Ok(ack),
        _ => Err(FailureKind::Malformed {
            message: "expected a shred acknowledgement".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use alloy::primitives::{Address, B256};
    use zgvault_proto::request::{FileRef, Shred};
    use zgvault_proto::sealbox::BoxPublicKey;
    use zgvault_proto::wire::{ErrorCode, ErrorReply, encode_response};

    use super::*;
    use crate::keys::ChannelOptions;

    /// A node that answers `RATE_LIMITED` (`retry_after_secs = wait`) to the first
    /// `limited` requests and acknowledges the shred after that; counts the requests.
    async fn limiting_node(limited: u32, wait: u32) -> (Endpoint, Arc<AtomicU32>) {
        let count = Arc::new(AtomicU32::new(0));
        let seen = count.clone();
        let keys = move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                let answer = if n < limited {
                    KeyResponse::Error(ErrorReply::new(
                        ErrorCode::RateLimited,
                        "too many requests from this signer",
                        wait,
                    ))
                } else {
                    KeyResponse::ShredAck(ShredAck {
                        file_id: B256::repeat_byte(7),
                        held: true,
                    })
                };
                encode_response(&answer)
            }
        };
        let router = axum::Router::new().route("/v1/keys", axum::routing::post(keys));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let endpoint = Endpoint {
            http: Some(format!("http://{addr}")),
            p2p: None,
        };
        (endpoint, count)
    }

    fn shred() -> SignedShred {
        let signer = alloy::signers::local::PrivateKeySigner::random();
        Shred {
            file: FileRef {
                chain_id: 31337,
                registry: Address::repeat_byte(1),
                file_id: B256::repeat_byte(7),
            },
            holder: BoxPublicKey::from_bytes([9; 32]),
            issued_at: 1,
        }
        .sign(signer.credential())
        .unwrap()
    }

    fn channel() -> Channel {
        Channel::new(ChannelOptions::SINGLE_NODE).unwrap()
    }

    #[tokio::test]
    async fn a_short_rate_limit_is_waited_out_once() {
        let (node, count) = limiting_node(1, 1).await;
        let ack = send_shred(&channel(), &node, shred()).await.unwrap();
        assert!(ack.held);
        assert_eq!(count.load(Ordering::SeqCst), 2, "asked again once");
    }

    #[tokio::test]
    async fn fail_a_long_rate_limit_is_reported_with_its_wait() {
        let (node, count) = limiting_node(u32::MAX, 30).await;
        let err = send_shred(&channel(), &node, shred()).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("is rate-limiting you: retry in 30 s"),
            "{text}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 1, "no retry for a long wait");
        // Still limited after the one retry: reported, not retried forever.
        let (node, count) = limiting_node(u32::MAX, 1).await;
        assert!(send_shred(&channel(), &node, shred()).await.is_err());
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // The vault's answers say the same, as an error the CLI prints.
        let request = KeyRequest::Shred(shred());
        let text = channel()
            .call(Peer::Vault, &node, &request)
            .await
            .unwrap_err()
            .to_string();
        let url = node.http.unwrap();
        assert!(
            text.contains(&format!(
                "the custodial vault {url} is rate-limiting you: retry in 1 s"
            )),
            "{text}"
        );
    }

    /// A node known only by its libp2p address (the NodeRegistry's entry) is asked there;
    /// one whose HTTP URL does not answer is asked over libp2p too.
    #[tokio::test]
    async fn fail_a_node_without_http_is_not_given_up_on() {
        let offline = Endpoint::default();
        let (via, answer) = channel().ask(&offline, &KeyRequest::Shred(shred())).await;
        assert_eq!((via, answer.unwrap_err()), (None, FailureKind::NoTransport));
        let p2p_only = Endpoint {
            http: None,
            p2p: Some((
                libp2p::PeerId::random(),
                "/ip4/127.0.0.1/tcp/1".parse().unwrap(),
            )),
        };
        let (via, answer) = channel().ask(&p2p_only, &KeyRequest::Shred(shred())).await;
        assert_eq!(via, Some(crate::keys::Transport::P2p));
        assert!(answer.unwrap_err().is_unreached());
        let both = Endpoint {
            http: Some("http://127.0.0.1:1".into()),
            ..p2p_only
        };
        let (via, _) = channel().ask(&both, &KeyRequest::Shred(shred())).await;
        assert_eq!(
            via,
            Some(crate::keys::Transport::P2p),
            "fell back to libp2p"
        );
    }
}
