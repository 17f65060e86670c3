//! The nodes' HTTP API: `POST /v1/keys` (protobuf in, protobuf out) and `GET /v1/info`.

use alloy::{
    primitives::{Address, B256},
    transports::http::reqwest,
};
use libp2p::{Multiaddr, PeerId};
use serde::Deserialize;
use zgvault_proto::wire::MAX_MESSAGE_BYTES;

use super::{Endpoint, FailureKind, KeyNode};
use crate::error::Error;

/// Largest `/v1/info` document read from a node.
pub const MAX_INFO_BYTES: usize = 64 * 1024;
/// The media type of protocol messages on the HTTP API.
const PROTOBUF: &str = "application/x-protobuf";
/// How long `fetch_node_info` waits for a node.
const INFO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a node says about itself on `GET /v1/info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's 0-based index in the key set (`None`: it holds no share yet).
    pub index: Option<u32>,
    /// Its long-term X25519 encryption key.
    pub enc_key: [u8; 32],
    /// The operator's address, if the node has one configured.
    pub operator: Option<Address>,
    /// Its libp2p peer id.
    pub peer_id: PeerId,
    /// The libp2p addresses it listens on (with `/p2p/<peer id>`).
    pub listen_addrs: Vec<Multiaddr>,
    /// The chain it gates on.
    pub chain_id: u64,
    /// The FileRegistry it reads.
    pub file_registry: Address,
    /// Its `zgvault-node` version.
    pub version: String,
    /// `threshold` (a share-holder) or `custodial` (the vault); `None` from nodes older
    /// than the field.
    pub mode: Option<String>,
    /// How many blocks below its head it wants an access request's `atBlock` at least;
    /// `None` from nodes older than the field.
    pub confirmations: Option<u64>,
    /// How many blocks below its head it accepts `atBlock` at most; `None` from nodes older
    /// than the field.
    pub freshness_blocks: Option<u64>,
}

impl NodeInfo {
    /// The node as a recovery target, over HTTP at `http_url` and libp2p at its first
    /// address; `None` if it holds no share (no index).
    pub fn key_node(&self, http_url: &str) -> Option<KeyNode> {
        Some(KeyNode {
            index: self.index?,
            endpoint: Endpoint {
                http: Some(http_url.to_owned()),
                p2p: self
                    .listen_addrs
                    .first()
                    .map(|addr| (self.peer_id, addr.clone())),
            },
            enc_key: self.enc_key,
        })
    }
}

/// The JSON document as the node sends it (`zgvault_node::NodeInfo`); parsed into
/// [`NodeInfo`] at the edge. Fields this client does not use are ignored.
#[derive(Deserialize)]
struct RawNodeInfo {
    node_index: Option<u32>,
    encryption_key: B256,
    operator: Option<Address>,
    peer_id: String,
    #[serde(default)]
    listen_addrs: Vec<String>,
    chain_id: u64,
    file_registry: Address,
    #[serde(default)]
    version: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    confirmations: Option<u64>,
    #[serde(default)]
    freshness_blocks: Option<u64>,
}

/// Reads a node's `GET /v1/info` (for the devnet and the CLI).
pub async fn fetch_node_info(http_url: &str) -> Result<NodeInfo, Error> {
    fetch_node_info_within(http_url, INFO_TIMEOUT).await
}

/// [`fetch_node_info`], giving up after `timeout`.
pub async fn fetch_node_info_within(
    http_url: &str,
    timeout: std::time::Duration,
) -> Result<NodeInfo, Error> {
    let url = format!("{}/v1/info", http_url.trim_end_matches('/'));
    let client = http_client(timeout)?;
    let info = tokio::time::timeout(timeout, async {
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| Error::KeyNodeUnreachable {
                url: url.clone(),
                message: error_chain(&e),
            })?;
        let status = response.status();
        let body = read_limited(response, MAX_INFO_BYTES)
            .await
            .map_err(|kind| Error::KeyNodeMalformed {
                url: url.clone(),
                message: kind.to_string(),
            })?;
        Ok::<_, Error>((status, body))
    })
    .await
    .map_err(|_| Error::KeyNodeUnreachable {
        url: url.clone(),
        message: format!("no answer within {} s", timeout.as_secs()),
    })?;
    let (status, body) = info?;
    let malformed = |message: String| Error::KeyNodeMalformed {
        url: url.clone(),
        message,
    };
    if !status.is_success() {
        return Err(malformed(format!("HTTP {status}")));
    }
    let raw: RawNodeInfo =
        serde_json::from_slice(&body).map_err(|e| malformed(format!("not the info JSON: {e}")))?;
    let peer_id = raw
        .peer_id
        .parse()
        .map_err(|e| malformed(format!("peer id does not parse: {e}")))?;
    let listen_addrs = raw
        .listen_addrs
        .iter()
        .map(|a| a.parse::<Multiaddr>())
        .collect::<Result<_, _>>()
        .map_err(|e| malformed(format!("listen address does not parse: {e}")))?;
    Ok(NodeInfo {
        index: raw.node_index,
        enc_key: raw.encryption_key.0,
        operator: raw.operator,
        peer_id,
        listen_addrs,
        chain_id: raw.chain_id,
        file_registry: raw.file_registry,
        version: raw.version,
        mode: raw.mode,
        confirmations: raw.confirmations,
        freshness_blocks: raw.freshness_blocks,
    })
}

/// An HTTP client whose connection attempts give up after `connect_timeout`. A recovery
/// applies its per-node timeout around each whole call, so a slow node reads as timed out.
pub(super) fn http_client(connect_timeout: std::time::Duration) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|_| Error::Internal {
            what: "HTTP client for key nodes",
        })
}

/// Sends an encoded request to `POST {base}/v1/keys` and returns the encoded answer.
pub(super) async fn post_request(
    client: &reqwest::Client,
    base: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, FailureKind> {
    let url = format!("{}/v1/keys", base.trim_end_matches('/'));
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, PROTOBUF)
        .header(reqwest::header::ACCEPT, PROTOBUF)
        .body(body)
        .send()
        .await
        .map_err(|e| FailureKind::Unreachable {
            message: error_chain(&e),
        })?;
    let status = response.status();
    let bytes = read_limited(response, MAX_MESSAGE_BYTES).await?;
    // Nodes answer refusals as protocol messages, often with a 4xx status: let the caller
    // decode whatever came; only an error status with an empty body is a transport failure.
    if !status.is_success() && bytes.is_empty() {
        return Err(FailureKind::HttpStatus {
            status: status.as_u16(),
        });
    }
    Ok(bytes)
}

/// Reads a body, refusing more than `max` bytes without buffering them.
async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, FailureKind> {
    let too_large = || FailureKind::Malformed {
        message: format!("answer larger than {max} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|len| usize::try_from(len).map_or(true, |len| len > max))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FailureKind::Unreachable {
            message: error_chain(&e),
        })?
    {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's top-level messages ("error sending request") hide the cause; print the chain.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
