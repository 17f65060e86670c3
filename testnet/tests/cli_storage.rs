//! `zgvault storage upload|download` against a live devnet, as a user runs them.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use zgvault_testnet::{Devnet, DevnetConfig, MANIFEST_FILE};

/// The `zgvault` binary of this build (scripts/test builds every workspace binary).
fn zgvault_bin() -> PathBuf {
    zgvault_testnet::find_zgvault().expect("run `cargo build -p zgvault-cli` (scripts/test does)")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(zgvault_bin())
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("ZGVAULT_DEVNET_DIR")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_download_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 0;
    let devnet = Devnet::start(&config).await.unwrap();
    let manifest = dir.path().join("devnet").join(MANIFEST_FILE);
    let m = manifest.to_str().unwrap();
    let key = devnet
        .manifest()
        .account("alice")
        .unwrap()
        .private_key
        .clone();

    let src = dir.path().join("data.bin");
    let bytes: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&src, &bytes).unwrap();
    let s = src.to_str().unwrap();

    // No key: a clear error naming the variable.
    let out = run(&["storage", "upload", s, "--manifest", m], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ZGVAULT_PRIVATE_KEY"));

    let env = [("ZGVAULT_PRIVATE_KEY", key.as_str())];
    let out = run(&["storage", "upload", s, "--manifest", m, "--json"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let up: Value = serde_json::from_slice(&out.stdout).unwrap();
    let root = up["rootHash"].as_str().unwrap().to_owned();
    assert!(up["txHash"].is_string());
    assert_ne!(up["feeWei"], "0");

    // Again: nothing paid, nothing sent.
    let out = run(&["storage", "upload", s, "--manifest", m, "--json"], &env);
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["txHash"], Value::Null);
    assert_eq!(again["feeWei"], "0");

    let dst = dir.path().join("back.bin");
    let d = dst.to_str().unwrap();
    let out = run(
        &[
            "storage",
            "download",
            &root,
            "-o",
            d,
            "--manifest",
            m,
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&dst).unwrap() == bytes);

    // Existing output, unknown root, missing manifest: errors that say what to do.
    let out = run(
        &["storage", "download", &root, "-o", d, "--manifest", m],
        &[],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
    let unknown = format!("0x{}", "11".repeat(32));
    let other = dir.path().join("x.bin");
    let out = run(
        &[
            "storage",
            "download",
            &unknown,
            "-o",
            other.to_str().unwrap(),
            "--manifest",
            m,
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no storage node has file"));
    assert!(!other.exists());
    let out = run(
        &[
            "storage",
            "download",
            &root,
            "-o",
            "y.bin",
            "--manifest",
            "/nonexistent/m.json",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/m.json"));

    // A chain that is gone: the error names the endpoint.
    let url = devnet.rpc_url().to_owned();
    devnet.stop().unwrap();
    let other = dir.path().join("z.bin");
    let out = run(
        &[
            "storage",
            "download",
            &root,
            "-o",
            other.to_str().unwrap(),
            "--network",
            "devnet",
            "--manifest",
            m,
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains(&url) || err.contains("manifest"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_profile_checks_chain_ids() {
    use zgvault_client::network::Network;
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path());
    config.nodes = 0;
    let devnet = Devnet::start(&config).await.unwrap();
    let net = Network::from_devnet(&dir.path().join(MANIFEST_FILE)).unwrap();
    let connected = net.connect().await.unwrap();
    assert_eq!(connected.flow, devnet.manifest().contracts.flow);
    assert_eq!(connected.nodes.len(), 2);

    // A profile that expects another chain is refused before anything is sent.
    let mut wrong = net.clone();
    wrong.chain_id = 16602;
    let err = wrong.connect().await.unwrap_err();
    assert!(
        matches!(
            err,
            zgvault_client::Error::WrongChain {
                expected: 16602,
                got: 31337,
                ..
            }
        ),
        "{err}"
    );

    // Without listed nodes the indexer is asked, and the shards are still covered.
    let mut via_indexer = net.clone();
    via_indexer.storage_nodes.clear();
    let connected = via_indexer.connect().await.unwrap();
    assert_eq!(connected.nodes.len(), 2);
}
