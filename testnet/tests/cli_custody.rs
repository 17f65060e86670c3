//! Custodial custody, shred and custody moves with the `zgvault` CLI, as a user runs them,
//! against one live devnet (five key nodes, 3 of 5, two storage nodes, a custodial vault
//! whose KEK is in a SoftHSM2 token): put to the vault, refused / granted / revoked gets,
//! the vault down (clear errors, nothing written, K survives a restart), a put resumed
//! after its deposit failed, a second put of the same file refused while one runs, moves
//! custodial -> threshold (read with the vault down) and threshold -> custodial (read with
//! every key node down), shreds of Shamir and custodial files, and the owner-only and
//! unsupported cases; a shred or vault use refused when the vault is not the one holding K
//! (another vault, a key node's URL, a key other than the pinned one); a shred deleting an
//! unfinished put's state (refused while that put runs); a move whose new custody cannot
//! release K keeping the old custody and its state until it can. (The vault-key man in the
//! middle has a devnet and a file of its own: `cli_vault_key.rs`.)
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod cli_common;

use std::path::PathBuf;
use std::process::Command;

use alloy::transports::http::reqwest;
use axum::extract::State;
use cli_common::{PASSPHRASE, pending, stderr, user, write_data};
use serde_json::Value;
use zgvault_testnet::{Devnet, DevnetConfig, VaultKek};

