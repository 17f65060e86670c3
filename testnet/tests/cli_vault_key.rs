//! Security finding 6 with the `zgvault` CLI, on a devnet of its own: a man in the middle
//! between a user and the custodial vault swaps the encryption key `/v1/info` reports. A
//! user with no pinned key is refused before K is sealed to anything, and the attacker never
//! sees a `KeyDeposit`; the same user relies on the NodeRegistry's list for the real vault;
//! a retired vault takes no new keys, but its files still read and shred.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod cli_common;

use std::sync::{Arc, Mutex};

use alloy::transports::http::reqwest;
use axum::extract::State;
use cli_common::{User, pending, stderr, user, write_data};
use serde_json::Value;
use zgvault_testnet::{Devnet, DevnetConfig, VaultKek};

/// What the key-swapping man in the middle saw.
#[derive(Default)]
struct Loot {
    /// `KeyDeposit`s that reached it.
    deposits: usize,
    /// File keys it opened with its own secret key, by file id.
    keys: Vec<(alloy::primitives::B256, [u8; 32])>,
    /// Requests of any kind sent to its `/v1/keys`.
    requests: usize,
}

#[derive(Clone)]
struct Mitm {
    vault: String,
    secret: Arc<zgvault_proto::sealbox::BoxSecretKey>,
    loot: Arc<Mutex<Loot>>,
}

/// An HTTP proxy on 127.0.0.1 in front of the real vault that rewrites `/v1/info`'s
/// `encryption_key` to its own and answers every `KeyDeposit` itself: it opens K with its
/// own secret key and acknowledges, as an attacker on the path would. Other requests go on
/// to the vault. Returns its URL, its key and what it saw.
async fn key_swapping_proxy(vault: String) -> (String, String, Arc<Mutex<Loot>>) {
    use axum::body::Bytes;
    use zgvault_proto::wire::{DepositAck, KeyRequest, KeyResponse, decode_request};

    async fn info(State(m): State<Mitm>) -> (axum::http::StatusCode, String) {
        let mut info: Value = reqwest::get(format!("{}/v1/info", m.vault))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        info["encryption_key"] = Value::String(format!(
            "0x{}",
            hex::encode(m.secret.public_key().as_bytes())
        ));
        (axum::http::StatusCode::OK, info.to_string())
    }
    async fn keys(State(m): State<Mitm>, body: Bytes) -> (axum::http::StatusCode, Vec<u8>) {
        m.loot.lock().unwrap().requests += 1;
        if let Ok(KeyRequest::KeyDeposit(deposit)) = decode_request(&body) {
            let deposit = deposit.deposit();
            let file_id = deposit.file.file_id;
            let mut loot = m.loot.lock().unwrap();
            loot.deposits += 1;
            if let Ok(key) = deposit.open_key(&m.secret) {
                loot.keys.push((file_id, *key.as_bytes()));
            }
            let ack = KeyResponse::DepositAck(DepositAck {
                node_index: 0,
                file_id,
            });
            return (
                axum::http::StatusCode::OK,
                zgvault_proto::wire::encode_response(&ack),
            );
        }
        cli_common::forward_keys(&m.vault, body).await
    }
    let secret = zgvault_proto::sealbox::BoxSecretKey::generate().unwrap();
    let key = format!("0x{}", hex::encode(secret.public_key().as_bytes()));
    let loot = Arc::new(Mutex::new(Loot::default()));
    let state = Mitm {
        vault,
        secret: Arc::new(secret),
        loot: loot.clone(),
    };
    let router = axum::Router::new()
        .route("/v1/info", axum::routing::get(info))
        .route("/v1/keys", axum::routing::post(keys))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), key, loot)
}

/// Points `user`'s config at `vault_url` and at a copy of the devnet manifest without the
/// vault's pinned key, as a user who was given the vault's URL and nothing else has it.
fn unpinned_config(user: &User, vault_url: &str) {
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&user.manifest).unwrap()).unwrap();
    manifest["vault"]
        .as_object_mut()
        .unwrap()
        .remove("encryption_key")
        .expect("the devnet manifest pins the vault key");
    let copy = user.home.join("manifest-without-pin.json");
    std::fs::write(&copy, manifest.to_string()).unwrap();
    let path = user.home.join(zgvault_client::account::CONFIG_FILE);
    let mut config = zgvault_client::account::Config::load(&path)
        .unwrap()
        .unwrap();
    config.manifest = Some(copy);
    config.vault_url = Some(vault_url.to_owned());
    config.vault_key = None;
    config.store(&path).unwrap();
}

