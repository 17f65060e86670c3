//! Upload and download throughput on the devnet: our client against the official 0G
//! TypeScript SDK, against the same dev storage nodes, in one run. Prints a table.
//!
//! ```text
//! cargo run --release -p zgvault-testnet --example bench_storage -- [SIZE_MIB ...]
//! ```
//! Default sizes: 64 and 512 MiB. Needs `scripts/setup` (anvil, node, the SDK).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use alloy::providers::ProviderBuilder;
use zgvault_client::storage::{
    DownloadOptions, IndexerClient, NodeClient, UploadOptions, download_file, locate_nodes,
    upload_file,
};
use zgvault_client::zg::RootHasher;
use zgvault_testnet::{Devnet, DevnetConfig};

const MIB: u64 = 1 << 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<u64> = match std::env::args().skip(1).collect::<Vec<_>>() {
        a if a.is_empty() => vec![64, 512],
        a => a.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
    };
    let dir = tempfile::tempdir()?;
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 0;
    let devnet = Devnet::start(&config).await?;
    let storage = devnet
        .storage()
        .ok_or_else(|| anyhow::anyhow!("no storage"))?
        .clone();
    let indexer = IndexerClient::new(storage.indexer.clone())?;
    let nodes: Vec<NodeClient> = storage
        .nodes
        .iter()
        .map(|n| NodeClient::new(n.url.clone()))
        .collect::<Result<_, _>>()?;
    let signer = devnet.signer("alice")?;
    let me = signer.address();
    // The SDK pays from another account than ours, as two users would.
    let key = devnet
        .manifest()
        .account("bob")
        .map(|a| a.private_key.clone())
        .unwrap_or_default();
    let provider = ProviderBuilder::new()
        .wallet(signer)
        .connect_http(devnet.rpc_url().parse()?);
    let flow = devnet.manifest().contracts.flow;

    println!(
        "devnet: anvil + {} dev storage nodes ({:?}), loopback; {} cores",
        storage.nodes.len(),
        storage.layout,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| size | ours upload MiB/s | SDK upload MiB/s | upload ratio | ours download MiB/s | SDK download MiB/s | download ratio |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (i, mib) in sizes.iter().enumerate() {
        let size = mib * MIB;
        // Different data for each client, so neither finds the other's file stored.
        let ours_src = make_file(dir.path(), &format!("ours-{mib}"), size, 2 * i as u64)?;
        let sdk_src = make_file(dir.path(), &format!("sdk-{mib}"), size, 2 * i as u64 + 1)?;

        let t = Instant::now();
        let root = {
            let mut h = RootHasher::new();
            std::io::copy(&mut std::fs::File::open(&ours_src)?, &mut h)?;
            h.finish()?
        };
        upload_file(
            &provider,
            flow,
            me,
            &nodes,
            &ours_src,
            &root,
            &UploadOptions::default(),
            &|_, _| {},
        )
        .await?;
        let ours_up = t.elapsed().as_secs_f64();

        let sdk_up = sdk(&[
            "upload",
            "--rpc",
            devnet.rpc_url(),
            "--key",
            &key,
            "--indexer",
            indexer.url(),
            "--file",
            &path_str(&sdk_src),
            "--timeout",
            "3600",
        ])?;
        let sdk_root = sdk_up["rootHash"].as_str().unwrap_or_default().to_owned();

        let out = dir.path().join(format!("ours-{mib}.out"));
        let t = Instant::now();
        let holders = locate_nodes(&indexer, root.root()).await?;
        download_file(
            &holders,
            root.root(),
            &out,
            &DownloadOptions::default(),
            &|_, _| {},
        )
        .await?;
        let ours_down = t.elapsed().as_secs_f64();
        anyhow::ensure!(same_file(&ours_src, &out)?, "our download differs");
        std::fs::remove_file(&out)?;

        let sdk_out = dir.path().join(format!("sdk-{mib}.out"));
        let t = Instant::now();
        sdk(&[
            "download",
            "--indexer",
            indexer.url(),
            "--root",
            &sdk_root,
            "--out",
            &path_str(&sdk_out),
            "--proof",
            "--timeout",
            "3600",
        ])?;
        let sdk_down = t.elapsed().as_secs_f64();
        anyhow::ensure!(same_file(&sdk_src, &sdk_out)?, "SDK download differs");
        std::fs::remove_file(&sdk_out)?;

        let rate = |secs: f64| *mib as f64 / secs;
        println!(
            "| {mib} MiB | {:.1} | {:.1} | {:.1}x | {:.1} | {:.1} | {:.1}x |",
            rate(ours_up),
            rate(sdk_up["seconds"].as_f64().unwrap_or(f64::NAN)),
            sdk_up["seconds"].as_f64().unwrap_or(f64::NAN) / ours_up,
            rate(ours_down),
            rate(sdk_down),
            sdk_down / ours_down,
        );
        std::fs::remove_file(&ours_src)?;
        std::fs::remove_file(&sdk_src)?;
    }
    devnet.stop()?;
    Ok(())
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// A file of pseudo-random bytes (xorshift), written in 1 MiB blocks.
fn make_file(dir: &Path, name: &str, size: u64, seed: u64) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        for b in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(MIB) as usize;
        f.write_all(block.get(..n).unwrap_or(&block))?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(path)
}

fn same_file(a: &Path, b: &Path) -> anyhow::Result<bool> {
    use std::io::Read;
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    loop {
        let na = fa.read(&mut ba)?;
        let nb = fb.read(&mut bb)?;
        if na != nb || ba.get(..na) != bb.get(..nb) {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

/// Runs the official SDK through scripts/zg-sdk.mjs; returns its JSON line.
fn sdk(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/zg-sdk.mjs");
    let out = Command::new("node").arg(script).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "official SDK failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}
