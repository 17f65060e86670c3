//! One SDK `Session` used for several flows in a row, as a long-lived process (the web app)
//! uses it: every transaction must get the account's next nonce, also after the 0G upload
//! step, which reads the nonce from the chain and sets it itself.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use zgvault_client::flows::{self, Gate, PutOptions, Session};
use zgvault_client::network::Network;
use zgvault_testnet::{Devnet, DevnetConfig};

/// Set in the child this test runs itself as: the SDK keeps a put's state under
/// `$ZGVAULT_HOME`, which must be the test's own, and a test cannot set its own environment
/// (`set_var` is unsafe).
const CHILD_HOME: &str = "ZGVAULT_HOME";

#[test]
fn one_session_puts_and_grants_twice_in_a_row() {
    if std::env::var_os(CHILD_HOME).is_some() {
        return tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(puts_and_grants_twice());
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "one_session_puts_and_grants_twice_in_a_row",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_HOME, dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the test's child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

async fn puts_and_grants_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 3;
    config.threshold = 2;
    config.storage_nodes = 1;
    let devnet = Devnet::start(&config).await.unwrap();
    let manifest = devnet.state_dir().join("manifest.json");
    let network = Network::from_devnet(&manifest).unwrap();
    let session = Session::new(network, devnet.signer("alice").unwrap(), Some(manifest)).unwrap();
    let bob = devnet.signer("bob").unwrap().address();

    let opts = PutOptions {
        gates: vec![Gate::Pass],
        ..Default::default()
    };
    let mut ids = Vec::new();
    for i in 0..2u8 {
        let file = dir.path().join(format!("file-{i}.txt"));
        std::fs::write(&file, format!("file number {i}, put by one session\n")).unwrap();
        let receipt = flows::put(&session, &file, &opts, &|_, _, _| {})
            .await
            .unwrap_or_else(|e| panic!("put {i} through the same session: {e}"));
        assert!(receipt.upload_tx.is_some() && receipt.register_tx.is_some());
        let grant = flows::grant(&session, receipt.file_id, bob, false)
            .await
            .unwrap_or_else(|e| panic!("grant {i} through the same session: {e}"));
        assert_eq!(grant.to, bob);
        ids.push(receipt.file_id);
    }
    assert_ne!(ids[0], ids[1]);
}
