//! Key nodes known only through the NodeRegistry, as on any network but the devnet: the
//! user's manifest lists no key nodes (no HTTP URLs), so the client finds them in the
//! registry and reaches them at their registered libp2p addresses. A Shamir `put` deposits
//! every share there and a `get` recovers K there, with the `zgvault` CLI as a user runs it.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod cli_common;

use cli_common::{pending, user, write_data};
use serde_json::Value;
use zgvault_testnet::{Devnet, DevnetConfig, MANIFEST_FILE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shamir_put_and_get_reach_key_nodes_known_only_through_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 5;
    config.threshold = 3;
    let devnet = Devnet::start(&config).await.unwrap();

    // The devnet's manifest without its list of key nodes: what the client knows of them is
    // what the NodeRegistry says (libp2p addresses, encryption keys).
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(devnet.state_dir().join(MANIFEST_FILE)).unwrap())
            .unwrap();
    assert!(manifest["key_network"]["nodes"].is_array());
    manifest.as_object_mut().unwrap().remove("key_network");
    let registry_only = dir.path().join("registry-only");
    std::fs::create_dir_all(&registry_only).unwrap();
    std::fs::write(
        registry_only.join(MANIFEST_FILE),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();

    let (mut alice, _) = user(dir.path(), "alice", &devnet);
    alice.manifest = registry_only.join(MANIFEST_FILE);
    let input = dir.path().join("shares.csv");
    let data = write_data(&input, 2_000, "registry");

    let put = alice.json(&["put", input.to_str().unwrap(), "--custody", "shamir"]);
    assert_eq!(put["custody"], "shamir", "{put}");
    assert!(pending(&alice).is_empty(), "every share was deposited");
    let file_id = put["fileId"].as_str().unwrap();

    let out = dir.path().join("back.csv");
    let got = alice.json(&["get", file_id, "-o", out.to_str().unwrap()]);
    assert_eq!(got["keyNodesUsed"].as_array().unwrap().len(), 3, "{got}");
    assert_eq!(std::fs::read(&out).unwrap(), data);
}
