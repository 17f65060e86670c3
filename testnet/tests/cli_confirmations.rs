//! Key nodes and a custodial vault that answer only for blocks 2 deep (`chain.confirmations
//! = 2`, as node/README recommends on a real chain), on a chain that keeps producing blocks
//! (anvil mines one a second besides one per transaction), with the `zgvault` CLI as a user
//! runs it: gets right after a put and a grant, threshold and custodial; custody moves both
//! ways (each reads K back through the new custody right after `setCapsule`); a vault that
//! does not report its confirmations (an older node: the client re-signs deeper after
//! `NOT_CONFIRMED`); and, with the chain paused, a get that waits for the grant to become
//! deep enough, says so, and succeeds once the blocks come.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod cli_common;

use std::io::BufRead;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use alloy::providers::{Provider, ProviderBuilder};
use alloy::transports::http::reqwest;
use axum::extract::State;
use cli_common::{user, write_data};
use serde_json::Value;
use zgvault_testnet::{Devnet, DevnetConfig, VaultKek};

/// The nodes' and the vault's `chain.confirmations` on this devnet.
const CONFIRMATIONS: u64 = 2;

/// The vault as an older `zgvault-node` shows it: its `/v1/info` without `confirmations`
/// and `freshness_blocks`, its `/v1/keys` answers passed through unchanged. Counts the
/// `NOT_CONFIRMED` answers it passed on.
async fn vault_not_reporting_confirmations(vault: String) -> (String, Arc<AtomicU32>) {
    #[derive(Clone)]
    struct Proxy {
        vault: String,
        not_confirmed: Arc<AtomicU32>,
    }
    async fn info(State(proxy): State<Proxy>) -> String {
        let mut info: Value = reqwest::get(format!("{}/v1/info", proxy.vault))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let fields = info.as_object_mut().unwrap();
        fields.remove("confirmations");
        fields.remove("freshness_blocks");
        info.to_string()
    }
    async fn keys(
        State(proxy): State<Proxy>,
        body: axum::body::Bytes,
    ) -> (axum::http::StatusCode, Vec<u8>) {
        use zgvault_proto::wire::{ErrorCode, KeyResponse, decode_response};
        let (status, bytes) = cli_common::forward_keys(&proxy.vault, body).await;
        if let Ok(KeyResponse::Error(reply)) = decode_response(&bytes)
            && reply.code == ErrorCode::NotConfirmed
        {
            proxy.not_confirmed.fetch_add(1, Ordering::SeqCst);
        }
        (status, bytes)
    }
    let not_confirmed = Arc::new(AtomicU32::new(0));
    let router = axum::Router::new()
        .route("/v1/info", axum::routing::get(info))
        .route("/v1/keys", axum::routing::post(keys))
        .with_state(Proxy {
            vault,
            not_confirmed: not_confirmed.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), not_confirmed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_and_custody_moves_with_confirmations_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 5;
    config.threshold = 3;
    config.storage_nodes = 2;
    config.vault = Some(VaultKek::Softhsm);
    config.confirmations = CONFIRMATIONS;
    let devnet = Devnet::start(&config).await.unwrap();
    let vault_url = devnet.vault().unwrap().http.clone();
    let (alice, _) = user(dir.path(), "alice", &devnet);
    let (bob, bob_addr) = user(dir.path(), "bob", &devnet);
    let (carol, carol_addr) = user(dir.path(), "carol", &devnet);

    // --- Threshold (BLS): Bob reads a file granted a moment ago.
    let a_path = dir.path().join("a.csv");
    let a_data = write_data(&a_path, 3000, "a");
    let a = alice.json(&["put", a_path.to_str().unwrap(), "--gate", "pass"])["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.json(&["grant", &a, "--to", &bob_addr]);
    let bob_a = dir.path().join("bob-a.csv");
    let got = bob.json(&["get", &a, "-o", bob_a.to_str().unwrap()]);
    assert!(got["keyNodesUsed"].as_array().unwrap().len() >= 3, "{got}");
    assert!(
        std::fs::read(&bob_a).unwrap() == a_data,
        "not byte-identical"
    );

    // --- Custodial: the vault runs the same gate.
    let b_path = dir.path().join("b.csv");
    let b_data = write_data(&b_path, 2000, "b");
    let b = alice.json(&["put", b_path.to_str().unwrap(), "--custody", "custodial"])["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.json(&["grant", &b, "--to", &bob_addr]);
    let bob_b = dir.path().join("bob-b.csv");
    let got = bob.json(&["get", &b, "-o", bob_b.to_str().unwrap()]);
    assert_eq!(got["vault"], vault_url.as_str(), "{got}");
    assert!(
        std::fs::read(&bob_b).unwrap() == b_data,
        "not byte-identical"
    );

    // --- Custody moves: each reads K back through the new custody right after
    // `setCapsule`, whose new capsule the nodes see only once it is 2 blocks deep.
    let moved = alice.json(&["custody", &b, "--to", "threshold"]);
    assert_eq!(moved["to"], "threshold", "{moved}");
    std::fs::remove_file(&bob_b).unwrap();
    let got = bob.json(&["get", &b, "-o", bob_b.to_str().unwrap()]);
    assert!(got["keyNodesUsed"].as_array().unwrap().len() >= 3, "{got}");
    assert!(
        std::fs::read(&bob_b).unwrap() == b_data,
        "not byte-identical"
    );
    let moved = alice.json(&["custody", &a, "--to", "custodial"]);
    assert_eq!(moved["to"], "custodial", "{moved}");

    // --- A vault that does not report its confirmations: the client signs at the head,
    // is told NOT_CONFIRMED, and signs again deeper.
    let (older, not_confirmed) = vault_not_reporting_confirmations(vault_url.clone()).await;
    std::fs::remove_file(&bob_a).unwrap();
    let got = bob.json(&[
        "get",
        &a,
        "-o",
        bob_a.to_str().unwrap(),
        "--vault-url",
        &older,
    ]);
    assert_eq!(got["vault"], older.as_str(), "{got}");
    assert!(
        std::fs::read(&bob_a).unwrap() == a_data,
        "not byte-identical"
    );
    assert!(
        not_confirmed.load(Ordering::SeqCst) >= 1,
        "the first request, at the head, should have been refused NOT_CONFIRMED"
    );

    // --- The chain stops mining on its own (transactions still are): Carol's get of a
    // file granted to her at the head waits, says what for, and succeeds once two more
    // blocks are mined.
    let provider = ProviderBuilder::new().connect_http(devnet.rpc_url().parse().unwrap());
    provider
        .raw_request::<_, ()>("evm_setIntervalMining".into(), (0u64,))
        .await
        .unwrap();
    provider
        .raw_request::<_, ()>("anvil_setAutomine".into(), (true,))
        .await
        .unwrap();
    alice.json(&["grant", &b, "--to", &carol_addr]);
    let granted_at = provider.get_block_number().await.unwrap();
    let carol_b = dir.path().join("carol-b.csv");
    let mut get = carol
        .command(&["get", &b, "-o", carol_b.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(get.stderr.take().unwrap()).lines();
    let waiting = format!(
        "waiting for the chain to reach block {}",
        granted_at + CONFIRMATIONS
    );
    let mut said = Vec::new();
    // Until the get says it waits (or ends: then the assertion below shows what it said).
    for line in lines.by_ref() {
        let line = line.unwrap();
        let found = line.contains(&waiting);
        said.push(line);
        if found {
            break;
        }
    }
    assert!(
        said.iter().any(|l| l.contains(&waiting)),
        "carol's get did not say {waiting:?}: {said:?}"
    );
    provider
        .raw_request::<_, ()>("anvil_mine".into(), (CONFIRMATIONS,))
        .await
        .unwrap();
    said.extend(lines.map(Result::unwrap));
    let status = get.wait().unwrap();
    assert!(status.success(), "carol's get failed: {said:?}");
    assert!(
        std::fs::read(&carol_b).unwrap() == b_data,
        "not byte-identical"
    );
}
