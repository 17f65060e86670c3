//! Key nodes for the recovery tests: a dealt BLS key set, a signed request, and local HTTP
//! (axum) or libp2p servers that answer it well, badly or never.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::{sync::Arc, time::SystemTime};

use alloy::primitives::{Address, B256};
use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use futures::StreamExt;
use k256::ecdsa::SigningKey;
use libp2p::{
    Multiaddr, PeerId, SwarmBuilder, noise,
    request_response::{self, ProtocolSupport},
    swarm::SwarmEvent,
    tcp, yamux,
};
use tokio::sync::{mpsc, watch};
use zgvault_client::keys::{KEYS_PROTOCOL, KeyNode, KeysCodec};
use zgvault_proto::{
    FileKey,
    request::{AccessRequest, FileRef, Scheme, SignedAccessRequest},
    sealbox::BoxSecretKey,
    threshold::{BlsCapsule, BlsCombiner, BlsKeySet, BlsSecretShare, deal_bls_key_set},
    wire::{
        ErrorCode, ErrorReply, KeyRequest, KeyResponse, SealedShare, decode_request,
        encode_response,
    },
};

/// A file protected by a dealt key set, and a signed request for it.
pub struct Fixture {
    pub file: FileRef,
    pub key_set: BlsKeySet,
    pub shares: Arc<Vec<BlsSecretShare>>,
    pub key: FileKey,
    pub capsule: BlsCapsule,
    pub response_key: BoxSecretKey,
    pub request: SignedAccessRequest,
}

impl Fixture {
    pub fn new(needed: usize, nodes: usize) -> Self {
        let file = FileRef {
            chain_id: 31337,
            registry: Address::repeat_byte(0x11),
            file_id: B256::repeat_byte(0x22),
        };
        let (key_set, shares) = deal_bls_key_set(needed, nodes).unwrap();
        let key = FileKey::generate().unwrap();
        let capsule = key_set.encrypt_file_key(&file, &key).unwrap();
        let response_key = BoxSecretKey::generate().unwrap();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let wallet = SigningKey::from_slice(&[7; 32]).unwrap();
        let request = AccessRequest::new(
            file,
            Scheme::Bls,
            response_key.public_key(),
            &capsule.to_bytes(),
            now,
            120,
            1_000,
        )
        .unwrap()
        .sign(&wallet, capsule.to_bytes())
        .unwrap();
        Self {
            file,
            key_set,
            shares: Arc::new(shares),
            key,
            capsule,
            response_key,
            request,
        }
    }

    pub fn combiner(&self) -> BlsCombiner {
        self.key_set
            .combiner(&self.file, &self.capsule, self.shares.len())
    }
}

