//! Custodial vault release benchmark: latency (p50/p95/p99) and requests per second of
//! `POST /v1/keys` custodial access over loopback HTTP against a real anvil (every release
//! runs the gate's chain calls: head, `getFile`, `canAccess`), with the file KEK and with a
//! SoftHSM2 token. Prints a table; never an assertion on time.
//!
//! ```text
//! cargo build --release -p zgvault-node --bins --examples
//! target/release/examples/bench_vault [REQUESTS]   # default 2000
//! ```
//!
//! Needs anvil (`scripts/setup`, or `ZGVAULT_ANVIL`) and SoftHSM2 (`softhsm2-util`). The
//! vault runs as the release `zgvault-node` binary next to this example's folder, with
//! `SOFTHSM2_CONF` pointing at a private token made for the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/common/anvil.rs"]
#[allow(dead_code, unreachable_pub)]
mod anvil;
#[path = "../tests/common/registry.rs"]
#[allow(dead_code, unreachable_pub)]
mod registry;

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::transports::http::reqwest;
use anvil::{spawn, start_anvil};
use registry::Registry;
use zgvault_devsupport::READY_TIMEOUT;
use zgvault_node::{
    HTTP_LISTENING_LINE, KekConfig, NodeConfig, VaultConfig, custody::DEFAULT_SOFTHSM_MODULE,
};
use zgvault_proto::{
    FileKey,
    request::{AccessRequest, FileRef, KeyDeposit, Scheme, SignedAccessRequest, address_of},
    sealbox::{BoxPublicKey, BoxSecretKey},
    wire::{KeyRequest, KeyResponse, decode_response, encode_request},
};

const FILES: u64 = 16;
const CONCURRENCY: usize = 8;
const WARMUP: usize = 100;
const TOKEN: &str = "zgv-bench";
const PIN: &str = "1234";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn secret(dir: &Path, name: &str, value: &str) {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn node_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("zgvault-node");
    assert!(
        bin.is_file(),
        "{} missing: cargo build --release -p zgvault-node --bins --examples",
        bin.display()
    );
    bin
}

