//! Replay-cache exhaustion (security finding 2): a flood of well-signed requests from fresh
//! signers, every one of them refused, must not keep an authorized user from being served,
//! on a share-holder node and on the custodial vault. The real `KeyService` with its default
//! replay cache, a real FileRegistry on a loopback anvil read through `AlloyChain`, and a new
//! random secp256k1 key for every flooding signer (signers cost an attacker nothing).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use alloy_primitives::{Address, B256};
use common::{
    anvil::{Anvil, start_anvil},
    now,
    registry::Registry,
};
use futures::{StreamExt, stream};
use k256::ecdsa::SigningKey;
use zgvault_contracts::SCHEME_BLS;
use zgvault_node::{
    AlloyChain, DEFAULT_RATE_BURST, DEFAULT_REPLAY_CACHE_SIZE, DEFAULT_REQUESTER_BURST, KeyService,
    MAX_TRACKED_ORIGINS, NodeConfig, NodeKeys, Origin, REFUSAL_AUDIT_BURST,
    REFUSAL_AUDIT_LINES_PER_SEC, ShareStore, Vault,
};
use zgvault_proto::{
    FileKey,
    request::{
        AccessRequest, FileRef, KeyDeposit, MAX_REQUEST_LIFETIME_SECS, Scheme, Shred, address_of,
    },
    sealbox::{BoxPublicKey, BoxSecretKey},
    threshold::{BlsCapsule, BlsKeySet, deal_bls_key_set},
    wire::{ErrorCode, KeyRequest, KeyResponse, decode_response, encode_request},
};

/// Fresh signers in a flood.
const FRESH_SIGNERS: usize = 10_000;
/// Messages each fresh signer sends to a share-holder node: within its signer burst, and all
/// together as many as the default replay cache holds.
const MESSAGES_PER_SIGNER: usize = 10;
/// Origins the many-origins floods come from (each sends at most its burst).
const FLOOD_ORIGINS: usize = 1_000;
/// Flood messages in flight at once: below the node's concurrency cap, so that none is
/// refused for that instead of reaching the replay cache.
const FLOOD_CONCURRENCY: usize = 64;

// The floods are the attack at the node's real defaults: enough messages to fill the replay
// cache, each within its signer's burst and, from many origins, within its origin's burst.
const _: () = {
    assert!(FRESH_SIGNERS * MESSAGES_PER_SIGNER >= DEFAULT_REPLAY_CACHE_SIZE);
    assert!(MESSAGES_PER_SIGNER <= DEFAULT_REQUESTER_BURST as usize);
    assert!(FRESH_SIGNERS * MESSAGES_PER_SIGNER / FLOOD_ORIGINS <= DEFAULT_RATE_BURST as usize);
    assert!(FLOOD_ORIGINS < MAX_TRACKED_ORIGINS);
};

/// A share-holder node (share 0 of a 2-of-3 BLS key set) gating on a real FileRegistry, with
/// one BLS file the registry's reader is allow-listed for.
struct Node {
    _anvil: Anvil,
    _dir: tempfile::TempDir,
    registry: Registry,
    service: KeyService,
    key_set: BlsKeySet,
    file: FileRef,
    capsule: BlsCapsule,
    head: u64,
}