/// How a test node answers.
#[derive(Clone, Debug)]
pub enum Behave {
    /// Its real partial, sealed to the requester.
    Good,
    /// Its real partial, once every `Down` and `Garbage` node has failed.
    GoodAfterBad,
    /// Accepts TCP connections and closes them at once.
    Down,
    /// 200 with bytes that are not a protocol message.
    Garbage,
    /// An error reply (HTTP 403).
    Refuse(ErrorCode, &'static str),
    /// Another node's partial under its own index: does not verify.
    BadShare,
    /// Its real partial, but claiming to be another node.
    AnswerAs(u32),
    /// Its real partial with the sealed box modified.
    Unsealable,
    /// Never answers; reports on `Nodes::cancelled` when the request is dropped.
    Never,
}

/// The answer node `index` gives to `request` for the immediate behaviours.
pub fn answer(behave: &Behave, index: u32, shares: &[BlsSecretShare], request: &[u8]) -> Vec<u8> {
    let KeyRequest::Access(req) = decode_request(request).unwrap() else {
        panic!("not an access request");
    };
    let partial_of = |i: usize| {
        let capsule = BlsCapsule::from_bytes(req.capsule()).unwrap();
        shares[i]
            .decrypt_share(&req.request().file, &capsule)
            .to_bytes()
    };
    let own = index as usize;
    let sealed = |as_index: u32, from: usize| {
        SealedShare::seal(as_index, &req, partial_of(from).as_slice()).unwrap()
    };
    let response = match behave {
        Behave::Good | Behave::GoodAfterBad => KeyResponse::Partial(sealed(index, own)),
        Behave::BadShare => KeyResponse::Partial(sealed(index, (own + 1) % shares.len())),
        Behave::AnswerAs(other) => KeyResponse::Partial(sealed(*other, own)),
        Behave::Unsealable => {
            let mut share = sealed(index, own);
            if let Some(byte) = share.sealed.last_mut() {
                *byte ^= 1;
            }
            KeyResponse::Partial(share)
        }
        Behave::Refuse(code, message) => KeyResponse::Error(ErrorReply::new(*code, *message, 0)),
        Behave::Garbage => return vec![0xff; 40],
        Behave::Down | Behave::Never => unreachable!("no answer"),
    };
    encode_response(&response)
}

/// Running test nodes.
pub struct Nodes {
    pub key_nodes: Vec<KeyNode>,
    /// Indices of `Never` nodes whose request was dropped by the client.
    pub cancelled: mpsc::Receiver<u32>,
}

struct NodeState {
    index: u32,
    behave: Behave,
    shares: Arc<Vec<BlsSecretShare>>,
    bad_done: watch::Sender<usize>,
    bad_total: usize,
    cancelled: mpsc::Sender<u32>,
}

/// Sends the node index when dropped: the handler future was cancelled.
struct CancelGuard(mpsc::Sender<u32>, u32);

impl Drop for CancelGuard {
    fn drop(&mut self) {
        let _ = self.0.try_send(self.1);
    }
}

impl Nodes {
    /// One HTTP node per behaviour, node `i` at index `i`.
    pub async fn start(fx: &Fixture, behaviours: Vec<Behave>) -> Self {
        let bad_total = behaviours
            .iter()
            .filter(|b| matches!(b, Behave::Down | Behave::Garbage))
            .count();
        let (bad_done, _) = watch::channel(0);
        let (cancel_tx, cancelled) = mpsc::channel(16);
        let mut key_nodes = Vec::new();
        for (i, behave) in behaviours.into_iter().enumerate() {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let index = u32::try_from(i).unwrap();
            if matches!(behave, Behave::Down) {
                let bad_done = bad_done.clone();
                tokio::spawn(async move {
                    while let Ok((stream, _)) = listener.accept().await {
                        drop(stream);
                        bad_done.send_modify(|n| *n += 1);
                    }
                });
            } else {
                let state = Arc::new(NodeState {
                    index,
                    behave,
                    shares: fx.shares.clone(),
                    bad_done: bad_done.clone(),
                    bad_total,
                    cancelled: cancel_tx.clone(),
                });
                let app = Router::new()
                    .route("/v1/keys", post(keys))
                    .with_state(state);
                tokio::spawn(async move { axum::serve(listener, app).await });
            }
            key_nodes.push(KeyNode {
                index,
                endpoint: zgvault_client::keys::Endpoint {
                    http: Some(url),
                    p2p: None,
                },
                enc_key: [0; 32],
            });
        }
        Self {
            key_nodes,
            cancelled,
        }
    }
}

async fn keys(State(node): State<Arc<NodeState>>, body: Bytes) -> (StatusCode, Vec<u8>) {
    match &node.behave {
        Behave::Never => {
            let _guard = CancelGuard(node.cancelled.clone(), node.index);
            std::future::pending::<()>().await;
            unreachable!()
        }
        Behave::GoodAfterBad => {
            let mut done = node.bad_done.subscribe();
            let total = node.bad_total;
            done.wait_for(|n| *n >= total).await.unwrap();
        }
        _ => {}
    }
    let status = match node.behave {
        Behave::Refuse(..) => StatusCode::FORBIDDEN,
        _ => StatusCode::OK,
    };
    let bytes = answer(&node.behave, node.index, &node.shares, &body);
    if matches!(node.behave, Behave::Garbage) {
        node.bad_done.send_modify(|n| *n += 1);
    }
    (status, bytes)
}

/// A libp2p key node on 127.0.0.1 answering with `behave`; returns its id and address.
pub async fn start_p2p_node(fx: &Fixture, index: u32, behave: Behave) -> (PeerId, Multiaddr) {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::<KeysCodec>::new(
                [(KEYS_PROTOCOL, ProtocolSupport::Inbound)],
                request_response::Config::default(),
            )
        })
        .unwrap()
        .build();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    let peer = *swarm.local_peer_id();
    let shares = fx.shares.clone();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) = swarm.select_next_some().await
            {
                let bytes = answer(&behave, index, &shares, &request);
                let _ = swarm.behaviour_mut().send_response(channel, bytes);
            }
        }
    });
    (peer, addr)
}

/// Serves `json` on `GET /v1/info`; returns the base URL.
pub async fn serve_json(json: serde_json::Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/v1/info",
        axum::routing::get(move || async move { axum::Json(json) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
