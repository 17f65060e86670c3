//! Key recovery on the devnet: latency of a whole recovery (sign, fan out to all nodes,
//! each node checks the on-chain gate and computes its partial, verify, combine) for
//! n=5,t=3 and n=16,t=11, and one node's sustained partials per second under concurrent
//! load. Prints tables.
//!
//! ```text
//! cargo run --release -p zgvault-testnet --example bench_keys -- [ROUNDS]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::primitives::{B256, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::transports::http::reqwest;
use k256::ecdsa::SigningKey;
use zgvault_client::keys::{KeyNode, RecoverOptions, recover_key};
use zgvault_contracts::{AccessPass, FileRegistry, SCHEME_BLS, file_id, policy};
use zgvault_proto::FileKey;
use zgvault_proto::request::{AccessRequest, FileRef, Scheme};
use zgvault_proto::sealbox::BoxSecretKey;
use zgvault_proto::threshold::BlsKeySet;
use zgvault_proto::wire::{self, KeyRequest, KeyResponse};
use zgvault_testnet::{Devnet, DevnetConfig};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct Setup {
    devnet: Devnet,
    key_set: BlsKeySet,
    nodes: Vec<KeyNode>,
    file: FileRef,
    capsule: zgvault_proto::threshold::BlsCapsule,
    bob: SigningKey,
    _dir: tempfile::TempDir,
}

