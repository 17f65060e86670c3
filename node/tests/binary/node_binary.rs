//! The `zgvault-node` binary against a real anvil: it refuses the wrong chain, prints the
//! line the devnet launcher waits for, serves `/health`, and stops cleanly on SIGTERM.
//! Skipped (with a message) when no anvil is installed (`scripts/setup` puts it in
//! `tools/bin`; `ZGVAULT_ANVIL` overrides).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::{Command, Stdio};

use alloy::transports::http::reqwest;
use common::anvil::{spawn, start_anvil};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use zgvault_devsupport::READY_TIMEOUT;

fn node(rpc_url: &str, data_dir: &std::path::Path, chain_id: u64) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zgvault-node"));
    command
        .arg("run")
        .args(["--rpc-url", rpc_url])
        .args(["--chain-id", &chain_id.to_string()])
        .args([
            "--file-registry",
            "0x1111111111111111111111111111111111111111",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--set", "p2p.listen=/ip4/127.0.0.1/tcp/0"])
        .env("RUST_LOG", "warn");
    command
}

#[tokio::test]
async fn binary_checks_chain_serves_and_stops_on_sigterm() {
    let chain = start_anvil();
    let rpc = chain.rpc_url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    // A folder made with a loose umask: a threshold node tightens it to 0700 itself.
    std::fs::set_permissions(
        dir.path(),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();

    // Wrong chain: refuses to start, and says why.
    let wrong = node(&rpc, dir.path(), 1)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("serves chain id 31337"), "{stderr}");

    let mut running = spawn(&mut node(&rpc, dir.path(), 31337));
    // libp2p first, then HTTP: the HTTP line means everything listens.
    let p2p = running
        .wait_for("zgvault-node p2p listening on", READY_TIMEOUT)
        .unwrap();
    assert!(
        p2p.starts_with("/ip4/127.0.0.1/tcp/") && p2p.contains("/p2p/12D3KooW"),
        "{p2p}"
    );
    let addr = running
        .wait_for("zgvault-node http listening on", READY_TIMEOUT)
        .unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o700, "data folder mode {mode:o}");
    let health = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(
        health.status(),
        reqwest::StatusCode::OK,
        "{:?}",
        health.text().await
    );
    let info: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!("http://{addr}/v1/info"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info["http_addr"], addr.as_str());
    assert_eq!(info["listen_addrs"][0], p2p.as_str());

    let pid = Pid::from_raw(i32::try_from(running.child.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let status = running.child.wait().unwrap();
    assert!(status.success(), "{status}");

    // Restart on the same data_dir (HTTP only this time): the same identity.
    let again = spawn(node(&rpc, dir.path(), 31337).args(["--set", "p2p.enabled=false"]));
    let addr = again
        .wait_for("zgvault-node http listening on", READY_TIMEOUT)
        .unwrap();
    let info2: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!("http://{addr}/v1/info"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info["peer_id"], info2["peer_id"]);
    assert_eq!(info["encryption_key"], info2["encryption_key"]);
}
