//! The share-holder network end to end: real `zgvault-node` processes on the devnet chain,
//! each checking the on-chain gate on its own, and the client recovering K from them.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

#[path = "../../proto/tests/support/transplant.rs"]
mod transplant;

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use k256::ecdsa::SigningKey;
use zgvault_client::Error;
use zgvault_client::keys::{KeyNode, RecoverOptions, Recovered, recover_key};
use zgvault_contracts::{AccessPass, FileRegistry, SCHEME_BLS, SCHEME_SHAMIR, file_id, policy};
use zgvault_proto::FileKey;
use zgvault_proto::request::{AccessRequest, FileRef, Scheme, ShareDeposit, SignedAccessRequest};
use zgvault_proto::sealbox::BoxSecretKey;
use zgvault_proto::threshold::{BlsCapsule, BlsKeySet, split_new_file_key};
use zgvault_proto::wire::{self, ErrorCode, KeyRequest, KeyResponse};
use zgvault_testnet::{Devnet, DevnetConfig};

const N: usize = 5;
const T: usize = 3;

struct World {
    devnet: Devnet,
    key_set: BlsKeySet,
    nodes: Vec<KeyNode>,
    _dir: tempfile::TempDir,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut config = DevnetConfig::new(dir.path());
        config.nodes = N;
        config.threshold = T;
        config.storage_nodes = 0;
        let devnet = Devnet::start(&config).await.unwrap();
        let net = devnet.manifest().key_network.clone().unwrap();
        let key_set = BlsKeySet::from_bytes(
            &hex::decode(net.public_key_set.trim_start_matches("0x")).unwrap(),
        )
        .unwrap();
        let nodes = net
            .nodes
            .iter()
            .map(|n| KeyNode {
                index: n.index,
                endpoint: zgvault_client::keys::Endpoint {
                    http: Some(n.http.clone()),
                    p2p: n
                        .p2p
                        .first()
                        .map(|a| (n.peer_id.parse().unwrap(), a.parse().unwrap())),
                },
                enc_key: n.encryption_key.0,
            })
            .collect();
        World {
            devnet,
            key_set,
            nodes,
            _dir: dir,
        }
    }

    fn provider(&self, who: &str) -> DynProvider {
        ProviderBuilder::new()
            .wallet(self.devnet.signer(who).unwrap())
            .connect_http(self.devnet.rpc_url().parse().unwrap())
            .erased()
    }

    fn address(&self, who: &str) -> Address {
        self.devnet.manifest().account(who).unwrap().address
    }

    fn signing_key(&self, who: &str) -> SigningKey {
        let hex_key = &self.devnet.manifest().account(who).unwrap().private_key;
        SigningKey::from_slice(&hex::decode(hex_key.trim_start_matches("0x")).unwrap()).unwrap()
    }

    fn file_ref(&self, id: B256) -> FileRef {
        FileRef {
            chain_id: self.devnet.manifest().chain_id,
            registry: self.devnet.manifest().contracts.file_registry,
            file_id: id,
        }
    }

    async fn head(&self) -> u64 {
        self.provider("deployer").get_block_number().await.unwrap()
    }

    /// Registers a file owned by `owner` under `salt`, gated by an AccessPass.
    async fn register_salted(
        &self,
        owner: &str,
        salt: B256,
        scheme: u8,
        capsule: Vec<u8>,
    ) -> FileRef {
        let contracts = &self.devnet.manifest().contracts;
        let registry = FileRegistry::new(contracts.file_registry, self.provider(owner));
        let reg = FileRegistry::Registration {
            rootHash: random_b256(),
            txSeq: U256::ZERO,
            size: U256::from(1234),
            scheme,
            capsule: Bytes::from(capsule),
            notBefore: 0,
            notAfter: 0,
            policy: vec![vec![policy::access_pass(contracts.access_pass)]],
        };
        let r = registry
            .register(salt, reg)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
        self.file_ref(file_id(self.address(owner), salt))
    }

    async fn register(&self, owner: &str, scheme: u8, capsule: Vec<u8>) -> FileRef {
        self.register_salted(owner, random_b256(), scheme, capsule)
            .await
    }

    /// A BLS-protected file: the capsule is bound to the file id, which follows from the
    /// owner and the salt, so the id is computed before registering.
    async fn bls_file(&self, owner: &str) -> (FileRef, FileKey, BlsCapsule) {
        let key = FileKey::generate().unwrap();
        let salt = random_b256();
        let file = self.file_ref(file_id(self.address(owner), salt));
        let capsule = self.key_set.encrypt_file_key(&file, &key).unwrap();
        let registered = self
            .register_salted(owner, salt, SCHEME_BLS, capsule.to_bytes())
            .await;
        assert_eq!(registered, file);
        (file, key, capsule)
    }

    async fn grant(&self, owner: &str, file: &FileRef, to: &str) -> U256 {
        let pass = AccessPass::new(
            self.devnet.manifest().contracts.access_pass,
            self.provider(owner),
        );
        let id = pass
            .mint(file.file_id, self.address(to))
            .call()
            .await
            .unwrap();
        let r = pass
            .mint(file.file_id, self.address(to))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
        id
    }

    async fn revoke(&self, owner: &str, token: U256) {
        let pass = AccessPass::new(
            self.devnet.manifest().contracts.access_pass,
            self.provider(owner),
        );
        let r = pass
            .burn(token)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    }

    /// A request signed by `who`, with a fresh response key.
    async fn request(
        &self,
        who: &str,
        file: &FileRef,
        scheme: Scheme,
        capsule: &[u8],
    ) -> (SignedAccessRequest, BoxSecretKey) {
        self.request_at(who, file, scheme, capsule, now(), self.head().await)
            .await
    }

    async fn request_at(
        &self,
        who: &str,
        file: &FileRef,
        scheme: Scheme,
        capsule: &[u8],
        issued_at: u64,
        at_block: u64,
    ) -> (SignedAccessRequest, BoxSecretKey) {
        let secret = BoxSecretKey::generate().unwrap();
        let req = AccessRequest::new(
            *file,
            scheme,
            secret.public_key(),
            capsule,
            issued_at,
            120,
            at_block,
        )
        .unwrap();
        (
            req.sign(&self.signing_key(who), capsule.to_vec()).unwrap(),
            secret,
        )
    }

    async fn recover_bls(
        &self,
        nodes: &[KeyNode],
        file: &FileRef,
        capsule: &BlsCapsule,
        signed: &SignedAccessRequest,
        secret: &BoxSecretKey,
    ) -> Result<Recovered, Error> {
        let combiner = self.key_set.combiner(file, capsule, self.nodes.len());
        recover_key(nodes, signed, secret, combiner, RecoverOptions::default()).await
    }
}

