//! Talking to one node alone: the custodial vault (key release, key deposit) and shreds,
//! which go to each node on its own. HTTP first; libp2p when HTTP cannot reach the node
//! and it has a libp2p address.

use std::time::Duration;

use zgvault_proto::{
    FileKey,
    request::{SignedAccessRequest, SignedKeyDeposit, SignedShred},
    sealbox::BoxSecretKey,
    wire::{self, KeyRequest, KeyResponse, ShredAck},
};

use super::{DEFAULT_PER_NODE_TIMEOUT, FailureKind, KeyNode, P2pRequester, Refusal, http};
use crate::error::Error;

/// How long the vault or one node may take to answer one request, connection included.
pub const SINGLE_NODE_TIMEOUT: Duration = DEFAULT_PER_NODE_TIMEOUT;

/// Where a node is, for messages: its HTTP URL, else its libp2p address.
pub fn node_address(node: &KeyNode) -> String {
    node.http
        .clone()
        .or_else(|| {
            node.p2p
                .as_ref()
                .map(|(peer, addr)| format!("{addr}/p2p/{peer}"))
        })
        .unwrap_or_else(|| format!("node {} (no address)", node.index))
}

/// Sends one encoded request to `node` and returns its answer. HTTP is tried first; when
/// it cannot reach the node (not when the node answered), libp2p is tried. A `RATE_LIMITED`
/// reply asking for a short wait is waited out and the request sent once more.
pub(crate) async fn ask(node: &KeyNode, body: Vec<u8>) -> Result<Vec<u8>, FailureKind> {
    let answer = ask_once(node, body.clone()).await?;
    match http::rate_limit_wait(&answer) {
        Some(wait) => {
            tokio::time::sleep(wait).await;
            ask_once(node, body).await
        }
        None => Ok(answer),
    }
}

async fn ask_once(node: &KeyNode, body: Vec<u8>) -> Result<Vec<u8>, FailureKind> {
    let mut last = FailureKind::NoTransport;
    if let Some(base) = &node.http {
        let client =
            http::http_client(SINGLE_NODE_TIMEOUT).map_err(|e| FailureKind::Unreachable {
                message: e.to_string(),
            })?;
        match tokio::time::timeout(
            SINGLE_NODE_TIMEOUT,
            http::post_request(&client, base, body.clone()),
        )
        .await
        {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(kind @ (FailureKind::Unreachable { .. } | FailureKind::HttpStatus { .. }))) => {
                last = kind;
            }
            Ok(Err(other)) => return Err(other),
            Err(_) => {
                last = FailureKind::TimedOut {
                    after: SINGLE_NODE_TIMEOUT,
                };
            }
        }
    }
    if let Some((peer, addr)) = node.p2p.clone() {
        let requester =
            P2pRequester::start(SINGLE_NODE_TIMEOUT).map_err(|e| FailureKind::Unreachable {
                message: e.to_string(),
            })?;
        return match tokio::time::timeout(SINGLE_NODE_TIMEOUT, requester.request(peer, addr, body))
            .await
        {
            Ok(answer) => answer,
            Err(_) => Err(FailureKind::TimedOut {
                after: SINGLE_NODE_TIMEOUT,
            }),
        };
    }
    Err(last)
}

/// Asks the custodial `vault` for a file's key with `request` and opens the answer. The
/// caller checks the key against the registered capsule before using it.
pub async fn request_vault_key(
    vault: &KeyNode,
    request: &SignedAccessRequest,
    response_secret: &BoxSecretKey,
) -> Result<FileKey, Error> {
    let url = node_address(vault);
    let body = wire::encode_request(&KeyRequest::Access(request.clone()));
    let answer = ask(vault, body).await.map_err(|k| vault_failure(&url, k))?;
    match decode(&url, &answer)? {
        KeyResponse::Key(sealed) => {
            let plain = sealed.open(response_secret, &request.hash()).map_err(|_| {
                Error::KeyNodeMalformed {
                    url: url.clone(),
                    message: "the released key cannot be opened with this request's key".into(),
                }
            })?;
            FileKey::from_slice(&plain).map_err(|_| Error::KeyNodeMalformed {
                url,
                message: format!("the released key is {} bytes, not 32", plain.len()),
            })
        }
        other => Err(unexpected(&url, "a released key", &other)),
    }
}

/// Hands K to the custodial `vault` and waits for its acknowledgement. The file must be
/// registered with a custodial capsule naming this vault and committing to K first.
pub async fn deposit_key(vault: &KeyNode, deposit: SignedKeyDeposit) -> Result<(), Error> {
    let url = node_address(vault);
    let file_id = deposit.deposit().file.file_id;
    let body = wire::encode_request(&KeyRequest::KeyDeposit(deposit));
    let answer = ask(vault, body).await.map_err(|k| vault_failure(&url, k))?;
    match decode(&url, &answer)? {
        KeyResponse::DepositAck(ack) if ack.file_id == file_id => Ok(()),
        KeyResponse::DepositAck(ack) => Err(Error::KeyNodeMalformed {
            url,
            message: format!("acknowledged a deposit for file {}", ack.file_id),
        }),
        other => Err(unexpected(&url, "a deposit acknowledgement", &other)),
    }
}

