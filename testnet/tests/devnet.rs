//! The devnet as a user and as a test harness use it: real anvil, real contracts.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use alloy::primitives::U256;
use alloy::providers::{Provider, ProviderBuilder};
use std::os::unix::fs::PermissionsExt;

use zgvault_testnet::{
    Devnet, DevnetConfig, Manifest, PASSPHRASE_FILE, PIN_FILE, SOFTHSM_UTIL_ENV, VaultKek,
};

fn cli(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zgvault-testnet"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .expect("run zgvault-testnet")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn in_process_devnet_has_contracts_and_funded_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path());
    config.nodes = 3;
    let devnet = Devnet::start(&config).await.unwrap();
    let m = devnet.manifest().clone();
    let provider = ProviderBuilder::new().connect_http(m.rpc_url.expose().clone());

    assert_eq!(provider.get_chain_id().await.unwrap(), m.chain_id);
    for (name, addr) in m.contracts.named() {
        assert!(
            !provider.get_code_at(addr).await.unwrap().is_empty(),
            "{name} has no code"
        );
    }
    let names: Vec<_> = m.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "deployer", "alice", "bob", "carol", "node-1", "node-2", "node-3"
        ]
    );
    let alice = devnet.signer("alice").unwrap();
    assert_eq!(alice.address(), m.account("alice").unwrap().address);
    let balance = provider.get_balance(alice.address()).await.unwrap();
    assert_eq!(
        balance,
        U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64))
    );
    assert!(m.price_per_sector > U256::ZERO);

    // The manifest on disk is the one we were handed.
    assert_eq!(Manifest::load(dir.path()).unwrap(), Some(m.clone()));

    // Dropping the devnet stops the chain.
    let url = m.rpc_url.clone();
    devnet.stop().unwrap();
    let provider = ProviderBuilder::new().connect_http(url.expose().clone());
    assert!(
        provider.get_chain_id().await.is_err(),
        "chain still answers after stop"
    );
    assert_eq!(Manifest::load(dir.path()).unwrap(), None);
}

