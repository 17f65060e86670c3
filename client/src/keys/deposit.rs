//! Depositing Shamir shares with the nodes (scheme `shamir`): one owner-signed deposit per
//! node, sealed to that node's encryption key, acknowledged only once the node stored it.

use zgvault_proto::request::SignedShareDeposit;
use zgvault_proto::wire::{self, KeyRequest, KeyResponse};

use super::{DEFAULT_PER_NODE_TIMEOUT, FailureKind, KeyNode, http};
use crate::error::Error;

/// Sends `deposit` to `node` over HTTP and waits for its acknowledgement.
pub async fn deposit_share(node: &KeyNode, deposit: SignedShareDeposit) -> Result<(), Error> {
    let url = node.http.clone().ok_or_else(|| Error::Config {
        message: format!(
            "key node {} has no HTTP address to deposit its share to",
            node.index
        ),
    })?;
    let client = http::http_client(DEFAULT_PER_NODE_TIMEOUT)?;
    let body = wire::encode_request(&KeyRequest::Deposit(deposit));
    let send = || {
        tokio::time::timeout(
            DEFAULT_PER_NODE_TIMEOUT,
            http::post_request(&client, &url, body.clone()),
        )
    };
    let mut answer = send().await;
    // Rate-limited with a short wait: wait it out and send once more.
    if let Some(wait) = answer
        .as_ref()
        .ok()
        .and_then(|a| a.as_deref().ok())
        .and_then(http::rate_limit_wait)
    {
        tokio::time::sleep(wait).await;
        answer = send().await;
    }
    let answer = answer
        .map_err(|_| Error::KeyNodeUnreachable {
            url: url.clone(),
            message: format!("no answer within {DEFAULT_PER_NODE_TIMEOUT:?}"),
        })?
        .map_err(|kind| match kind {
            FailureKind::Unreachable { message } => Error::KeyNodeUnreachable {
                url: url.clone(),
                message,
            },
            other => Error::KeyNodeMalformed {
                url: url.clone(),
                message: other.to_string(),
            },
        })?;
    match wire::decode_response(&answer) {
        Ok(KeyResponse::DepositAck(ack)) if ack.node_index == node.index => Ok(()),
        Ok(KeyResponse::Error(reply))
            if reply.code == zgvault_proto::wire::ErrorCode::RateLimited
                && reply.retry_after_secs > 0 =>
        {
            Err(Error::RateLimited {
                who: format!("key node {} ({url})", node.index),
                retry_after_secs: reply.retry_after_secs,
                message: reply.message,
            })
        }
        Ok(KeyResponse::Error(reply)) => Err(Error::KeyRequestRefused {
            code: reply.code,
            asked: 1,
            nodes: vec![node.index],
            messages: vec![reply.message],
        }),
        Ok(other) => Err(Error::KeyNodeMalformed {
            url,
            message: format!("expected a deposit acknowledgement, got {other:?}"),
        }),
        Err(e) => Err(Error::KeyNodeMalformed {
            url,
            message: e.to_string(),
        }),
    }
}
