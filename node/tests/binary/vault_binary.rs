//! The `zgvault-node` binary as a custodial vault, end to end: a real anvil with the
//! FileRegistry, a real SoftHSM2 token (a private one per run, through `softhsm_common`),
//! real HTTP. It refuses to start on an unusable HSM (bad module, wrong PIN) or a broken
//! audit chain; serves deposit → grant → release; rotates its KEK from a key file into the
//! token through the running daemon while releases flow (every one counted); and keeps
//! every key across a restart under the new KEK.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::softhsm_common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use alloy::transports::http::reqwest;
use alloy_primitives::Address;
use common::{
    anvil::{Proc, spawn, start_anvil},
    now,
    registry::Registry,
    secret_file,
};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use zgvault_devsupport::READY_TIMEOUT;
use zgvault_node::{
    ADMIN_LISTENING_LINE, HTTP_LISTENING_LINE, KekConfig, NodeConfig, VaultConfig,
    custody::{DEFAULT_SOFTHSM_MODULE, FileKek, Kek, VaultStore},
};
use zgvault_proto::{
    FileKey,
    request::{AccessRequest, FileRef, KeyDeposit, Scheme, address_of},
    sealbox::{BoxPublicKey, BoxSecretKey},
    wire::{ErrorCode, KeyRequest, KeyResponse, decode_response, encode_request},
};

const TEST_NAME: &str = "custodial_vault_binary_end_to_end_with_softhsm_and_anvil";
const TOKEN: &str = "zgv-vault-e2e";
/// Records put into the store before the daemon starts, so the rotation has real work.
const PRELOADED: u64 = 400;
/// Files registered on-chain, deposited and released.
const FILES: u64 = 6;

#[test]
fn custodial_vault_binary_end_to_end_with_softhsm_and_anvil() {
    softhsm_common::run_with_private_token(module_path!(), TEST_NAME, TOKEN, || {
        tokio::runtime::Runtime::new().unwrap().block_on(scenario());
    });
}

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zgvault-node"));
    command.env("RUST_LOG", "warn");
    command
}

fn config(dir: &Path, rpc: &str, registry: Address, vault: VaultConfig) -> NodeConfig {
    let mut config = NodeConfig {
        data_dir: dir.to_owned(),
        ..NodeConfig::default()
    }
    .custodial(vault);
    config.chain.rpc_url = rpc.parse().unwrap();
    config.chain.file_registry = registry;
    config.p2p.enabled = false;
    config.limits.rate_per_sec = 100_000;
    config.limits.rate_burst = 100_000;
    config.limits.requester_rate_per_min = 1_000_000;
    config.limits.requester_burst = 100_000;
    config
}

fn write_config(config: &NodeConfig) -> PathBuf {
    let path = config.data_dir.join("node.toml");
    std::fs::write(&path, config.to_toml().unwrap()).unwrap();
    path
}

/// Runs `zgvault-node run` to completion and returns its stderr; it must fail.
fn refuses_to_start(config: &NodeConfig) -> String {
    let path = write_config(config);
    let output = binary()
        .args(["run", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "must exit 1");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.contains("error: "), "{stderr}");
    stderr
}

fn hsm(pin_file: &str) -> KekConfig {
    KekConfig::pkcs11(
        DEFAULT_SOFTHSM_MODULE,
        TOKEN,
        "vault-kek-1",
        Some(pin_file.into()),
    )
}

fn file_kek() -> KekConfig {
    KekConfig::file("kek.json", Some("kek.pass".into()))
}

struct Daemon {
    proc: Proc,
    http: String,
}

fn start(config_path: &Path) -> Daemon {
    let proc = spawn(binary().args(["run", "--config"]).arg(config_path));
    let admin = proc
        .wait_for(ADMIN_LISTENING_LINE, READY_TIMEOUT)
        .expect("admin socket line");
    assert!(admin.ends_with("admin.sock"), "{admin}");
    let http = proc
        .wait_for(HTTP_LISTENING_LINE, READY_TIMEOUT)
        .expect("http line");
    Daemon { proc, http }
}