/// Sends the owner's `shred` to one node (or the vault) and returns its acknowledgement,
/// or how it failed (refusals included).
pub async fn send_shred(node: &KeyNode, shred: SignedShred) -> Result<ShredAck, FailureKind> {
    let body = wire::encode_request(&KeyRequest::Shred(shred));
    let answer = ask(node, body).await?;
    match wire::decode_response(&answer) {
        Ok(KeyResponse::ShredAck(ack)) => Ok(ack),
        Ok(KeyResponse::Error(reply)) => Err(FailureKind::Refused(Refusal {
            code: reply.code,
            message: reply.message,
            retry_after_secs: reply.retry_after_secs,
        })),
        Ok(_) => Err(FailureKind::Malformed {
            message: "expected a shred acknowledgement".into(),
        }),
        Err(e) => Err(FailureKind::Malformed {
            message: e.to_string(),
        }),
    }
}

fn decode(url: &str, answer: &[u8]) -> Result<KeyResponse, Error> {
    match wire::decode_response(answer) {
        Ok(KeyResponse::Error(reply))
            if reply.code == wire::ErrorCode::RateLimited && reply.retry_after_secs > 0 =>
        {
            Err(Error::RateLimited {
                who: format!("the custodial vault {url}"),
                retry_after_secs: reply.retry_after_secs,
                message: reply.message,
            })
        }
        Ok(KeyResponse::Error(reply)) => Err(Error::VaultRefused {
            url: url.to_owned(),
            code: reply.code,
            message: reply.message,
        }),
        Ok(response) => Ok(response),
        Err(e) => Err(Error::KeyNodeMalformed {
            url: url.to_owned(),
            message: e.to_string(),
        }),
    }
}

fn unexpected(url: &str, wanted: &str, got: &KeyResponse) -> Error {
    let kind = match got {
        KeyResponse::Partial(_) => "a BLS partial",
        KeyResponse::Share(_) => "a Shamir share",
        KeyResponse::DepositAck(_) => "a deposit acknowledgement",
        KeyResponse::Key(_) => "a released key",
        KeyResponse::ShredAck(_) => "a shred acknowledgement",
        KeyResponse::Error(_) => "an error",
    };
    Error::KeyNodeMalformed {
        url: url.to_owned(),
        message: format!("expected {wanted}, got {kind}: is this URL a custodial vault?"),
    }
}

fn vault_failure(url: &str, kind: FailureKind) -> Error {
    match kind {
        FailureKind::Malformed { message } => Error::KeyNodeMalformed {
            url: url.to_owned(),
            message,
        },
        other => Error::VaultUnreachable {
            url: url.to_owned(),
            message: other.to_string(),
        },
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

    /// A node that answers `RATE_LIMITED` (`retry_after_secs = wait`) to the first
    /// `limited` requests and acknowledges the shred after that; counts the requests.
    async fn limiting_node(limited: u32, wait: u32) -> (String, Arc<AtomicU32>) {
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
        (format!("http://{addr}"), count)
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

    fn node(url: String) -> KeyNode {
        KeyNode {
            index: 2,
            http: Some(url),
            p2p: None,
            enc_key: [9; 32],
        }
    }

    #[tokio::test]
    async fn a_short_rate_limit_is_waited_out_once() {
        let (url, count) = limiting_node(1, 1).await;
        let ack = send_shred(&node(url), shred()).await.unwrap();
        assert!(ack.held);
        assert_eq!(count.load(Ordering::SeqCst), 2, "asked again once");
    }

    #[tokio::test]
    async fn fail_a_long_rate_limit_is_reported_with_its_wait() {
        let (url, count) = limiting_node(u32::MAX, 30).await;
        let err = send_shred(&node(url.clone()), shred()).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("is rate-limiting you: retry in 30 s"),
            "{text}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 1, "no retry for a long wait");
        // Still limited after the one retry: reported, not retried forever.
        let (url, count) = limiting_node(u32::MAX, 1).await;
        assert!(send_shred(&node(url.clone()), shred()).await.is_err());
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // The vault's answers say the same, as an error the CLI prints.
        let reply = encode_response(&KeyResponse::Error(ErrorReply::new(
            ErrorCode::RateLimited,
            "slow down",
            30,
        )));
        let text = decode(&url, &reply).unwrap_err().to_string();
        assert!(
            text.contains(&format!(
                "the custodial vault {url} is rate-limiting you: retry in 30 s"
            )),
            "{text}"
        );
    }
}
