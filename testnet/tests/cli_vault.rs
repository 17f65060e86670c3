//! The seed story with the `zgvault` CLI, as a user runs it, against a live devnet (five
//! key nodes, 3 of 5, two storage nodes): init, put, get refused, grant, get, revoke,
//! ls/info/status, and a `put` that fails after its upload and is resumed.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod cli_common;

use std::path::Path;

use cli_common::{stderr, user};
use serde_json::Value;
use zgvault_testnet::{Devnet, DevnetConfig};

/// A devnet with 5 key nodes (3 of 5) and 2 storage nodes.
async fn devnet(dir: &Path) -> Devnet {
    let mut config = DevnetConfig::new(dir.join("devnet"));
    config.nodes = 5;
    config.threshold = 3;
    config.storage_nodes = 2;
    Devnet::start(&config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_grant_revoke_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = devnet(dir.path()).await;
    let (alice, alice_addr) = user(dir.path(), "alice", &devnet);
    let (bob, bob_addr) = user(dir.path(), "bob", &devnet);

    // The keystore and config are private; the keystore needs the passphrase.
    use std::os::unix::fs::PermissionsExt;
    for f in ["keystore.json", "config.toml"] {
        let mode = std::fs::metadata(alice.home.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // init again with the same key is a no-op; with another key it refuses.
    let key = devnet
        .manifest()
        .account("alice")
        .unwrap()
        .private_key
        .clone();
    let again = alice.run_env(&["init", "--json"], &[("ZGVAULT_IMPORT_KEY", &key)]);
    assert!(again.status.success(), "{}", stderr(&again));
    let other = devnet
        .manifest()
        .account("carol")
        .unwrap()
        .private_key
        .clone();
    let clash = alice.run_env(&["init"], &[("ZGVAULT_IMPORT_KEY", &other)]);
    assert_eq!(clash.status.code(), Some(1));
    assert!(stderr(&clash).contains("another key"), "{}", stderr(&clash));
    let wrong = alice.run_env(&["ls"], &[("ZGVAULT_PASSPHRASE", "wrong")]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("passphrase"), "{}", stderr(&wrong));

    let csv = dir.path().join("patients.csv");
    let data: String = (0..3000)
        .map(|i| {
            format!(
                "p-{i:05},{},{}\n",
                20 + i % 60,
                ["asthma", "diabetes"][i % 2]
            )
        })
        .collect();
    std::fs::write(&csv, &data).unwrap();
    let put = alice.json(&["put", csv.to_str().unwrap(), "--gate", "pass"]);
    let file_id = put["fileId"].as_str().unwrap().to_owned();
    assert!(put["rootHash"].as_str().unwrap().starts_with("0x"));
    assert!(put["uploadTx"].is_string() && put["registerTx"].is_string());
    assert_eq!(put["resumed"], false);
    assert!(
        !alice
            .home
            .join("state/pending")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "pending state left behind"
    );

    // Bob has no pass: refused, exit 3, told whom to ask.
    let out_path = dir.path().join("bob.csv");
    let out = out_path.to_str().unwrap();
    let refused = bob.run(&["get", &file_id, "-o", out]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let text = stderr(&refused).to_lowercase();
    assert!(
        text.contains(&alice_addr.to_lowercase()),
        "owner not named: {text}"
    );
    assert!(text.contains("zgvault grant"), "{text}");
    assert!(!out_path.exists());

    // Alice grants; Bob gets it byte-identical.
    let grant = alice.json(&["grant", &file_id, "--to", &bob_addr]);
    assert_eq!(grant["how"], "pass");
    let got = bob.json(&["get", &file_id, "-o", out]);
    assert!(got["keyNodesUsed"].as_array().unwrap().len() >= 3);
    assert!(
        std::fs::read(&out_path).unwrap() == data.as_bytes(),
        "not byte-identical"
    );

    // Bob cannot grant or revoke Alice's file.
    let carol = devnet
        .manifest()
        .account("carol")
        .unwrap()
        .address
        .to_string();
    let not_owner = bob.run(&["grant", &file_id, "--to", &carol]);
    assert_eq!(not_owner.status.code(), Some(1));
    assert!(
        stderr(&not_owner).contains("only its owner"),
        "{}",
        stderr(&not_owner)
    );

    // Alice revokes; Bob is refused again, and the output says what revocation means.
    let revoke = alice.json(&["revoke", &file_id, "--from", &bob_addr]);
    assert_eq!(revoke["burned"].as_array().unwrap().len(), 1);
    assert_eq!(revoke["canStillRead"], false);
    assert!(
        revoke["note"]
            .as_str()
            .unwrap()
            .contains("already released")
    );
    std::fs::remove_file(&out_path).unwrap();
    let refused = bob.run(&["get", &file_id, "-o", out]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));

    // The allow-list route works too; the revoke above denied Bob (the default), and granting
    // again takes him off the deny list first.
    let regrant = alice.json(&["grant", &file_id, "--to", &bob_addr, "--allow"]);
    assert!(regrant["undenied"].is_string(), "{regrant}");
    bob.json(&["get", &file_id, "-o", out]);
    let revoke = alice.json(&["revoke", &file_id, "--from", &bob_addr, "--deny"]);
    assert_eq!(revoke["disallowed"], true);
    assert_eq!(revoke["denied"], true);

    // ls, info, status, policy.
    let ls = alice.json(&["ls"]);
    let files = ls["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["fileId"], file_id.as_str());
    assert_eq!(bob.json(&["ls"])["files"].as_array().unwrap().len(), 0);
    let info = bob.json(&["info", &file_id]);
    assert_eq!(info["scheme"], "bls");
    assert_eq!(info["you"]["canRead"], false);
    assert_eq!(info["rootHash"], put["rootHash"]);
    let status = bob.json(&["status"]);
    assert_eq!(status["chainId"], devnet.manifest().chain_id);
    assert_eq!(status["threshold"], 3);
    assert_eq!(status["epoch"], 1);
    assert_eq!(status["storageNodes"].as_array().unwrap().len(), 2);
    let keys = status["keyNodes"].as_array().unwrap();
    assert_eq!(keys.len(), 5);
    assert!(keys.iter().all(|k| k["healthy"] == true), "{keys:?}");
    let policy = alice.json(&["policy", &file_id, "--set", "public"]);
    assert_eq!(policy["policy"]["anyOf"].as_array().unwrap().len(), 1);
    let info = carol_view(dir.path(), &devnet, &file_id);
    assert_eq!(
        info["you"]["canRead"], true,
        "public file not readable: {info}"
    );

    // A put whose registration fails after the upload (an ERC-20 gate naming an account,
    // not a contract: the registry rejects it) keeps its state; running put again with a
    // good gate resumes without uploading or paying again.
    let big = dir.path().join("big.csv");
    std::fs::write(&big, data.repeat(20)).unwrap();
    let bad_gate = format!("erc20:{bob_addr}:1");
    let failed = alice.run(&["put", big.to_str().unwrap(), "--gate", &bad_gate]);
    assert_eq!(failed.status.code(), Some(1));
    let text = stderr(&failed);
    assert!(
        text.contains("TokenNotContract") && text.contains("resume"),
        "{text}"
    );
    let ls = alice.json(&["ls"]);
    assert_eq!(ls["pending"].as_array().unwrap().len(), 1, "{ls}");
    let resumed = alice.json(&["put", big.to_str().unwrap(), "--gate", "pass"]);
    assert_eq!(resumed["resumed"], true);
    assert_eq!(resumed["uploadTx"], Value::Null, "uploaded twice");
    assert_eq!(resumed["feeWei"], "0");
    assert_eq!(resumed["fileId"], ls["pending"][0]["fileId"]);
    assert!(
        alice.json(&["ls"])["pending"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let back = dir.path().join("alice-big.csv");
    alice.json(&[
        "get",
        resumed["fileId"].as_str().unwrap(),
        "-o",
        back.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&back).unwrap() == data.repeat(20).as_bytes());

    // Three of five key nodes down: fewer than the threshold answer, and the error names
    // the nodes that did not.
    for i in 1..=3 {
        devnet.kill_process(&format!("keynode-{i}")).unwrap();
    }
    let back2 = dir.path().join("alice-big-2.csv");
    let out = alice.run(&[
        "get",
        resumed["fileId"].as_str().unwrap(),
        "-o",
        back2.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("2 of the 3 needed")
            && (0..3).all(|i| text.contains(&format!("node {i} unreachable"))),
        "{text}"
    );
    assert!(!back2.exists());
    // Bob (deny-listed) with nodes down: still told it is a refusal, not an outage.
    let out = bob.run(&["get", &file_id, "-o", back2.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

/// `info` as Carol, who never ran `init` before.
fn carol_view(dir: &Path, devnet: &Devnet, file_id: &str) -> Value {
    let (carol, _) = user(dir, "carol", devnet);
    carol.json(&["info", file_id])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shamir_custody_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = devnet(dir.path()).await;
    let (alice, _) = user(dir.path(), "alice", &devnet);
    let (bob, bob_addr) = user(dir.path(), "bob", &devnet);
    let csv = dir.path().join("ledger.csv");
    let data: String = (0..500).map(|i| format!("{i},{}\n", i * 7)).collect();
    std::fs::write(&csv, &data).unwrap();

    // Alice splits K among the five nodes, one deposited share each.
    let put = alice.json(&["put", csv.to_str().unwrap(), "--custody", "shamir"]);
    let file_id = put["fileId"].as_str().unwrap().to_owned();
    let info = alice.json(&["info", &file_id]);
    assert_eq!(info["scheme"], "shamir", "registered as shamir: {info}");

    // Bob: refused, then granted, then recovers K from 3 of the 5 shares.
    let out = bob.run(&[
        "get",
        &file_id,
        "-o",
        dir.path().join("no.csv").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    alice.json(&["grant", &file_id, "--to", &bob_addr]);
    // Two nodes down: the remaining three still hold enough shares.
    devnet.kill_process("keynode-1").unwrap();
    devnet.kill_process("keynode-2").unwrap();
    let got = dir.path().join("bob.csv");
    let out = bob.run(&["get", &file_id, "-o", got.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&got).unwrap(), data);

    // An unknown custody is a usage error naming the real ones; custodial on a devnet
    // without a vault is refused before anything is sealed, saying how to get one.
    let out = alice.run(&["put", csv.to_str().unwrap(), "--custody", "hsm"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("threshold, shamir or custodial"),
        "{}",
        stderr(&out)
    );
    let out = alice.run(&["put", csv.to_str().unwrap(), "--custody", "custodial"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no custodial vault"),
        "{}",
        stderr(&out)
    );
    assert!(
        alice
            .home
            .join("state/pending")
            .read_dir()
            .unwrap()
            .next()
            .is_none(),
        "pending state written for a refused put"
    );
}