impl Daemon {
    fn stop(mut self) {
        let pid = Pid::from_raw(i32::try_from(self.proc.child.id()).unwrap());
        kill(pid, Signal::SIGTERM).unwrap();
        let status = self.proc.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

async fn post(client: &reqwest::Client, http: &str, request: &KeyRequest) -> KeyResponse {
    let answer = client
        .post(format!("http://{http}/v1/keys"))
        .header("content-type", "application/x-protobuf")
        .body(encode_request(request))
        .send()
        .await
        .unwrap();
    decode_response(&answer.bytes().await.unwrap()).unwrap()
}

/// One release of `file` to the reader: the K, or the refusal code.
async fn release(
    client: &reqwest::Client,
    http: &str,
    registry: &Registry,
    file: FileRef,
    at_block: u64,
) -> Result<[u8; 32], ErrorCode> {
    let response_key = BoxSecretKey::generate().unwrap();
    let request = AccessRequest::new(
        file,
        Scheme::Custodial,
        response_key.public_key(),
        &[],
        now(),
        120,
        at_block,
    )
    .unwrap()
    .sign(&registry.reader, Vec::new())
    .unwrap();
    match post(client, http, &KeyRequest::Access(request.clone())).await {
        KeyResponse::Key(sealed) => {
            let key = sealed.open(&response_key, &request.hash()).unwrap();
            Ok(<[u8; 32]>::try_from(key.as_slice()).unwrap())
        }
        KeyResponse::Error(reply) => Err(reply.code),
        other => panic!("unexpected answer {other:?}"),
    }
}

async fn json(client: &reqwest::Client, url: String) -> (u16, serde_json::Value) {
    let answer = client.get(url).send().await.unwrap();
    let status = answer.status().as_u16();
    (
        status,
        serde_json::from_str(&answer.text().await.unwrap()).unwrap(),
    )
}

/// `zgvault-node vault <sub> --config PATH` (`sub` may be two words, `audit verify`).
fn vault_command(sub: &str, config_path: &Path) -> serde_json::Value {
    let output = binary()
        .arg("vault")
        .args(sub.split(' '))
        .arg("--config")
        .arg(config_path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A temporary data folder with mode 0700, as the vault requires.
fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

async fn scenario() {
    let anvil = start_anvil();
    let rpc = anvil.rpc_url().to_owned();
    let registry = Registry::deploy(&rpc).await;
    let client = reqwest::Client::new();

    // Fail closed: a missing module, a wrong PIN, a broken audit chain.
    let bad = private_dir();
    secret_file(bad.path(), "hsm.pin", softhsm_common::PIN);
    secret_file(bad.path(), "wrong.pin", "0000");
    let mut missing_module = hsm("hsm.pin");
    missing_module.pkcs11.module = "/nonexistent/libsofthsm2.so".into();
    let stderr = refuses_to_start(&config(
        bad.path(),
        &rpc,
        registry.address(),
        VaultConfig::new(missing_module),
    ));
    assert!(
        stderr.contains("cannot load the PKCS#11 module"),
        "{stderr}"
    );
    let stderr = refuses_to_start(&config(
        bad.path(),
        &rpc,
        registry.address(),
        VaultConfig::new(hsm("wrong.pin")),
    ));
    assert!(stderr.contains("wrong PIN"), "{stderr}");
    let stderr = refuses_to_start(&config(
        bad.path(),
        &rpc,
        registry.address(),
        VaultConfig::new(hsm("no-such.pin")),
    ));
    assert!(stderr.contains("pin_file"), "{stderr}");
    // A data folder that group or others can enter: refused, saying what to do.
    let open_dir = private_dir();
    secret_file(open_dir.path(), "kek.pass", "pw");
    std::fs::set_permissions(
        open_dir.path(),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o750),
    )
    .unwrap();
    let stderr = refuses_to_start(&config(
        open_dir.path(),
        &rpc,
        registry.address(),
        VaultConfig::new(file_kek()),
    ));
    assert!(
        stderr.contains(&format!("chmod 700 {}", open_dir.path().display())),
        "{stderr}"
    );
    let broken = private_dir();
    secret_file(broken.path(), "kek.pass", "pw");
    std::fs::write(broken.path().join("audit.jsonl"), "{\"seq\":1}\n").unwrap();
    let stderr = refuses_to_start(&config(
        broken.path(),
        &rpc,
        registry.address(),
        VaultConfig::new(file_kek()),
    ));
    assert!(stderr.contains("audit log"), "{stderr}");

    // The vault starts on a key file, with keys already stored (a vault that has served).
    let dir = private_dir();
    secret_file(dir.path(), "kek.pass", "vault passphrase");
    secret_file(dir.path(), "hsm.pin", softhsm_common::PIN);
    {
        let kek: Arc<dyn Kek> = Arc::new(
            FileKek::open_or_create(&dir.path().join("kek.json"), b"vault passphrase").unwrap(),
        );
        let store = VaultStore::open(dir.path(), kek, &[]).unwrap();
        for i in 0..PRELOADED {
            let mut id = [0xee; 32];
            id[..8].copy_from_slice(&i.to_be_bytes());
            store
                .put(id.into(), &FileKey::generate().unwrap(), Address::ZERO)
                .unwrap();
        }
    }
    let mut node = config(
        dir.path(),
        &rpc,
        registry.address(),
        VaultConfig::new(file_kek()),
    );
    let config_path = write_config(&node);
    let daemon = start(&config_path);
    let (status, info) = json(&client, format!("http://{}/v1/info", daemon.http)).await;
    assert_eq!(status, 200);
    assert_eq!(info["mode"], "custodial");
    let vault_key: [u8; 32] = hex::decode(&info["encryption_key"].as_str().unwrap()[2..])
        .unwrap()
        .try_into()
        .unwrap();
    let vault_key = BoxPublicKey::from_bytes(vault_key);
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let socket = std::fs::metadata(dir.path().join("admin.sock")).unwrap();
    assert!(socket.file_type().is_socket());
    assert_eq!(
        socket.permissions().mode() & 0o777,
        0o600,
        "admin socket is private"
    );
    let (status, health) = json(&client, format!("http://{}/health", daemon.http)).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["kek_ok"], true);
    assert_eq!(health["audit_ok"], true);

    // Deposit → grant → release, over HTTP against the real registry.
    let mut files = Vec::new();
    for salt in 0..FILES {
        let key = FileKey::generate().unwrap();
        let file = registry.register_custodial(salt, vault_key, &key).await;
        let deposit = KeyDeposit::new(file, &key, &vault_key, now())
            .unwrap()
            .sign(&registry.owner)
            .unwrap();
        let answer = post(&client, &daemon.http, &KeyRequest::KeyDeposit(deposit)).await;
        assert!(matches!(answer, KeyResponse::DepositAck(_)), "{answer:?}");
        files.push((file, key));
    }
    let head = registry.head().await;
    let (first, first_key) = &files[0];
    assert_eq!(
        release(&client, &daemon.http, &registry, *first, head).await,
        Err(ErrorCode::AccessDenied),
        "no grant yet"
    );
    for (file, _) in &files {
        registry.allow(file, address_of(&registry.reader)).await;
    }
    let head = registry.head().await;
    assert_eq!(
        &release(&client, &daemon.http, &registry, *first, head)
            .await
            .unwrap(),
        first_key.as_bytes()
    );

    // The admin socket loads no PKCS#11 module the daemon's configuration does not name.
    let mut rogue = node.clone();
    rogue.vault.rotate_to(zgvault_node::KekConfig::pkcs11(
        "/nonexistent/rogue-module.so",
        TOKEN,
        "rogue",
        Some("hsm.pin".into()),
    ));
    let err = zgvault_node::vault_rotate(&rogue)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("(403)") && err.contains("rogue-module.so"),
        "{err}"
    );

    // Rotate into the HSM through the running daemon while releases flow.
    node.vault.rotate_to(hsm("hsm.pin"));
    write_config(&node);
    let rotating = Arc::new(AtomicBool::new(true));
    let files = Arc::new(files);
    let registry = Arc::new(registry);
    let mut readers = Vec::new();
    for worker in 0..4 {
        let (client, http) = (client.clone(), daemon.http.clone());
        let (files, registry, rotating) = (files.clone(), registry.clone(), rotating.clone());
        readers.push(tokio::spawn(async move {
            let (mut released, mut refused) = (0u64, Vec::new());
            let mut i = worker;
            // At least a few rounds after the rotation ended, too.
            let mut after = 0;
            while after < 3 {
                if !rotating.load(Ordering::Acquire) {
                    after += 1;
                }
                let (file, key) = &files[i % files.len()];
                match release(&client, &http, &registry, *file, head).await {
                    Ok(got) => {
                        assert_eq!(&got, key.as_bytes(), "a wrong K was released");
                        released += 1;
                    }
                    Err(code) => refused.push(code),
                }
                i += 1;
            }
            (released, refused)
        }));
    }
    let path = config_path.clone();
    let rotation = tokio::task::spawn_blocking(move || vault_command("rotate", &path))
        .await
        .unwrap();
    rotating.store(false, Ordering::Release);
    let (mut released, mut refused) = (0, Vec::new());
    for reader in readers {
        let (r, f) = reader.await.unwrap();
        released += r;
        refused.extend(f);
    }
    assert_eq!(rotation["ran_at"], "daemon", "{rotation}");
    let report = &rotation["rotation"];
    assert_eq!(
        report["to"],
        format!("pkcs11:{TOKEN}:vault-kek-1"),
        "{rotation}"
    );
    assert_eq!(report["rewrapped"], PRELOADED + FILES, "{rotation}");
    assert!(report["error"].is_null(), "{rotation}");
    // Every release either succeeded with the right K or was refused cleanly (a retryable
    // code); none failed on a half-rotated record.
    assert!(released >= 12, "released {released}");
    assert!(
        refused.iter().all(|c| *c == ErrorCode::RateLimited),
        "refusals during the rotation: {refused:?}"
    );
    eprintln!(
        "rotation: {released} releases during it, {} refused",
        refused.len()
    );

    let status = vault_command("status", &config_path);
    assert_eq!(status["ran_at"], "daemon");
    let counts = status["status"]["records_by_kek"].as_object().unwrap();
    assert_eq!(counts.len(), 1, "{status}");
    assert_eq!(
        counts[&format!("pkcs11:{TOKEN}:vault-kek-1")],
        PRELOADED + FILES,
        "nothing lost: {status}"
    );
    // The audit log verifies with the configured KEKs while the daemon runs, against the
    // daemon's own head: lines MACed under the key file, then under the token.
    let verified = vault_command("audit verify", &config_path);
    assert_eq!(verified["anchor_source"], "daemon", "{verified}");
    let by_key = verified["lines_by_key"].as_object().unwrap();
    assert!(
        by_key.contains_key(&format!("pkcs11:{TOKEN}:vault-kek-1"))
            && by_key.keys().any(|k| k.starts_with("file:")),
        "{verified}"
    );
    // A new log is never started under a running vault.
    let refused = binary()
        .args(["vault", "audit", "new-log", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("stop it"), "{stderr}");
    let (_, metrics) = (
        0,
        client
            .get(format!("http://{}/metrics", daemon.http))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(
        metrics.contains(&format!(
            "zgvault_node_vault_records{{kek=\"pkcs11:{TOKEN}:vault-kek-1\"}} {}",
            PRELOADED + FILES
        )),
        "{metrics}"
    );
    daemon.stop();
    assert!(
        !dir.path().join("admin.sock").exists(),
        "socket removed at shutdown"
    );

    // The audit log: intact chain and MACs, anchored in the store, the rotation recorded,
    // never a K.
    let audit = dir.path().join("audit.jsonl");
    let verified = vault_command("audit verify", &config_path);
    assert_eq!(verified["anchor_source"], "store", "{verified}");
    let lines = verified["lines"].as_u64().unwrap() as usize;
    assert_eq!(verified["anchored_lines"], lines, "{verified}");
    let text = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(text.lines().count(), lines);
    assert!(text.contains("\"action\":\"rotate\""), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.contains("\"action\":\"deposit\""))
            .count()
            >= FILES as usize
    );
    for (_, key) in files.iter() {
        assert!(
            !text.contains(&hex::encode(key.as_bytes())),
            "K in the audit log"
        );
    }
    let offline = vault_command("status", &config_path);
    assert_eq!(offline["ran_at"], "offline", "{offline}");

    // Restart under the HSM KEK: every key is still served.
    let daemon = start(&config_path);
    let head = registry.head().await;
    for (file, key) in files.iter() {
        assert_eq!(
            &release(&client, &daemon.http, &registry, *file, head)
                .await
                .unwrap(),
            key.as_bytes()
        );
    }
    daemon.stop();
}