/// A private SoftHSM2 token; returns the `SOFTHSM2_CONF` path.
fn softhsm_token(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", TOKEN, "--pin", PIN])
        .args(["--so-pin", "5678"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util (scripts/setup installs SoftHSM2)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

struct Row {
    kek: &'static str,
    p50: f64,
    p95: f64,
    p99: f64,
    mean: f64,
    rps: f64,
}

async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> KeyResponse {
    let answer = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    decode_response(&answer.bytes().await.unwrap()).unwrap()
}

fn sign_requests(
    registry: &Registry,
    files: &[FileRef],
    n: usize,
    head: u64,
) -> Vec<(Vec<u8>, BoxSecretKey, SignedAccessRequest)> {
    (0..n)
        .map(|i| {
            let key = BoxSecretKey::generate().unwrap();
            let request = AccessRequest::new(
                files[i % files.len()],
                Scheme::Custodial,
                key.public_key(),
                &[],
                now(),
                300,
                head,
            )
            .unwrap()
            .sign(&registry.reader, Vec::new())
            .unwrap();
            (
                encode_request(&KeyRequest::Access(request.clone())),
                key,
                request,
            )
        })
        .collect()
}

async fn bench(
    kek: &'static str,
    rpc: &str,
    registry: &Registry,
    requests: usize,
    salt_base: u64,
) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(node_binary());
    let current = if kek == "file" {
        secret(dir.path(), "kek.pass", "bench passphrase");
        KekConfig::file("kek.json", Some("kek.pass".into()))
    } else {
        secret(dir.path(), "hsm.pin", PIN);
        command.env("SOFTHSM2_CONF", softhsm_token(dir.path()));
        KekConfig::pkcs11(
            DEFAULT_SOFTHSM_MODULE,
            TOKEN,
            "bench-kek",
            Some("hsm.pin".into()),
        )
    };
    let mut config = NodeConfig {
        data_dir: dir.path().join("data"),
        ..NodeConfig::default()
    }
    .custodial(VaultConfig::new(current));
    // The vault refuses a data folder that group or others may enter.
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&config.data_dir)
        .unwrap();
    for name in ["kek.pass", "hsm.pin"] {
        if dir.path().join(name).exists() {
            std::fs::rename(dir.path().join(name), config.data_dir.join(name)).unwrap();
        }
    }
    config.chain.rpc_url = rpc.parse().unwrap();
    config.chain.file_registry = registry.address();
    config.p2p.enabled = false;
    config.limits.rate_per_sec = 1_000_000;
    config.limits.rate_burst = 1_000_000;
    config.limits.requester_rate_per_min = 100_000_000;
    config.limits.requester_burst = 1_000_000;
    // One signer from one origin: it may hold the whole replay cache.
    config.limits.replay_cache_per_origin = config.limits.replay_cache_size;
    config.limits.replay_cache_per_signer = config.limits.replay_cache_size;
    let path = dir.path().join("node.toml");
    std::fs::write(&path, config.to_toml().unwrap()).unwrap();
    let daemon = spawn(
        command
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn"),
    );
    let http = daemon
        .wait_for(HTTP_LISTENING_LINE, READY_TIMEOUT)
        .expect("vault started");
    let url = format!("http://{http}/v1/keys");
    let client = reqwest::Client::new();
    let info: serde_json::Value = client
        .get(format!("http://{http}/v1/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vault_key: [u8; 32] = hex::decode(&info["encryption_key"].as_str().unwrap()[2..])
        .unwrap()
        .try_into()
        .unwrap();
    let vault_key = BoxPublicKey::from_bytes(vault_key);

    let mut files = Vec::new();
    for salt in 0..FILES {
        let key = FileKey::generate().unwrap();
        let file = registry
            .register_custodial(salt_base + salt, vault_key, &key)
            .await;
        registry.allow(&file, address_of(&registry.reader)).await;
        let deposit = KeyDeposit::new(file, &key, &vault_key, now())
            .unwrap()
            .sign(&registry.owner)
            .unwrap();
        let answer = post(
            &client,
            &url,
            encode_request(&KeyRequest::KeyDeposit(deposit)),
        )
        .await;
        assert!(matches!(answer, KeyResponse::DepositAck(_)), "{answer:?}");
        files.push(file);
    }
    let head = registry.head().await;

    // Latency: one client, one request at a time, signed in advance.
    let signed = sign_requests(registry, &files, WARMUP + requests, head);
    let mut latencies = Vec::with_capacity(requests);
    for (i, (body, key, request)) in signed.into_iter().enumerate() {
        let started = Instant::now();
        let answer = post(&client, &url, body).await;
        let took = started.elapsed();
        let KeyResponse::Key(sealed) = answer else {
            panic!("release refused: {answer:?}");
        };
        sealed.open(&key, &request.hash()).unwrap();
        if i >= WARMUP {
            latencies.push(took);
        }
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct =
        |p: f64| ms(latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)]);
    let mean = latencies.iter().map(|d| ms(*d)).sum::<f64>() / latencies.len() as f64;

    // Throughput: CONCURRENCY clients sharing the same number of requests.
    let signed = Arc::new(sign_requests(registry, &files, requests, head));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (signed, client, url) = (signed.clone(), client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while i < signed.len() {
                let answer = post(&client, &url, signed[i].0.clone()).await;
                assert!(matches!(answer, KeyResponse::Key(_)), "{answer:?}");
                i += CONCURRENCY;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rps = requests as f64 / started.elapsed().as_secs_f64();
    drop(daemon);
    Row {
        kek,
        p50: pct(0.50),
        p95: pct(0.95),
        p99: pct(0.99),
        mean,
        rps,
    }
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .map_or(2000, |n| n.parse().expect("REQUESTS must be a number"));
    let anvil = start_anvil();
    let rpc = anvil.rpc_url().to_owned();
    let registry = Registry::deploy(&rpc).await;
    let mut rows = Vec::new();
    for (i, kek) in ["file", "softhsm2"].into_iter().enumerate() {
        rows.push(bench(kek, &rpc, &registry, requests, 1000 * i as u64).await);
    }
    println!(
        "custodial release over loopback HTTP, real anvil, {requests} requests (+{WARMUP} warm-up)"
    );
    println!(
        "| KEK | p50 ms | p95 ms | p99 ms | mean ms | releases/s (concurrency {CONCURRENCY}) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
            r.kek, r.p50, r.p95, r.p99, r.mean, r.rps
        );
    }
}