fn refused_with(err: &Error, code: ErrorCode) -> bool {
    matches!(err, Error::KeyRequestRefused { code: c, .. } if *c == code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bls_gate_grant_revoke_and_bad_requests() {
    let w = World::new().await;
    let (file, key, capsule) = w.bls_file("alice").await;
    let cap = capsule.to_bytes();

    // Bob has no pass: every node refuses, and the error says so once.
    let (req, secret) = w.request("bob", &file, Scheme::Bls, &cap).await;
    let err = w
        .recover_bls(&w.nodes, &file, &capsule, &req, &secret)
        .await
        .unwrap_err();
    assert!(refused_with(&err, ErrorCode::AccessDenied), "{err}");

    // Alice grants Bob a pass: Bob recovers K.
    let token = w.grant("alice", &file, "bob").await;
    let (req, secret) = w.request("bob", &file, Scheme::Bls, &cap).await;
    let got = w
        .recover_bls(&w.nodes, &file, &capsule, &req, &secret)
        .await
        .unwrap();
    assert!(got.key == key, "recovered a different key");
    assert!(got.used.len() >= T);

    // The same signed request again is a replay.
    let err = w
        .recover_bls(&w.nodes, &file, &capsule, &req, &secret)
        .await
        .unwrap_err();
    assert!(refused_with(&err, ErrorCode::Replay), "{err}");

    // Expired and future-dated requests.
    let head = w.head().await;
    let (old, s) = w
        .request_at("bob", &file, Scheme::Bls, &cap, now() - 3600, head)
        .await;
    let err = w
        .recover_bls(&w.nodes, &file, &capsule, &old, &s)
        .await
        .unwrap_err();
    assert!(refused_with(&err, ErrorCode::Expired), "{err}");
    let (future, s) = w
        .request_at("bob", &file, Scheme::Bls, &cap, now() + 3600, head)
        .await;
    let err = w
        .recover_bls(&w.nodes, &file, &capsule, &future, &s)
        .await
        .unwrap_err();
    assert!(
        refused_with(&err, ErrorCode::Expired),
        "not yet valid: {err}"
    );

    // A request whose signature is not over its fields (forged: fields changed after
    // signing) recovers another address, which has no pass.
    let (good, s) = w.request("bob", &file, Scheme::Bls, &cap).await;
    let mut fields = good.request().clone();
    fields.at_block = fields.at_block.saturating_sub(1);
    let forged = SignedAccessRequest::from_parts(fields, *good.signature(), cap.clone());
    let err = w
        .recover_bls(&w.nodes, &file, &capsule, &forged, &s)
        .await
        .unwrap_err();
    assert!(
        refused_with(&err, ErrorCode::AccessDenied) || refused_with(&err, ErrorCode::BadSignature),
        "{err}"
    );

    // A capsule of another file, correctly signed: every node sees it is not the
    // registered one.
    let (_, _, other_capsule) = w.bls_file("alice").await;
    let (swapped, s) = w
        .request("bob", &file, Scheme::Bls, &other_capsule.to_bytes())
        .await;
    let err = w
        .recover_bls(&w.nodes, &file, &capsule, &swapped, &s)
        .await
        .unwrap_err();
    assert!(refused_with(&err, ErrorCode::CapsuleMismatch), "{err}");

    // Revocation: Alice burns the pass, Bob is refused again.
    w.revoke("alice", token).await;
    let (req, secret) = w.request("bob", &file, Scheme::Bls, &cap).await;
    let err = w
        .recover_bls(&w.nodes, &file, &capsule, &req, &secret)
        .await
        .unwrap_err();
    assert!(refused_with(&err, ErrorCode::AccessDenied), "{err}");

    // The owner can always read.
    let (req, secret) = w.request("alice", &file, Scheme::Bls, &cap).await;
    let got = w
        .recover_bls(&w.nodes, &file, &capsule, &req, &secret)
        .await
        .unwrap();
    assert!(got.key == key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_holds_under_dead_and_lying_nodes() {
    let mut w = World::new().await;
    let (file, key, capsule) = w.bls_file("alice").await;
    let cap = capsule.to_bytes();

    // t-1 nodes cannot recover K.
    let (req, s) = w.request("alice", &file, Scheme::Bls, &cap).await;
    let err = w
        .recover_bls(&w.nodes[..T - 1], &file, &capsule, &req, &s)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotEnoughKeyShares {
                good: 2,
                needed: 3,
                ..
            }
        ),
        "{err}"
    );

    // n-t nodes lie: their URLs point at a server answering garbage. K is still
    // recovered, and the liars are named.
    let liar = garbage_server().await;
    let mut lying = w.nodes.clone();
    for n in lying.iter_mut().take(N - T) {
        n.endpoint.http = Some(liar.clone());
        n.endpoint.p2p = None;
    }
    let (req, s) = w.request("alice", &file, Scheme::Bls, &cap).await;
    let got = w
        .recover_bls(&lying, &file, &capsule, &req, &s)
        .await
        .unwrap();
    assert!(got.key == key);
    assert!(
        got.used.iter().all(|i| *i as usize >= N - T),
        "used a liar: {:?}",
        got.used
    );

    // n-t nodes down: K is still recovered from the rest.
    for i in 0..N - T {
        w.devnet
            .kill_process(&format!("keynode-{}", i + 1))
            .unwrap();
    }
    let (req, s) = w.request("alice", &file, Scheme::Bls, &cap).await;
    let got = w
        .recover_bls(&w.nodes, &file, &capsule, &req, &s)
        .await
        .unwrap();
    assert!(got.key == key);
    assert!(
        got.used.iter().all(|i| *i as usize >= N - T),
        "used a dead node: {:?}",
        got.used
    );

    // The chain goes away: the remaining nodes fail closed.
    w.devnet.kill_process("chain").unwrap();
    let (req, s) = {
        // Sign offline at the last known block: the nodes must still refuse.
        let secret = BoxSecretKey::generate().unwrap();
        let r = AccessRequest::new(file, Scheme::Bls, secret.public_key(), &cap, now(), 120, 1)
            .unwrap();
        (
            r.sign(&w.signing_key("alice"), cap.clone()).unwrap(),
            secret,
        )
    };
    let err = w
        .recover_bls(&w.nodes, &file, &capsule, &req, &s)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("CHAIN_UNAVAILABLE"),
        "nodes must refuse when their chain is down: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shamir_deposits_survive_a_node_restart() {
    let mut w = World::new().await;
    let split = split_new_file_key(T, N).unwrap();
    let commitments = split.commitments.clone();
    let file = w
        .register("alice", SCHEME_SHAMIR, commitments.to_bytes())
        .await;
    let owner = w.signing_key("alice");
    let http = alloy::transports::http::reqwest::Client::new();
    for (share, node) in split.shares.iter().zip(&w.nodes) {
        let node_key = zgvault_proto::sealbox::BoxPublicKey::from_bytes(node.enc_key);
        let deposit = ShareDeposit::new(file, share, &node_key, commitments.clone(), now())
            .unwrap()
            .sign(&owner)
            .unwrap();
        let body = wire::encode_request(&KeyRequest::Deposit(deposit));
        let resp = post(&http, node.endpoint.http.as_deref().unwrap(), body).await;
        assert!(matches!(resp, KeyResponse::DepositAck(_)), "{resp:?}");
    }

    // Node 1 is killed and restarted: the share it acknowledged is still there.
    w.devnet.kill_process("keynode-1").unwrap();
    let url = w.devnet.restart_process("keynode-1").unwrap();
    w.nodes[0].endpoint.http = Some(url);
    w.nodes[0].endpoint.p2p = None;

    w.grant("alice", &file, "bob").await;
    let cap = commitments.to_bytes();
    let (req, secret) = w.request("bob", &file, Scheme::Shamir, &cap).await;
    // Only node 1 and two others: node 1's share is needed.
    let subset = [w.nodes[0].clone(), w.nodes[1].clone(), w.nodes[2].clone()];
    let got = recover_key(
        &subset,
        &req,
        &secret,
        commitments.combiner(N),
        RecoverOptions::default(),
    )
    .await
    .unwrap();
    assert!(got.key == split.key, "recovered a different key");

    // A deposit signed by someone who does not own the file is refused.
    let mallory = w.signing_key("carol");
    let node_key = zgvault_proto::sealbox::BoxPublicKey::from_bytes(w.nodes[1].enc_key);
    let deposit = ShareDeposit::new(
        file,
        &split.shares[1],
        &node_key,
        commitments.clone(),
        now(),
    )
    .unwrap()
    .sign(&mallory)
    .unwrap();
    let resp = post(
        &http,
        w.nodes[1].endpoint.http.as_deref().unwrap(),
        wire::encode_request(&KeyRequest::Deposit(deposit)),
    )
    .await;
    assert!(
        matches!(resp, KeyResponse::Error(ref e) if e.code == ErrorCode::NotOwner),
        "{resp:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages_get_errors_and_the_node_keeps_serving() {
    let w = World::new().await;
    let http = alloy::transports::http::reqwest::Client::new();
    let url = w.nodes[0].endpoint.http.clone().unwrap();
    let garbage = post(&http, &url, vec![0xff; 100]).await;
    assert!(
        matches!(garbage, KeyResponse::Error(ref e) if e.code == ErrorCode::Malformed),
        "{garbage:?}"
    );
    let huge = http
        .post(format!("{url}/v1/keys"))
        .header("content-type", "application/x-protobuf")
        .body(vec![0u8; 1 << 20])
        .send()
        .await;
    match huge {
        Ok(resp) => assert!(resp.status().is_client_error() || resp.status().is_success()),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // Still serving: a valid request for a file Bob can read.
    let (file, key, capsule) = w.bls_file("alice").await;
    w.grant("alice", &file, "bob").await;
    let (req, secret) = w
        .request("bob", &file, Scheme::Bls, &capsule.to_bytes())
        .await;
    let got = w
        .recover_bls(&w.nodes, &file, &capsule, &req, &secret)
        .await
        .unwrap();
    assert!(got.key == key);
}

async fn post(
    http: &alloy::transports::http::reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> KeyResponse {
    let resp = http
        .post(format!("{url}/v1/keys"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    wire::decode_response(&resp.bytes().await.unwrap()).unwrap()
}

/// A "node" that answers every request with random bytes: a lying share-holder.
async fn garbage_server() -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/keys",
        post(|| async {
            (0..200)
                .map(|i: u32| (i * 37 % 251) as u8)
                .collect::<Vec<u8>>()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn random_b256() -> B256 {
    B256::from(*FileKey::generate().unwrap().as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_over_libp2p_with_the_real_nodes() {
    let w = World::new().await;
    let (file, key, capsule) = w.bls_file("alice").await;
    w.grant("alice", &file, "bob").await;
    let (req, secret) = w
        .request("bob", &file, Scheme::Bls, &capsule.to_bytes())
        .await;
    // Only libp2p addresses: no HTTP to fall back to.
    let p2p_only: Vec<KeyNode> = w
        .nodes
        .iter()
        .map(|n| KeyNode {
            endpoint: zgvault_client::keys::Endpoint {
                http: None,
                ..n.endpoint.clone()
            },
            ..n.clone()
        })
        .collect();
    assert!(p2p_only.iter().all(|n| n.endpoint.p2p.is_some()));
    let combiner = w.key_set.combiner(&file, &capsule, N);
    let opts = RecoverOptions {
        prefer: zgvault_client::keys::Transport::P2p,
        ..RecoverOptions::default()
    };
    let got = recover_key(&p2p_only, &req, &secret, combiner, opts)
        .await
        .unwrap();
    assert!(got.key == key);
}

/// Security issue, finding 1, against real node processes: Bob copies Alice's registered
/// capsule into a file of his own (registered with it, or moved onto it with `setCapsule`),
/// passes every node's gate for his file as its owner, opens every node's answer, and tries
/// to turn the answers into Alice's key. He must get nothing, while Alice's grantees still
/// can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transplant_of_a_registered_capsule_recovers_nothing_from_real_nodes() {
    let w = World::new().await;
    let (victim, victim_key, victim_capsule) = w.bls_file("alice").await;
    let copied = victim_capsule.to_bytes();

    // Way 1: Bob registers a new file with Alice's capsule bytes.
    let registered = w.register("bob", SCHEME_BLS, copied.clone()).await;
    // Way 2: Bob registers a file with a capsule of his own, then swaps in Alice's.
    let (swapped, _, _) = w.bls_file("bob").await;
    let registry = FileRegistry::new(
        w.devnet.manifest().contracts.file_registry,
        w.provider("bob"),
    );
    let receipt = registry
        .setCapsule(swapped.file_id, SCHEME_BLS, Bytes::from(copied.clone()))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());

    let http = alloy::transports::http::reqwest::Client::new();
    for attacker_file in [registered, swapped] {
        // Bob asks every node for his own file, carrying the copied capsule.
        let (req, secret) = w.request("bob", &attacker_file, Scheme::Bls, &copied).await;
        let body = wire::encode_request(&KeyRequest::Access(req.clone()));
        let mut answers = Vec::new();
        for node in &w.nodes {
            match post(&http, node.endpoint.http.as_deref().unwrap(), body.clone()).await {
                KeyResponse::Partial(sealed) => {
                    let share = sealed.open(&secret, &req.hash()).unwrap();
                    answers.push((sealed.node_index, share.to_vec()));
                }
                other => panic!("node {} refused its owner: {other:?}", node.index),
            }
        }
        assert_eq!(answers.len(), N, "every node answered Bob for his own file");
        let got = transplant::transplant_attempts(
            &w.key_set,
            &victim,
            &victim_capsule,
            &attacker_file,
            &answers,
        );
        assert!(
            got.is_none_or(|k| k != victim_key),
            "Bob recovered Alice's key through file {}",
            attacker_file.file_id
        );
    }

    // The nodes still serve Alice's file to whoever she grants.
    w.grant("alice", &victim, "carol").await;
    let (req, secret) = w.request("carol", &victim, Scheme::Bls, &copied).await;
    let got = w
        .recover_bls(&w.nodes, &victim, &victim_capsule, &req, &secret)
        .await
        .unwrap();
    assert!(got.key == victim_key);
}

/// Security issue, finding 4: a requester may sign any `atBlock` in the freshness window, so
/// without a second look a pass burned at block N kept working for requests signed at N-1.
/// The nodes also ask `canAccess` at their newest trusted block: refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_bites_at_the_head_even_for_a_request_signed_before_it() {
    let w = World::new().await;
    let (file, _, capsule) = w.bls_file("alice").await;
    let cap = capsule.to_bytes();
    let token = w.grant("alice", &file, "bob").await;
    let before = w.head().await;
    w.revoke("alice", token).await;
    assert!(w.head().await > before);

    // Bob signs at the block before the burn, well inside the window.
    let (req, secret) = w
        .request_at("bob", &file, Scheme::Bls, &cap, now(), before)
        .await;
    let err = w
        .recover_bls(&w.nodes, &file, &capsule, &req, &secret)
        .await
        .unwrap_err();
    assert!(refused_with(&err, ErrorCode::AccessDenied), "{err}");
}

/// Files whose capsule is of the first, unbound format (176 bytes) are refused by every node
/// with a message that says what to do; nothing is released for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_capsule_format_is_refused_by_the_nodes_with_a_clear_message() {
    let w = World::new().await;
    let old = vec![0x5a; 176];
    let file = w.register("alice", SCHEME_BLS, old.clone()).await;
    let (req, _) = w.request("alice", &file, Scheme::Bls, &old).await;
    let body = wire::encode_request(&KeyRequest::Access(req));
    let http = alloy::transports::http::reqwest::Client::new();
    for node in &w.nodes {
        match post(&http, node.endpoint.http.as_deref().unwrap(), body.clone()).await {
            KeyResponse::Error(reply) => {
                assert_eq!(reply.code, ErrorCode::CapsuleMismatch, "{reply:?}");
                assert!(
                    reply.message.contains("put the file again"),
                    "{}",
                    reply.message
                );
            }
            other => panic!("node {} answered a retired capsule: {other:?}", node.index),
        }
    }
    // The client says the same before asking anyone.
    let err = BlsCapsule::from_bytes(&old).unwrap_err();
    assert!(err.to_string().contains("retired"), "{err}");
}