/// A stand-in for the vault that answers `/v1/info` (so a put registers a capsule for the
/// real vault) but drops every `/v1/keys` request: the vault "down" exactly at the deposit.
async fn deposit_dropping_proxy(vault: String) -> String {
    async fn info(State(vault): State<String>) -> (axum::http::StatusCode, String) {
        let body = reqwest::get(format!("{vault}/v1/info"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (axum::http::StatusCode::OK, body)
    }
    async fn keys() -> axum::http::StatusCode {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    }
    let router = axum::Router::new()
        .route("/v1/info", axum::routing::get(info))
        .route("/v1/keys", axum::routing::post(keys))
        .with_state(vault);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// Another vault: its own encryption key on `/v1/info`, and it holds nothing
/// (`UNKNOWN_FILE` to every request), as a vault other than the one a file names would.
async fn other_vault(vault: String) -> String {
    async fn info(State(vault): State<String>) -> (axum::http::StatusCode, String) {
        let mut info: Value = reqwest::get(format!("{vault}/v1/info"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        info["encryption_key"] = Value::String(format!("0x{}", "11".repeat(32)));
        (axum::http::StatusCode::OK, info.to_string())
    }
    async fn keys() -> (axum::http::StatusCode, Vec<u8>) {
        use zgvault_proto::wire::{ErrorCode, ErrorReply, KeyResponse, encode_response};
        let reply = ErrorReply::new(ErrorCode::UnknownFile, "this vault holds no such key", 0);
        (
            axum::http::StatusCode::NOT_FOUND,
            encode_response(&KeyResponse::Error(reply)),
        )
    }
    let router = axum::Router::new()
        .route("/v1/info", axum::routing::get(info))
        .route("/v1/keys", axum::routing::post(keys))
        .with_state(vault);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custodial_custody_shred_and_moves_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 5;
    config.threshold = 3;
    config.storage_nodes = 2;
    config.vault = Some(VaultKek::Softhsm);
    let mut devnet = Devnet::start(&config).await.unwrap();
    let vault_url = devnet.vault().unwrap().http.clone();
    let (alice, alice_addr) = user(dir.path(), "alice", &devnet);
    let (bob, bob_addr) = user(dir.path(), "bob", &devnet);
    let (carol, _) = user(dir.path(), "carol", &devnet);

    // --- A custodial put: K goes to the vault, nothing stays behind.
    let a_path = dir.path().join("a.csv");
    let a_data = write_data(&a_path, 3000, "a");
    let put = alice.json(&["put", a_path.to_str().unwrap(), "--custody", "custodial"]);
    let a = put["fileId"].as_str().unwrap().to_owned();
    assert_eq!(put["custody"], "custodial");
    assert_eq!(put["vault"], vault_url.as_str());
    assert!(pending(&alice).is_empty(), "{:?}", pending(&alice));
    assert_eq!(alice.json(&["info", &a])["scheme"], "custodial");
    let ls = alice.json(&["ls"]);
    assert_eq!(ls["files"][0]["scheme"], 3, "{ls}");
    assert_eq!(ls["files"][0]["custody"], "custodial", "{ls}");
    let status = alice.json(&["status"]);
    assert_eq!(status["vault"]["http"], vault_url.as_str(), "{status}");
    assert_eq!(status["vault"]["healthy"], true, "{status}");

    // Bob: refused (exit 3, told whom to ask), granted, byte-identical, revoked, refused.
    let bob_out = dir.path().join("bob-a.csv");
    let out = bob_out.to_str().unwrap();
    let text = bob.fails(&["get", &a, "-o", out], 3).to_lowercase();
    assert!(text.contains(&alice_addr.to_lowercase()), "{text}");
    assert!(
        text.contains("zgvault grant") && text.contains("vault"),
        "{text}"
    );
    assert!(!bob_out.exists());
    alice.json(&["grant", &a, "--to", &bob_addr]);
    let got = bob.json(&["get", &a, "-o", out]);
    assert_eq!(got["vault"], vault_url.as_str());
    assert!(got["keyNodesUsed"].as_array().unwrap().is_empty());
    assert!(
        std::fs::read(&bob_out).unwrap() == a_data,
        "not byte-identical"
    );
    std::fs::remove_file(&bob_out).unwrap();
    alice.json(&["revoke", &a, "--from", &bob_addr]);
    bob.fails(&["get", &a, "-o", out], 3);
    assert!(!bob_out.exists());
    alice.json(&["grant", &a, "--to", &bob_addr, "--allow"]);

    // --- A client configured with another vault is told which vault holds the file.
    let other = other_vault(vault_url.clone()).await;
    let text = bob.fails(&["get", &a, "-o", out, "--vault-url", &other], 1);
    assert!(
        text.contains("is held by the custodial vault with key") && text.contains(&other),
        "{text}"
    );
    assert!(!bob_out.exists());
    // A shred sent there would be acknowledged by a vault that never held K: it is not
    // sent, nothing is reported shredded, and the user is told which vault to use (the
    // real vault still releases K below).
    let text = alice.fails(&["shred", &a, "--vault-url", &other], 1);
    assert!(
        text.contains("held by the custodial vault with key")
            && text.contains("nothing was shredded")
            && text.contains("--vault-url"),
        "{text}"
    );

    // --- Only a custodial node with the expected key is used as the vault: a key node's
    // URL (threshold mode) and a vault whose key differs from the pinned one are refused
    // before anything is sealed or paid.
    let key_node = devnet.manifest().key_network.as_ref().unwrap().nodes[0]
        .http
        .clone();
    let v_path = dir.path().join("v.csv");
    write_data(&v_path, 100, "v");
    let v_arg = v_path.to_str().unwrap();
    let text = bob.fails(
        &[
            "put",
            v_arg,
            "--custody",
            "custodial",
            "--vault-url",
            &key_node,
        ],
        1,
    );
    assert!(
        text.contains("threshold mode, not a custodial vault") && text.contains(&key_node),
        "{text}"
    );
    let wrong = format!("0x{}", "22".repeat(32));
    let real_key = devnet.vault().unwrap().encryption_key.to_string();
    let text = bob.fails(
        &[
            "put",
            v_arg,
            "--custody",
            "custodial",
            "--vault-key",
            &wrong,
        ],
        1,
    );
    assert!(
        text.contains(&wrong) && text.to_lowercase().contains(&real_key.to_lowercase()),
        "{text}"
    );
    assert!(pending(&bob).is_empty(), "{:?}", pending(&bob));

    // --- The vault down: get names it and writes nothing; a custodial put stops before
    // sealing or paying anything.
    devnet.kill_process("vault").unwrap();
    let status = alice.json(&["status"]);
    assert_eq!(status["vault"]["healthy"], false, "{status}");
    let text = bob.fails(&["get", &a, "-o", out], 1);
    assert!(
        text.contains(&vault_url) && text.contains("did not answer"),
        "{text}"
    );
    assert!(!bob_out.exists());
    assert!(
        !dir.path().join(".bob-a.csv.zgvault-sealed").exists(),
        "temp file left behind"
    );
    let c_path = dir.path().join("c.csv");
    write_data(&c_path, 200, "c");
    let text = carol.fails(
        &["put", c_path.to_str().unwrap(), "--custody", "custodial"],
        1,
    );
    assert!(
        text.contains(&vault_url) && text.contains("running"),
        "{text}"
    );
    assert!(pending(&carol).is_empty(), "{:?}", pending(&carol));

    // A second put of the same file while one runs (here: this test holds its lock, with
    // a pid written as a put would) is refused and names the pid.
    let locks: Vec<PathBuf> = carol
        .home
        .join("state/locks")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&locks[0])
        .unwrap();
    held.try_lock().unwrap();
    std::fs::write(&locks[0], "4242").unwrap();
    let text = carol.fails(
        &["put", c_path.to_str().unwrap(), "--custody", "custodial"],
        1,
    );
    assert!(
        text.contains("another put of") && text.contains("pid 4242"),
        "{text}"
    );
    drop(held);

    // Restarted, the vault still holds K (sealed under the token's KEK).
    devnet.restart_process("vault").unwrap();
    let vault_url = devnet.vault().unwrap().http.clone();
    bob.json(&["get", &a, "-o", out]);
    assert!(std::fs::read(&bob_out).unwrap() == a_data);

    // Two puts of one file started together: both finish (the second waits its turn or
    // starts after the first), neither corrupts the other's state.
    let d_path = dir.path().join("d.csv");
    let d_data = write_data(&d_path, 2000, "d");
    let spawn = || {
        Command::new(zgvault_testnet::find_zgvault().unwrap())
            .args(["put", d_path.to_str().unwrap(), "--json"])
            .args(["--custody", "custodial"])
            .env_remove("ZGVAULT_IMPORT_KEY")
            .env("ZGVAULT_HOME", &alice.home)
            .env("ZGVAULT_PASSPHRASE", PASSPHRASE)
            .env("ZGVAULT_DEVNET_DIR", devnet.state_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let outs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    for o in &outs {
        assert!(
            o.status.success() || stderr(o).contains("another put of"),
            "{}",
            stderr(o)
        );
    }
    assert!(pending(&alice).is_empty(), "{:?}", pending(&alice));
    let done: Value = serde_json::from_slice(
        &outs
            .iter()
            .find(|o| o.status.success())
            .expect("one of the two puts finished")
            .stdout,
    )
    .unwrap();
    let d_back = dir.path().join("d-back.csv");
    alice.json(&[
        "get",
        done["fileId"].as_str().unwrap(),
        "-o",
        d_back.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&d_back).unwrap() == d_data);

    // --- A put whose deposit fails (the vault unreachable just then) keeps K sealed
    // locally; running it again resumes without uploading again.
    let proxy = deposit_dropping_proxy(vault_url.clone()).await;
    let e_path = dir.path().join("e.csv");
    let e_data = write_data(&e_path, 1500, "e");
    let e_arg = e_path.to_str().unwrap();
    let text = alice.fails(
        &[
            "put",
            e_arg,
            "--custody",
            "custodial",
            "--vault-url",
            &proxy,
        ],
        1,
    );
    assert!(
        text.contains(&proxy) && text.contains("again") && text.contains("resumes"),
        "{text}"
    );
    assert_eq!(alice.json(&["ls"])["pending"].as_array().unwrap().len(), 1);
    let resumed = alice.json(&["put", e_arg, "--custody", "custodial"]);
    assert_eq!(resumed["resumed"], true);
    assert_eq!(resumed["uploadTx"], Value::Null, "uploaded twice");
    assert_eq!(resumed["registerTx"], Value::Null, "registered twice");
    assert_eq!(resumed["vault"], vault_url.as_str());
    assert!(pending(&alice).is_empty());
    let e_back = dir.path().join("e-back.csv");
    let e_id = resumed["fileId"].as_str().unwrap();
    alice.json(&["get", e_id, "-o", e_back.to_str().unwrap()]);
    assert!(std::fs::read(&e_back).unwrap() == e_data);
    // --- A shred of a file whose put is unfinished here (registered, deposit not yet
    // done): refused while that put runs, then it deletes the put's state, so running the
    // put again cannot deposit K after the shred.
    let c_arg = c_path.to_str().unwrap();
    carol.fails(
        &[
            "put",
            c_arg,
            "--custody",
            "custodial",
            "--vault-url",
            &proxy,
        ],
        1,
    );
    let state = pending(&carol)
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("the put's state is kept");
    let c_id = state.file_stem().unwrap().to_str().unwrap().to_owned();
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&locks[0])
        .unwrap();
    held.try_lock().unwrap();
    std::fs::write(&locks[0], "4343").unwrap();
    let text = carol.fails(&["shred", &c_id], 1);
    assert!(
        text.contains("pid 4343") && text.contains("nothing was shredded"),
        "{text}"
    );
    drop(held);
    let shred = carol.json(&["shred", &c_id]);
    assert_eq!(shred["complete"], true, "{shred}");
    let removed = shred["localStateRemoved"].as_array().unwrap();
    assert!(
        removed.iter().any(|p| p == state.to_str().unwrap()),
        "{shred}"
    );
    assert!(pending(&carol).is_empty(), "{:?}", pending(&carol));

    // Out of the vault and straight back in: the vault refuses deposits signed no later
    // than its shred (usually the same second here), and the client signs a newer one.
    alice.json(&["custody", e_id, "--to", "threshold"]);
    let back_in = alice.json(&["custody", e_id, "--to", "custodial"]);
    assert_eq!(back_in["from"], "threshold");
    std::fs::remove_file(&e_back).unwrap();
    let got = alice.json(&["get", e_id, "-o", e_back.to_str().unwrap()]);
    assert!(got["vault"].is_string());
    assert!(std::fs::read(&e_back).unwrap() == e_data);

    // --- custodial -> threshold: the vault's copy is shredded, and the file reads with the
    // vault down.
    let moved = alice.json(&["custody", &a, "--to", "threshold"]);
    assert_eq!(moved["from"], "custodial");
    assert_eq!(moved["to"], "threshold");
    assert_eq!(moved["oldCustody"][0]["holder"], "vault");
    assert_eq!(moved["oldCustody"][0]["outcome"], "held");
    assert!(moved["setCapsuleTx"].is_string());
    assert_eq!(alice.json(&["info", &a])["scheme"], "bls");
    let again = alice.json(&["custody", &a, "--to", "threshold"]);
    assert_eq!(again["unchanged"], true);
    devnet.kill_process("vault").unwrap();
    std::fs::remove_file(&bob_out).unwrap();
    let got = bob.json(&["get", &a, "-o", out]);
    assert!(got["keyNodesUsed"].as_array().unwrap().len() >= 3);
    assert!(std::fs::read(&bob_out).unwrap() == a_data);
    devnet.restart_process("vault").unwrap();

    // With its HTTP port dead, the vault is still reached over libp2p (library level: the
    // CLI's devnet profile has both): a shred of A, whose vault copy is already gone.
    let info = devnet.vault().unwrap().clone();
    let owner_key = devnet
        .manifest()
        .account("alice")
        .unwrap()
        .private_key
        .clone();
    let owner = k256::ecdsa::SigningKey::from_slice(
        &hex::decode(owner_key.trim_start_matches("0x")).unwrap(),
    )
    .unwrap();
    let shred = zgvault_proto::request::Shred {
        file: zgvault_proto::request::FileRef {
            chain_id: devnet.manifest().chain_id,
            registry: devnet.manifest().contracts.file_registry,
            file_id: a.parse().unwrap(),
        },
        holder: zgvault_proto::sealbox::BoxPublicKey::from_bytes(info.encryption_key.0),
        issued_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    }
    .sign(&owner)
    .unwrap();
    let over_p2p = zgvault_client::keys::Endpoint {
        http: Some("http://127.0.0.1:1".into()),
        p2p: Some((info.peer_id.parse().unwrap(), info.p2p[0].parse().unwrap())),
    };
    let channel =
        zgvault_client::keys::Channel::new(zgvault_client::keys::ChannelOptions::SINGLE_NODE)
            .unwrap();
    let ack = zgvault_client::keys::send_shred(&channel, &over_p2p, shred)
        .await
        .unwrap();
    assert!(!ack.held, "the move already shredded the vault's copy");

    // Threshold files keep nothing per file to shred; the owner is told what to do.
    let text = alice.fails(&["shred", &a], 1);
    assert!(text.contains("--to custodial"), "{text}");
    // Only the owner may shred or move; shamir is not a move target.
    let text = bob.fails(&["shred", &a], 1);
    assert!(text.contains("only the owner"), "{text}");
    let text = bob.fails(&["custody", &a, "--to", "custodial"], 1);
    assert!(text.contains("only the owner"), "{text}");
    let text = alice.fails(&["custody", &a, "--to", "shamir"], 2);
    assert!(text.contains("sealed again"), "{text}");

    // --- Shamir shred: every node deletes its share; nobody can read it any more.
    let s_path = dir.path().join("s.csv");
    write_data(&s_path, 500, "s");
    let s = alice.json(&["put", s_path.to_str().unwrap(), "--custody", "shamir"])["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.json(&["grant", &s, "--to", &bob_addr]);
    let shred = alice.json(&["shred", &s]);
    assert_eq!(shred["scheme"], "shamir");
    assert_eq!(shred["complete"], true);
    let holders = shred["holders"].as_array().unwrap();
    assert_eq!(holders.len(), 5);
    assert!(holders.iter().all(|h| h["outcome"] == "held"), "{shred}");
    assert!(shred["note"].as_str().unwrap().contains("ciphertext on 0G"));
    let s_out = dir.path().join("bob-s.csv");
    let text = bob.fails(&["get", &s, "-o", s_out.to_str().unwrap()], 1);
    assert!(text.contains("shredded"), "{text}");
    assert!(!s_out.exists());
    // Shredding again: nothing held any more.
    let again = alice.json(&["shred", &s]);
    assert!(
        again["holders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["outcome"] == "not held"),
        "{again}"
    );

    // --- shamir -> threshold with a key node down: K is safe in its new custody at once,
    // but the move stays unfinished (K sealed locally) until every old share is shredded.
    let t_path = dir.path().join("t.csv");
    let t_data = write_data(&t_path, 400, "t");
    let t = alice.json(&["put", t_path.to_str().unwrap(), "--custody", "shamir"])["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    devnet.kill_process("keynode-5").unwrap();
    let text = alice.fails(&["custody", &t, "--to", "threshold"], 1);
    assert!(
        text.contains("did not confirm") && text.contains("again"),
        "{text}"
    );
    let moves = alice.home.join("state/moves");
    assert_eq!(moves.read_dir().unwrap().count(), 1, "move state kept");
    assert_eq!(alice.json(&["info", &t])["scheme"], "bls");
    let t_back = dir.path().join("t-back.csv");
    alice.json(&["get", &t, "-o", t_back.to_str().unwrap()]);
    assert!(std::fs::read(&t_back).unwrap() == t_data);
    devnet.restart_process("keynode-5").unwrap();
    let finished = alice.json(&["custody", &t, "--to", "threshold"]);
    assert_eq!(finished["resumed"], true);
    assert_eq!(
        finished["setCapsuleTx"],
        Value::Null,
        "setCapsule sent twice"
    );
    let old = finished["oldCustody"].as_array().unwrap();
    assert_eq!(old.len(), 5);
    assert_eq!(old[4]["outcome"], "held", "{finished}");
    assert!(
        old[..4].iter().all(|h| h["outcome"] == "not held"),
        "{finished}"
    );
    assert_eq!(
        moves.read_dir().unwrap().count(),
        0,
        "move state left behind"
    );

    // --- threshold -> custodial: K deposited with the vault; reads with every key node down.
    let b_path = dir.path().join("b.csv");
    let b_data = write_data(&b_path, 800, "b");
    let b = alice.json(&["put", b_path.to_str().unwrap(), "--gate", "pass"])["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.json(&["grant", &b, "--to", &bob_addr]);
    let moved = alice.json(&["custody", &b, "--to", "custodial"]);
    assert_eq!(moved["from"], "threshold");
    assert_eq!(moved["vault"], devnet.vault().unwrap().http.as_str());
    assert!(moved["oldCustody"].as_array().unwrap().is_empty());
    assert!(
        alice
            .home
            .join("state/moves")
            .read_dir()
            .unwrap()
            .next()
            .is_none(),
        "move state left behind"
    );
    for i in 1..=5 {
        devnet.kill_process(&format!("keynode-{i}")).unwrap();
    }
    let b_out = dir.path().join("bob-b.csv");
    let got = bob.json(&["get", &b, "-o", b_out.to_str().unwrap()]);
    assert!(got["vault"].is_string());
    assert!(std::fs::read(&b_out).unwrap() == b_data);

    // --- Custodial shred: the vault deletes K; the file is gone for everyone, owner too.
    let shred = alice.json(&["shred", &b]);
    assert_eq!(shred["scheme"], "custodial");
    assert_eq!(shred["holders"][0]["outcome"], "held");
    std::fs::remove_file(&b_out).unwrap();
    let text = bob.fails(&["get", &b, "-o", b_out.to_str().unwrap()], 1);
    assert!(text.contains("shredded"), "{text}");
    assert!(!b_out.exists());
    let text = alice.fails(&["get", &b, "-o", b_out.to_str().unwrap()], 1);
    assert!(text.contains("shredded"), "{text}");

    // --- custodial -> threshold while no key node serves: the capsule is registered, but
    // the new custody cannot release K, so the vault's copy is not shredded and the move
    // stays resumable; once the nodes are back it finishes and shreds the vault's copy.
    let g_path = dir.path().join("g.csv");
    let g_data = write_data(&g_path, 300, "g");
    let g = alice.json(&["put", g_path.to_str().unwrap(), "--custody", "custodial"])["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = alice.fails(&["custody", &g, "--to", "threshold"], 1);
    assert!(
        text.contains("does not release the key") && text.contains("not shredded"),
        "{text}"
    );
    assert_eq!(moves.read_dir().unwrap().count(), 1, "move state kept");
    assert_eq!(alice.json(&["info", &g])["scheme"], "bls");
    for i in 1..=5 {
        devnet.restart_process(&format!("keynode-{i}")).unwrap();
    }
    let finished = alice.json(&["custody", &g, "--to", "threshold"]);
    assert_eq!(finished["resumed"], true, "{finished}");
    assert_eq!(finished["setCapsuleTx"], Value::Null, "{finished}");
    assert_eq!(
        finished["oldCustody"][0]["outcome"], "held",
        "the vault kept K until the new custody served it: {finished}"
    );
    assert_eq!(
        moves.read_dir().unwrap().count(),
        0,
        "move state left behind"
    );
    let g_back = dir.path().join("g-back.csv");
    alice.json(&["get", &g, "-o", g_back.to_str().unwrap()]);
    assert!(std::fs::read(&g_back).unwrap() == g_data);
}