async fn setup(n: usize, t: usize) -> anyhow::Result<Setup> {
    let dir = tempfile::tempdir()?;
    let mut config = DevnetConfig::new(dir.path());
    config.nodes = n;
    config.threshold = t;
    config.storage_nodes = 0;
    config.node_rate_limit = Some(1_000_000);
    let devnet = Devnet::start(&config).await?;
    let m = devnet.manifest().clone();
    let net = m
        .key_network
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no key network"))?;
    let key_set =
        BlsKeySet::from_bytes(&hex::decode(net.public_key_set.trim_start_matches("0x"))?)?;
    let nodes = net
        .nodes
        .iter()
        .map(|k| KeyNode {
            index: k.index,
            endpoint: zgvault_client::keys::Endpoint {
                http: Some(k.http.clone()),
                p2p: None,
            },
            enc_key: k.encryption_key.0,
        })
        .collect();
    let alice = devnet.signer("alice")?;
    let owner = alice.address();
    let provider = ProviderBuilder::new()
        .wallet(alice)
        .connect_http(devnet.rpc_url().parse()?);
    let salt = B256::from(*FileKey::generate()?.as_bytes());
    let file = FileRef {
        chain_id: m.chain_id,
        registry: m.contracts.file_registry,
        file_id: file_id(owner, salt),
    };
    let key = FileKey::generate()?;
    let capsule = key_set.encrypt_file_key(&file, &key)?;
    let registry = FileRegistry::new(m.contracts.file_registry, &provider);
    let reg = FileRegistry::Registration {
        rootHash: B256::repeat_byte(0x11),
        txSeq: U256::ZERO,
        size: U256::from(1),
        scheme: SCHEME_BLS,
        capsule: Bytes::from(capsule.to_bytes()),
        notBefore: 0,
        notAfter: 0,
        policy: vec![vec![policy::access_pass(m.contracts.access_pass)]],
    };
    registry
        .register(salt, reg)
        .send()
        .await?
        .get_receipt()
        .await?;
    let bob = m.account("bob").ok_or_else(|| anyhow::anyhow!("no bob"))?;
    AccessPass::new(m.contracts.access_pass, &provider)
        .mint(file.file_id, bob.address)
        .send()
        .await?
        .get_receipt()
        .await?;
    let bob = SigningKey::from_slice(&hex::decode(bob.private_key.trim_start_matches("0x"))?)?;
    Ok(Setup {
        devnet,
        key_set,
        nodes,
        file,
        capsule,
        bob,
        _dir: dir,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

async fn latency(s: &Setup, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let provider = ProviderBuilder::new().connect_http(s.devnet.rpc_url().parse()?);
    let cap = s.capsule.to_bytes();
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds + 5 {
        let at_block = provider.get_block_number().await?;
        let t0 = Instant::now();
        let secret = BoxSecretKey::generate()?;
        let req = AccessRequest::new(
            s.file,
            Scheme::Bls,
            secret.public_key(),
            &cap,
            now(),
            120,
            at_block,
        )?
        .sign(&s.bob, cap.clone())?;
        let combiner = s.key_set.combiner(&s.file, &s.capsule, s.nodes.len());
        recover_key(&s.nodes, &req, &secret, combiner, RecoverOptions::default()).await?;
        if i >= 5 {
            times.push(t0.elapsed()); // the first 5 warm connections and caches
        }
    }
    times.sort();
    Ok(times)
}

/// Partials per second from node 0 with `concurrency` requests in flight, and the node's
/// own CPU seconds over the run (from /proc), for partials per core-second.
async fn throughput(
    s: &Setup,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, f64, usize)> {
    let url = format!(
        "{}/v1/keys",
        s.nodes[0].endpoint.http.clone().unwrap_or_default()
    );
    let at_block = ProviderBuilder::new()
        .connect_http(s.devnet.rpc_url().parse()?)
        .get_block_number()
        .await?;
    let cap = s.capsule.to_bytes();
    // Requests are signed up front so the client's signing does not compete with the node.
    let bodies: Vec<Vec<u8>> = (0..total)
        .map(|_| {
            let secret = BoxSecretKey::generate()?;
            let req = AccessRequest::new(
                s.file,
                Scheme::Bls,
                secret.public_key(),
                &cap,
                now(),
                300,
                at_block,
            )?
            .sign(&s.bob, cap.clone())?;
            Ok(wire::encode_request(&KeyRequest::Access(req)))
        })
        .collect::<anyhow::Result<_>>()?;
    let pid = s
        .devnet
        .pid_of("keynode-1")
        .ok_or_else(|| anyhow::anyhow!("no keynode-1"))?;
    let cpu0 = cpu_seconds(pid)?;
    let http = reqwest::Client::new();
    let queue = Arc::new(tokio::sync::Mutex::new(bodies));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (queue, http, url) = (queue.clone(), http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0usize;
            loop {
                let Some(body) = queue.lock().await.pop() else {
                    return ok;
                };
                let resp = http
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await;
                if let Ok(resp) = resp
                    && let Ok(bytes) = resp.bytes().await
                    && matches!(wire::decode_response(&bytes), Ok(KeyResponse::Partial(_)))
                {
                    ok += 1;
                }
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await?;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu0;
    Ok((ok as f64 / wall, ok as f64 / cpu, ok))
}

fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the state field.
    let ticks: f64 = fields
        .get(11)
        .and_then(|f| f.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0);
    Ok(ticks / 100.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200);
    println!(
        "key recovery over HTTP on loopback, gate included; {rounds} rounds each; 2 cores shared by anvil, every node and the client"
    );
    println!("| n | t | p50 ms | p95 ms | p99 ms | mean ms |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut five = None;
    for (n, t) in [(5, 3), (16, 11)] {
        let s = setup(n, t).await?;
        let times = latency(&s, rounds).await?;
        let mean =
            times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len() as f64 * 1000.0;
        println!(
            "| {n} | {t} | {:.1} | {:.1} | {:.1} | {mean:.1} |",
            percentile(&times, 0.50),
            percentile(&times, 0.95),
            percentile(&times, 0.99)
        );
        if n == 5 {
            five = Some(s);
        } else {
            s.devnet.stop()?;
        }
    }
    if let Some(s) = five {
        println!();
        println!("one node under load (n=5 devnet, keynode-1, requests pre-signed)");
        println!("| concurrency | requests | partials/s (wall) | partials per node CPU-second |");
        println!("|---:|---:|---:|---:|");
        for concurrency in [8, 32] {
            let (per_sec, per_cpu, ok) = throughput(&s, 2000, concurrency).await?;
            println!("| {concurrency} | {ok} | {per_sec:.0} | {per_cpu:.0} |");
        }
        s.devnet.stop()?;
    }
    Ok(())
}
