//! `zgvault policy --not-before/--not-after` and chunked event scans, through the binary
//! against a live devnet (3 key nodes, 2 of 3, one storage node): a window in the past
//! shuts a granted reader out, `none` lets them back in, a non-owner and an empty window
//! are refused before any transaction, and `ls`/`revoke` find their events when the scan
//! is forced into tiny chunks or the RPC refuses wide `eth_getLogs` ranges.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod cli_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::transports::http::reqwest;
use axum::extract::State;
use cli_common::{stderr, user};
use serde_json::{Value, json};
use zgvault_testnet::{Devnet, DevnetConfig};

/// The scan's chunk-size knob (`client/src/vault/events.rs`).
const CHUNK_ENV: &str = "ZGVAULT_LOG_CHUNK_BLOCKS";
/// 2020-01-01T23:59:59Z: `--not-after 2020-01-01` means through the end of that day.
const END_OF_2020_01_01: u64 = 1_577_923_199;

fn file_ids(ls: &Value) -> Vec<String> {
    ls["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fileId"].as_str().unwrap().to_owned())
        .collect()
}

/// A JSON-RPC proxy in front of the devnet's chain that refuses `eth_getLogs` over more
/// than `max_range` blocks the way a public endpoint does.
struct RangeLimitedRpc {
    upstream: String,
    http: reqwest::Client,
    max_range: AtomicU64,
    get_logs: AtomicU64,
    refused: AtomicU64,
}