#[test]
fn cli_up_twice_status_crash_and_down() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();

    let first = cli(state, &["up", "--nodes", "2", "--threshold", "2"]);
    assert!(first.status.success(), "up failed: {}", stderr(&first));
    assert!(stdout(&first).contains("devnet started"));
    let m1 = Manifest::load(state).unwrap().expect("manifest written");
    // A custodial vault by default, its KEK in a SoftHSM2 token made for this devnet, the
    // PIN readable only by its owner; `status` and `down` cover it like every process.
    let vault = m1.vault.clone().expect("a vault by default");
    assert_eq!(vault.kek, VaultKek::Softhsm);
    assert!(stdout(&first).contains(&vault.http), "{}", stdout(&first));
    let pin = std::fs::metadata(vault.data_dir.join(PIN_FILE)).unwrap();
    assert_eq!(pin.permissions().mode() & 0o777, 0o600);
    let vault_pid = m1
        .processes
        .iter()
        .find(|p| p.name == "vault")
        .expect("the vault is a devnet process")
        .pid;

    // A second `up` finds the running devnet and changes nothing.
    let second = cli(state, &["up", "--json"]);
    assert!(second.status.success(), "{}", stderr(&second));
    let m2: Manifest = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(m1, m2);

    let status = cli(state, &["status", "--json"]);
    assert!(status.status.success(), "{}", stdout(&status));
    let s: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["healthy"], true);
    assert_eq!(s["contracts_without_code"].as_array().unwrap().len(), 0);

    // Simulate a crash: the chain dies behind the manifest's back.
    let pid = m1.processes[0].pid;
    let killed = Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    wait_gone(pid);
    let status = cli(state, &["status"]);
    assert!(
        !status.status.success(),
        "status of a dead devnet must fail"
    );
    assert!(
        stdout(&status).contains("NOT RUNNING"),
        "{}",
        stdout(&status)
    );

    // `up` clears the stale manifest and starts afresh.
    let third = cli(state, &["up"]);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(stdout(&third).contains("cleared a stale devnet manifest"));
    let m3 = Manifest::load(state).unwrap().unwrap();
    assert_ne!(m3.processes[0].pid, pid);

    // The crashed devnet's vault was stopped with the rest of it.
    wait_gone(vault_pid);
    let status = cli(state, &["status", "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let vault = s["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "vault")
        .cloned()
        .expect("status lists the vault");
    assert_eq!(vault["alive"], true, "{s}");

    let down = cli(state, &["down"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(stdout(&down).contains("stopped chain"));
    assert!(stdout(&down).contains("stopped vault"), "{}", stdout(&down));
    wait_gone(vault["pid"].as_u64().unwrap() as u32);
    wait_gone(m3.processes[0].pid);
    assert_eq!(Manifest::load(state).unwrap(), None);

    // Nothing left to stop: a clear error, not a crash.
    let again = cli(state, &["down"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("no devnet is running"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn cli_vault_with_a_file_kek_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let small = ["--nodes", "0", "--storage-nodes", "0"];
    let up = cli(
        dir.path(),
        &[&["up", "--vault-kek", "file"][..], &small].concat(),
    );
    assert!(up.status.success(), "{}", stderr(&up));
    let m = Manifest::load(dir.path()).unwrap().unwrap();
    let vault = m.vault.expect("a vault");
    assert_eq!(vault.kek, VaultKek::File);
    let pass = std::fs::metadata(vault.data_dir.join(PASSPHRASE_FILE)).unwrap();
    assert_eq!(pass.permissions().mode() & 0o777, 0o600);
    assert!(cli(dir.path(), &["down"]).status.success());

    let up = cli(dir.path(), &[&["up", "--no-vault"][..], &small].concat());
    assert!(up.status.success(), "{}", stderr(&up));
    let m = Manifest::load(dir.path()).unwrap().unwrap();
    assert!(m.vault.is_none());
    assert!(m.processes.iter().all(|p| p.name != "vault"));
    assert!(cli(dir.path(), &["down"]).status.success());
}

#[test]
fn fail_missing_softhsm_says_run_setup_or_use_a_file_kek() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zgvault-testnet"))
        .arg("--state-dir")
        .arg(dir.path())
        .args(["up", "--nodes", "0", "--storage-nodes", "0"])
        .env(SOFTHSM_UTIL_ENV, dir.path().join("no-such-softhsm2-util"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("scripts/setup") && text.contains("--vault-kek file"),
        "{text}"
    );
    assert_eq!(
        Manifest::load(dir.path()).unwrap(),
        None,
        "no manifest on failure"
    );
}

#[test]
fn fail_port_in_use_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = cli(dir.path(), &["up", "--port", &port]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already in use"), "{}", stderr(&out));
    assert_eq!(
        Manifest::load(dir.path()).unwrap(),
        None,
        "no manifest on failure"
    );
}

#[test]
fn fail_missing_anvil_says_run_setup() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zgvault-testnet"))
        .arg("--state-dir")
        .arg(dir.path())
        .arg("up")
        .env("ZGVAULT_ANVIL", dir.path().join("no-such-anvil"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("scripts/setup"), "{}", stderr(&out));
}

#[test]
fn fail_garbage_manifest_is_cleared_by_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest.json"), "{ torn write").unwrap();
    let status = cli(dir.path(), &["status"]);
    assert!(!status.status.success());
    assert!(
        stderr(&status).contains("zgvault-testnet down"),
        "{}",
        stderr(&status)
    );
    let up = cli(dir.path(), &["up", "--nodes", "0"]);
    assert!(up.status.success(), "{}", stderr(&up));
    let down = cli(dir.path(), &["down"]);
    assert!(down.status.success(), "{}", stderr(&down));
}

/// Waits until a killed pid is gone (bounded: the kernel reaps it promptly).
fn wait_gone(pid: u32) {
    for _ in 0..400 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("pid {pid} still alive");
}