async fn threshold_node(edit: impl FnOnce(&mut NodeConfig)) -> Node {
    let anvil = start_anvil();
    let rpc = anvil.rpc_url().to_owned();
    let registry = Registry::deploy(&rpc).await;
    let (key_set, shares) = deal_bls_key_set(2, 3).unwrap();
    let file = registry.file_ref(1);
    let capsule = key_set
        .encrypt_file_key(&file, &FileKey::generate().unwrap())
        .unwrap();
    registry.register(1, SCHEME_BLS, capsule.to_bytes()).await;
    registry.allow(&file, address_of(&registry.reader)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::default_config(dir.path());
    config.chain.rpc_url = rpc.parse().unwrap();
    config.chain.file_registry = registry.address();
    edit(&mut config);
    let keys = NodeKeys::load_or_create(dir.path()).unwrap();
    let store = ShareStore::open(dir.path(), &keys.store).unwrap();
    store.put_bls_share(&shares[0]).unwrap();
    let chain = AlloyChain::new(&rpc.parse().unwrap(), registry.address()).unwrap();
    let service = KeyService::new(&config, keys, store, Arc::new(chain)).unwrap();
    let head = registry.head().await;
    Node {
        _anvil: anvil,
        _dir: dir,
        registry,
        service,
        key_set,
        file,
        capsule,
        head,
    }
}

/// `per_signer` messages from each of `signers` new random keys, made by `make(signer,
/// i)`, signed on every core.
fn sign_flood(
    signers: usize,
    per_signer: usize,
    make: impl Fn(&SigningKey, usize) -> Vec<u8> + Sync,
) -> Vec<Vec<u8>> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = signers.div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let make = &make;
                scope.spawn(move || {
                    let mine = chunk.min(signers.saturating_sub(t * chunk));
                    let mut messages = Vec::with_capacity(mine * per_signer);
                    for _ in 0..mine {
                        let signer = SigningKey::random(&mut rand_core::OsRng);
                        for i in 0..per_signer {
                            messages.push(make(&signer, i));
                        }
                    }
                    messages
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

/// Sends every message to `service`, message `i` from `origin(i)`, [`FLOOD_CONCURRENCY`]
/// at a time; returns how many got each answer (`released` or the refusal's code).
async fn flood(
    service: &KeyService,
    messages: Vec<Vec<u8>>,
    origin: impl Fn(usize) -> Origin,
) -> BTreeMap<String, usize> {
    let started = Instant::now();
    let count = messages.len();
    let answers = stream::iter(messages.into_iter().enumerate())
        .map(|(i, bytes)| {
            let service = service.clone();
            let origin = origin(i);
            async move { decode_response(&service.handle(origin, &bytes).await).unwrap() }
        })
        .buffer_unordered(FLOOD_CONCURRENCY)
        .fold(BTreeMap::new(), |mut counts, answer| async move {
            let label = match answer {
                KeyResponse::Error(reply) => reply.code.as_str_name().to_owned(),
                _ => "released".to_owned(),
            };
            *counts.entry(label).or_insert(0) += 1;
            counts
        })
        .await;
    eprintln!(
        "flood: {count} messages in {:.1} s: {answers:?}",
        started.elapsed().as_secs_f64()
    );
    answers
}

fn http_origin(i: usize) -> Origin {
    Origin {
        transport: "http",
        id: format!("198.51.{}.{}", i / 256, i % 256),
    }
}

/// A request for `node`'s file signed by `wallet`, and the key its answer is sealed to.
fn request(node: &Node, wallet: &SigningKey) -> (Vec<u8>, BoxSecretKey, B256) {
    let response_key = BoxSecretKey::generate().unwrap();
    let capsule = node.capsule.to_bytes();
    let request = AccessRequest::new(
        node.file,
        Scheme::Bls,
        response_key.public_key(),
        &capsule,
        now(),
        120,
        node.head,
    )
    .unwrap()
    .sign(wallet, capsule)
    .unwrap();
    let hash = request.hash();
    (
        encode_request(&KeyRequest::Access(request)),
        response_key,
        hash,
    )
}

async fn ask(node: &Node, origin: &Origin, bytes: &[u8]) -> KeyResponse {
    decode_response(&node.service.handle(origin.clone(), bytes).await).unwrap()
}

#[track_caller]
fn refusal(answer: &KeyResponse) -> (ErrorCode, String) {
    match answer {
        KeyResponse::Error(reply) => (reply.code, reply.message.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The reader asks `node` for its file from `origin`: the partial must open and verify, and
/// the answered request, replayed, must be refused as a replay.
async fn reader_is_served(node: &Node, origin: Origin) {
    let (bytes, response_key, hash) = request(node, &node.registry.reader);
    let answer = ask(node, &origin, &bytes).await;
    let KeyResponse::Partial(sealed) = answer else {
        panic!("the authorized reader was not served after the flood: {answer:?}");
    };
    let partial = sealed.open(&response_key, &hash).unwrap();
    node.key_set
        .combiner(&node.file, &node.capsule, 3)
        .add(sealed.node_index, &partial)
        .unwrap();
    let (code, message) = refusal(&ask(node, &origin, &bytes).await);
    assert_eq!(code, ErrorCode::Replay, "{message}");
}

fn replay_cache_entries(service: &KeyService) -> usize {
    let metrics = service.metrics_text();
    let line = metrics
        .lines()
        .find_map(|l| l.strip_prefix("zgvault_node_replay_cache_entries "))
        .unwrap();
    line.trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_flood_from_fresh_signers_on_many_origins_then_an_authorized_reader_is_served() {
    let total = FRESH_SIGNERS * MESSAGES_PER_SIGNER;
    let node = threshold_node(|_| {}).await;

    // Access requests for a file that does not exist: what a stranger sends at no cost.
    let unknown = node.registry.file_ref(999);
    let capsule = node.capsule.to_bytes();
    let response_key = BoxSecretKey::generate().unwrap().public_key();
    let head = node.head;
    let signed = Instant::now();
    let messages = sign_flood(FRESH_SIGNERS, MESSAGES_PER_SIGNER, |signer, _| {
        let request = AccessRequest::new(
            unknown,
            Scheme::Bls,
            response_key,
            &capsule,
            now(),
            MAX_REQUEST_LIFETIME_SECS,
            head,
        )
        .unwrap()
        .sign(signer, capsule.clone())
        .unwrap();
        encode_request(&KeyRequest::Access(request))
    });
    eprintln!(
        "signed {} messages in {:.1} s",
        messages.len(),
        signed.elapsed().as_secs_f64()
    );
    let answers = flood(&node.service, messages, |i| http_origin(i % FLOOD_ORIGINS)).await;
    assert_eq!(
        answers,
        BTreeMap::from([("UNKNOWN_FILE".to_owned(), total)]),
        "every flood message must pass the origin and signer limits and be refused by the gate"
    );

    reader_is_served(&node, http_origin(FLOOD_ORIGINS + 1)).await;
    assert_eq!(
        replay_cache_entries(&node.service),
        1,
        "only the answered request is remembered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_flood_from_fresh_signers_on_one_origin_then_an_authorized_reader_is_served() {
    // One origin with a generous rate, as a node behind a reverse proxy is configured (every
    // client shares the proxy's address); the reader comes through the same proxy.
    let node = threshold_node(|c| {
        c.limits.rate_per_sec = 1_000_000;
        c.limits.rate_burst = 1_000_000;
    })
    .await;
    let proxy = Origin {
        transport: "http",
        id: "203.0.113.7".into(),
    };

    // Shreds addressed to some other holder: refused before any chain call.
    let total = FRESH_SIGNERS * MESSAGES_PER_SIGNER;
    let elsewhere = BoxSecretKey::generate().unwrap().public_key();
    let registry = &node.registry;
    let messages = sign_flood(FRESH_SIGNERS, MESSAGES_PER_SIGNER, |signer, i| {
        let shred = Shred {
            file: registry.file_ref(1_000 + i as u64),
            holder: elsewhere,
            issued_at: now(),
        }
        .sign(signer)
        .unwrap();
        encode_request(&KeyRequest::Shred(shred))
    });
    let answers = flood(&node.service, messages, |_| proxy.clone()).await;
    assert_eq!(
        answers,
        BTreeMap::from([("WRONG_DOMAIN".to_owned(), total)]),
        "every flood message must pass the origin and signer limits and be refused"
    );

    reader_is_served(&node, proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_flood_on_the_vault_then_a_reader_gets_k_and_refusals_do_not_each_cost_an_audit_line()
 {
    let anvil = start_anvil();
    let rpc = anvil.rpc_url().to_owned();
    let registry = Registry::deploy(&rpc).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::vault_config(dir.path());
    config.chain.rpc_url = rpc.parse().unwrap();
    config.chain.file_registry = registry.address();
    let keys = NodeKeys::load_or_create(dir.path()).unwrap();
    let store = ShareStore::open(dir.path(), &keys.store).unwrap();
    // The refusal-line bucket starts full here.
    let opened = Instant::now();
    let vault = Arc::new(Vault::open(&config).unwrap());
    let chain = AlloyChain::new(&rpc.parse().unwrap(), registry.address()).unwrap();
    let service =
        KeyService::custodial(&config, keys, store, Arc::new(chain), Arc::clone(&vault)).unwrap();
    let vault_key = BoxPublicKey::from_bytes(service.info().encryption_key.0);
    let key = FileKey::generate().unwrap();
    let file = registry.register_custodial(1, vault_key, &key).await;
    let reader = address_of(&registry.reader);
    registry.allow(&file, reader).await;
    let deposit = KeyDeposit::new(file, &key, &vault_key, now())
        .unwrap()
        .sign(&registry.owner)
        .unwrap();
    let ack = decode_response(
        &service
            .handle(
                http_origin(0),
                &encode_request(&KeyRequest::KeyDeposit(deposit)),
            )
            .await,
    )
    .unwrap();
    assert!(matches!(ack, KeyResponse::DepositAck(_)), "{ack:?}");
    let head = registry.head().await;

    // Strangers ask for the real file: each is refused ACCESS_DENIED by the registry.
    let response_key = BoxSecretKey::generate().unwrap().public_key();
    let messages = sign_flood(FRESH_SIGNERS, 1, |signer, _| {
        let request = AccessRequest::new(
            file,
            Scheme::Custodial,
            response_key,
            &[],
            now(),
            MAX_REQUEST_LIFETIME_SECS,
            head,
        )
        .unwrap()
        .sign(signer, Vec::new())
        .unwrap();
        encode_request(&KeyRequest::Access(request))
    });
    let answers = flood(&service, messages, |i| http_origin(i % FLOOD_ORIGINS)).await;
    let flooded_for = opened.elapsed();
    assert_eq!(
        answers,
        BTreeMap::from([("ACCESS_DENIED".to_owned(), FRESH_SIGNERS)])
    );

    // The reader gets K.
    let response = BoxSecretKey::generate().unwrap();
    let request = AccessRequest::new(
        file,
        Scheme::Custodial,
        response.public_key(),
        &[],
        now(),
        120,
        head,
    )
    .unwrap()
    .sign(&registry.reader, Vec::new())
    .unwrap();
    let answer = decode_response(
        &service
            .handle(
                http_origin(FLOOD_ORIGINS + 1),
                &encode_request(&KeyRequest::Access(request.clone())),
            )
            .await,
    )
    .unwrap();
    let KeyResponse::Key(sealed) = answer else {
        panic!("the reader was not served after the flood: {answer:?}");
    };
    assert_eq!(
        sealed.open(&response, &request.hash()).unwrap().as_slice(),
        key.as_bytes()
    );

    // The flood did not cost one fsync'd audit line per refusal: at most the refusal-line
    // bucket's burst and refill (however long the flood took on this machine); every other
    // refusal is counted, and the lines written after skipped ones say how many they were.
    // The deposit and the release are recorded.
    let owner = address_of(&registry.owner);
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.path().join(zgvault_node::DEFAULT_AUDIT_LOG))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let by = |who: Address| {
        lines
            .iter()
            .filter(|l| l["requester"].as_str().unwrap().parse::<Address>().unwrap() == who)
            .count()
    };
    assert_eq!(by(owner), 1, "the deposit");
    assert_eq!(by(reader), 1, "the release");
    let flood_lines = lines.len() - 2;
    let refill = u64::from(REFUSAL_AUDIT_LINES_PER_SEC) * (flooded_for.as_secs() + 1);
    let bound = u64::from(REFUSAL_AUDIT_BURST) + refill;
    assert!(
        flood_lines as u64 <= bound,
        "{flood_lines} audit lines for {FRESH_SIGNERS} refused strangers in {flooded_for:?} \
         (at most {bound})"
    );
    let unrecorded = vault.refusals_unrecorded();
    eprintln!("audit: {flood_lines} refusal lines written, {unrecorded} refusals counted only");
    assert_eq!(flood_lines as u64 + unrecorded, FRESH_SIGNERS as u64);
    let noted: u64 = lines
        .iter()
        .filter_map(|l| l["note"].as_str())
        .map(|note| note.split(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(
        noted <= unrecorded,
        "{noted} noted, {unrecorded} unrecorded"
    );
    assert!(service.metrics_text().contains(&format!(
        "zgvault_node_audit_refusals_unrecorded_total {unrecorded}"
    )));
    // The log still verifies: a vault opening it checks every line's chain and the MACs.
    drop(service);
    drop(vault);
    Vault::open(&config).unwrap();
}

// The rules the fix rests on, one by one, against the same real chain.

#[tokio::test]
async fn a_refused_request_leaves_no_replay_entry_and_may_be_sent_again() {
    let node = threshold_node(|_| {}).await;
    let origin = http_origin(0);
    let stranger = SigningKey::random(&mut rand_core::OsRng);
    let (denied, _, _) = request(&node, &stranger);
    for _ in 0..2 {
        let (code, message) = refusal(&ask(&node, &origin, &denied).await);
        assert_eq!(code, ErrorCode::AccessDenied, "{message}");
        assert_eq!(replay_cache_entries(&node.service), 0);
    }
    let shred = Shred {
        file: node.file,
        holder: BoxSecretKey::generate().unwrap().public_key(),
        issued_at: now(),
    }
    .sign(&stranger)
    .unwrap();
    let shred = encode_request(&KeyRequest::Shred(shred));
    for _ in 0..2 {
        let (code, message) = refusal(&ask(&node, &origin, &shred).await);
        assert_eq!(code, ErrorCode::WrongDomain, "{message}");
        assert_eq!(replay_cache_entries(&node.service), 0);
    }
}

#[tokio::test]
async fn an_answered_request_stays_remembered_and_its_replays_cost_its_signer_nothing() {
    let node = threshold_node(|c| {
        c.limits.requester_burst = 2;
        c.limits.requester_rate_per_min = 1;
    })
    .await;
    let origin = http_origin(0);
    let (first, _, _) = request(&node, &node.registry.reader);
    assert!(matches!(
        ask(&node, &origin, &first).await,
        KeyResponse::Partial(_)
    ));
    for _ in 0..5 {
        let (code, message) = refusal(&ask(&node, &origin, &first).await);
        assert_eq!(code, ErrorCode::Replay, "{message}");
    }
    assert_eq!(replay_cache_entries(&node.service), 1);
    // The signer's second token is still there; the third request finds the bucket empty.
    let (second, _, _) = request(&node, &node.registry.reader);
    assert!(matches!(
        ask(&node, &origin, &second).await,
        KeyResponse::Partial(_)
    ));
    let (third, _, _) = request(&node, &node.registry.reader);
    let (code, message) = refusal(&ask(&node, &origin, &third).await);
    assert_eq!(code, ErrorCode::RateLimited, "{message}");
    assert!(message.contains("too many requests signed by"), "{message}");
    assert_eq!(replay_cache_entries(&node.service), 2);
}

#[tokio::test]
async fn a_signer_at_its_replay_cache_share_is_refused_and_other_signers_are_served() {
    let node = threshold_node(|c| c.limits.replay_cache_per_signer = 2).await;
    let origin = http_origin(0);
    let (first, _, _) = request(&node, &node.registry.reader);
    let (second, _, _) = request(&node, &node.registry.reader);
    for bytes in [&first, &second] {
        assert!(matches!(
            ask(&node, &origin, bytes).await,
            KeyResponse::Partial(_)
        ));
    }
    let (third, _, _) = request(&node, &node.registry.reader);
    let (code, message) = refusal(&ask(&node, &origin, &third).await);
    assert_eq!(code, ErrorCode::RateLimited, "{message}");
    assert!(message.contains("limit per signer"), "{message}");
    // A replay is still a replay, and another signer (the owner) is served.
    let (code, _) = refusal(&ask(&node, &origin, &first).await);
    assert_eq!(code, ErrorCode::Replay);
    let (owners, _, _) = request(&node, &node.registry.owner);
    assert!(matches!(
        ask(&node, &origin, &owners).await,
        KeyResponse::Partial(_)
    ));
}

#[tokio::test]
async fn an_origin_at_its_replay_cache_share_is_refused_and_other_origins_are_served() {
    let node = threshold_node(|c| c.limits.replay_cache_per_origin = 2).await;
    let (busy, other) = (http_origin(1), http_origin(2));
    for wallet in [&node.registry.reader, &node.registry.owner] {
        let (bytes, _, _) = request(&node, wallet);
        assert!(matches!(
            ask(&node, &busy, &bytes).await,
            KeyResponse::Partial(_)
        ));
    }
    let (third, _, _) = request(&node, &node.registry.reader);
    let (code, message) = refusal(&ask(&node, &busy, &third).await);
    assert_eq!(code, ErrorCode::RateLimited, "{message}");
    assert!(message.contains("limit per origin"), "{message}");
    // Refused, so forgotten: the same request from another origin is served.
    assert!(matches!(
        ask(&node, &other, &third).await,
        KeyResponse::Partial(_)
    ));
}