/// Security finding 6: the vault's key was trusted on first use over plain HTTP. A man in
/// the middle between the user and the vault swaps the key `/v1/info` reports for its own;
/// a user with no pinned key must be refused before K is sealed to anything, and the
/// attacker must never see a `KeyDeposit`. The same user, pointed at the real vault, relies
/// on the NodeRegistry listing its key; a read never goes to a vault other than the one the
/// capsule names; a retired vault takes no new keys, pinned or not, but its files still read
/// and shred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_vault_key_swap_by_a_proxy_is_refused_and_k_never_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 0;
    config.storage_nodes = 1;
    config.vault = Some(VaultKek::File);
    let devnet = Devnet::start(&config).await.unwrap();
    let vault_url = devnet.vault().unwrap().http.clone();
    let (proxy, attacker_key, loot) = key_swapping_proxy(vault_url.clone()).await;
    let (alice, _) = user(dir.path(), "alice", &devnet);
    unpinned_config(&alice, &proxy);

    let path = dir.path().join("secret.csv");
    write_data(&path, 500, "secret");
    let out = alice.run(&["put", path.to_str().unwrap(), "--custody", "custodial"]);
    let seen = loot.lock().unwrap().deposits;
    let learned = loot.lock().unwrap().keys.clone();
    if out.status.success() {
        // Show what the attack got: a K that the registered capsule commits to.
        let registry = devnet.manifest().contracts.file_registry;
        let provider = alloy::providers::ProviderBuilder::new()
            .connect_http(devnet.manifest().rpc_url.expose().clone());
        let mut real = Vec::new();
        for (file_id, key) in &learned {
            let capsule = zgvault_contracts::FileRegistry::new(registry, &provider)
                .capsuleOf(*file_id)
                .call()
                .await
                .unwrap();
            let capsule = zgvault_proto::request::CustodialCapsule::from_bytes(&capsule).unwrap();
            let file = zgvault_proto::request::FileRef {
                chain_id: devnet.manifest().chain_id,
                registry,
                file_id: *file_id,
            };
            let k = zgvault_proto::FileKey::from_slice(key).unwrap();
            real.push((*file_id, capsule.matches(&file, &k)));
        }
        panic!(
            "put --custody custodial through a proxy that swapped the vault key succeeded \
             (stdout {:?}): the proxy saw {seen} KeyDeposit(s) and opened {} with the \
             attacker's key; (file, K matches the registered capsule): {real:?}",
            String::from_utf8_lossy(&out.stdout).trim(),
            learned.len(),
        );
    }
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.to_lowercase().contains(&attacker_key.to_lowercase())
            && text.contains("NodeRegistry")
            && text.contains("--vault-key"),
        "{text}"
    );
    assert_eq!(seen, 0, "a KeyDeposit reached the attacker");
    assert!(learned.is_empty(), "the attacker opened K");
    assert!(pending(&alice).is_empty(), "{:?}", pending(&alice));
    let ls = alice.json(&["ls"]);
    assert!(ls["files"].as_array().unwrap().is_empty(), "{ls}");

    // The real vault, still without a pin: its key is listed in the NodeRegistry (the devnet
    // registered it), so the put goes through and the file reads back.
    unpinned_config(&alice, &vault_url);
    let status = alice.json(&["status"]);
    assert_eq!(status["vault"]["keyTrusted"], true, "{status}");
    assert!(
        status["vault"]["key"]
            .as_str()
            .unwrap()
            .starts_with("registered in the NodeRegistry"),
        "{status}"
    );
    let put = alice.json(&["put", path.to_str().unwrap(), "--custody", "custodial"]);
    let id = put["fileId"].as_str().unwrap().to_owned();
    assert_eq!(put["vault"], vault_url.as_str());
    let back = dir.path().join("back.csv");
    alice.json(&["get", &id, "-o", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&path).unwrap());

    // A read through the proxy: the capsule names the real vault, the proxy reports another
    // key, so nothing is sent to it.
    let before = loot.lock().unwrap().requests;
    let via_proxy = dir.path().join("via-proxy.csv");
    let text = alice.fails(
        &[
            "get",
            &id,
            "-o",
            via_proxy.to_str().unwrap(),
            "--vault-url",
            &proxy,
        ],
        1,
    );
    assert!(
        text.contains("is held by the custodial vault with key")
            && text.contains("nothing was sent"),
        "{text}"
    );
    assert_eq!(
        loot.lock().unwrap().requests,
        before,
        "a request went to the proxy"
    );
    assert!(!via_proxy.exists());

    // The admin retires the vault: no new keys go to it, pinned or not; files it holds still
    // read, and their owner can still shred them there.
    let deployer = devnet.signer("deployer").unwrap();
    let provider = alloy::providers::ProviderBuilder::new()
        .wallet(deployer)
        .connect_http(devnet.rpc_url().parse().unwrap());
    let registry =
        zgvault_contracts::NodeRegistry::new(devnet.manifest().contracts.node_registry, &provider);
    let real_key = devnet.vault().unwrap().encryption_key;
    let retired = registry
        .retireVault(real_key)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(retired.status());
    let other = dir.path().join("other.csv");
    write_data(&other, 100, "other");
    for pin in [None, Some(real_key.to_string())] {
        let mut args = vec!["put", other.to_str().unwrap(), "--custody", "custodial"];
        if let Some(pin) = &pin {
            args.extend(["--vault-key", pin.as_str()]);
        }
        let text = alice.fails(&args, 1);
        assert!(
            text.contains("was retired in the NodeRegistry")
                && text.contains("--custody threshold"),
            "{pin:?}: {text}"
        );
    }
    assert!(pending(&alice).is_empty(), "{:?}", pending(&alice));
    std::fs::remove_file(&back).unwrap();
    alice.json(&["get", &id, "-o", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&path).unwrap());
    let shred = alice.json(&["shred", &id]);
    assert_eq!(shred["holders"][0]["outcome"], "held", "{shred}");
    assert_eq!(
        loot.lock().unwrap().deposits,
        0,
        "a KeyDeposit reached the attacker"
    );
}