async fn proxy(
    State(p): State<Arc<RangeLimitedRpc>>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let req: Value = serde_json::from_slice(&body).unwrap();
    if req["method"] == "eth_getLogs" {
        p.get_logs.fetch_add(1, Ordering::SeqCst);
        let block = |k: &str| {
            let hex = req["params"][0][k].as_str().unwrap();
            u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
        };
        let max = p.max_range.load(Ordering::SeqCst);
        if block("toBlock") - block("fromBlock") + 1 > max {
            p.refused.fetch_add(1, Ordering::SeqCst);
            return axum::Json(json!({
                "jsonrpc": "2.0",
                "id": req["id"],
                "error": {"code": -32000, "message": format!("exceed maximum block range: {max}")},
            }));
        }
    }
    let answer = p
        .http
        .post(&p.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    axum::Json(answer.json().await.unwrap())
}

async fn start_proxy(upstream: &str, max_range: u64) -> (String, Arc<RangeLimitedRpc>) {
    let state = Arc::new(RangeLimitedRpc {
        upstream: upstream.to_owned(),
        http: reqwest::Client::new(),
        max_range: AtomicU64::new(max_range),
        get_logs: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/", axum::routing::post(proxy))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_window_and_chunked_scans_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 3;
    config.threshold = 2;
    config.storage_nodes = 1;
    let devnet = Devnet::start(&config).await.unwrap();
    let (alice, alice_addr) = user(dir.path(), "alice", &devnet);
    let (bob, bob_addr) = user(dir.path(), "bob", &devnet);

    let csv = dir.path().join("trial.csv");
    let data: String = (0..800).map(|i| format!("t-{i:04},{}\n", i % 9)).collect();
    std::fs::write(&csv, &data).unwrap();
    let put = alice.json(&["put", csv.to_str().unwrap()]);
    let file_id = put["fileId"].as_str().unwrap().to_owned();
    let grant = alice.json(&["grant", &file_id, "--to", &bob_addr]);
    assert!(grant["tokenId"].is_string(), "no token id: {grant}");

    // A window that ended: Bob (granted) is refused with exit 3 and told why.
    let set = alice.json(&["policy", &file_id, "--not-after", "2020-01-01"]);
    assert_eq!(set["notAfter"], END_OF_2020_01_01, "{set}");
    assert_eq!(set["notAfterUtc"], "2020-01-01T23:59:59Z");
    assert_eq!(set["notBefore"], 0);
    assert!(set["windowTx"].is_string(), "{set}");
    assert!(set["window"].as_str().unwrap().contains("ended"), "{set}");
    let out_path = dir.path().join("bob.csv");
    let out = out_path.to_str().unwrap();
    let refused = bob.run(&["get", &file_id, "-o", out]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("window"), "{}", stderr(&refused));
    assert!(!out_path.exists());
    // The owner is not bound by it; `info` shows it in human form.
    let info = alice.run(&["info", &file_id]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("2020-01-01T23:59:59Z") && text.contains("ended"),
        "{text}"
    );
    assert_eq!(alice.json(&["info", &file_id])["you"]["canRead"], true);

    // Bob cannot change it; the error names the owner.
    let not_owner = bob.run(&["policy", &file_id, "--not-after", "none"]);
    assert_eq!(not_owner.status.code(), Some(1), "{}", stderr(&not_owner));
    let text = stderr(&not_owner);
    assert!(
        text.contains("only its owner") && text.to_lowercase().contains(&alice_addr.to_lowercase()),
        "{text}"
    );
    // An empty window (opening after the kept not-after) is refused before any tx.
    let empty = alice.run(&["policy", &file_id, "--not-before", "2030-01-01"]);
    assert_eq!(empty.status.code(), Some(1), "{}", stderr(&empty));
    assert!(
        stderr(&empty).contains("not earlier than"),
        "{}",
        stderr(&empty)
    );
    let unchanged = alice.json(&["policy", &file_id]);
    assert_eq!(unchanged["notBefore"], 0);
    assert_eq!(unchanged["notAfter"], END_OF_2020_01_01);
    let bad_date = alice.run(&["policy", &file_id, "--not-after", "someday"]);
    assert_eq!(bad_date.status.code(), Some(2), "{}", stderr(&bad_date));

    // `none` lifts the bound: Bob gets the file.
    let open = alice.json(&["policy", &file_id, "--not-after", "none"]);
    assert_eq!(open["notAfter"], 0);
    assert_eq!(open["window"], "no time limit");
    bob.json(&["get", &file_id, "-o", out]);
    assert!(std::fs::read(&out_path).unwrap() == data.as_bytes());

    // Event scans in tiny chunks find the same things.
    let whole = file_ids(&alice.json(&["ls"]));
    assert_eq!(whole, std::slice::from_ref(&file_id));
    let tiny = alice.json_env(&["ls"], &[(CHUNK_ENV, "1")]);
    assert_eq!(file_ids(&tiny), whole);
    let bad = alice.run_env(&["ls"], &[(CHUNK_ENV, "0")]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains(CHUNK_ENV), "{}", stderr(&bad));

    // An RPC that refuses more than 3 blocks per eth_getLogs: the scan halves its way
    // down and still finds everything.
    let (rpc, limits) = start_proxy(devnet.rpc_url(), 3).await;
    let limited = alice.json(&["ls", "--rpc", &rpc]);
    assert_eq!(file_ids(&limited), whole);
    assert!(limits.refused.load(Ordering::SeqCst) > 0, "never refused");
    assert!(limits.get_logs.load(Ordering::SeqCst) > limits.refused.load(Ordering::SeqCst));
    // revoke's PassMinted scan through the same RPC finds Bob's pass.
    let revoke = alice.json(&["revoke", &file_id, "--from", &bob_addr, "--rpc", &rpc]);
    assert_eq!(revoke["burned"].as_array().unwrap().len(), 1, "{revoke}");
    // One that refuses even a single block: a clear error naming the RPC.
    limits.max_range.store(0, Ordering::SeqCst);
    let hopeless = alice.run(&["ls", "--rpc", &rpc]);
    assert_eq!(hopeless.status.code(), Some(1));
    let text = stderr(&hopeless);
    assert!(
        text.contains("even for one block") && text.contains(&rpc) && text.contains("--rpc"),
        "{text}"
    );
}

/// Security issue, item 7: passes are transferable, so a reader about to be revoked can move
/// the pass to another account ahead of the burn. `revoke` burns every live pass granted to
/// them wherever it is now, and denies them by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_reaches_a_pass_moved_ahead_of_the_burn() {
    use alloy::primitives::{Address, U256};
    use alloy::providers::{Provider, ProviderBuilder};
    use zgvault_contracts::AccessPass;

    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 3;
    config.threshold = 2;
    config.storage_nodes = 1;
    config.vault = None;
    let devnet = Devnet::start(&config).await.unwrap();
    let (alice, _) = user(dir.path(), "alice", &devnet);
    let (bob, bob_addr) = user(dir.path(), "bob", &devnet);
    let (carol, carol_addr) = user(dir.path(), "carol", &devnet);

    let csv = dir.path().join("notes.csv");
    std::fs::write(&csv, "a,b\n1,2\n").unwrap();
    let put = alice.json(&["put", csv.to_str().unwrap()]);
    let file_id = put["fileId"].as_str().unwrap().to_owned();
    let grant = alice.json(&["grant", &file_id, "--to", &bob_addr]);
    let token: U256 = grant["tokenId"].as_str().unwrap().parse().unwrap();

    // Bob hands the pass to Carol (his other account) before Alice revokes him.
    let provider = ProviderBuilder::new()
        .wallet(devnet.signer("bob").unwrap())
        .connect_http(devnet.rpc_url().parse().unwrap())
        .erased();
    let pass = AccessPass::new(devnet.manifest().contracts.access_pass, provider);
    let bob_a: Address = bob_addr.parse().unwrap();
    let carol_a: Address = carol_addr.parse().unwrap();
    let moved = pass
        .transferFrom(bob_a, carol_a, token)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(moved.status());
    let out = dir.path().join("carol.csv");
    carol.json(&["get", &file_id, "-o", out.to_str().unwrap()]);
    std::fs::remove_file(&out).unwrap();

    let revoke = alice.json(&["revoke", &file_id, "--from", &bob_addr]);
    assert_eq!(revoke["denied"], true, "{revoke}");
    let burned = revoke["burned"].as_array().unwrap();
    assert_eq!(burned.len(), 1, "{revoke}");
    assert_eq!(
        burned[0]["holder"].as_str().unwrap().to_lowercase(),
        carol_addr.to_lowercase()
    );
    assert!(
        revoke["takesEffect"]
            .as_str()
            .unwrap()
            .contains("confirmations"),
        "{revoke}"
    );
    for reader in [&carol, &bob] {
        let refused = reader.run(&["get", &file_id, "-o", out.to_str().unwrap()]);
        assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
        assert!(!out.exists());
    }
}
