//! `zgs-dev`: a 0G-compatible storage node (and indexer) for the zgvault devnet.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use alloy::primitives::Address;
use clap::{Parser, Subcommand};
use zgvault_testnet::zgs::{self, IndexerNode, ShardConfig, ZgsConfig};

/// A 0G-compatible storage node for the devnet: the `zgs_*` JSON-RPC subset clients use,
/// following the devnet Flow contract, data on disk.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a storage node.
    Node {
        /// Address to listen on; port 0 picks a free port (printed on start).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Folder for the node's data; it survives restarts.
        #[arg(long)]
        data_dir: PathBuf,
        /// Read --rpc-url, --flow and --start-block from a devnet manifest.
        #[arg(long, conflicts_with_all = ["rpc_url", "flow"])]
        manifest: Option<PathBuf>,
        /// The chain's JSON-RPC URL.
        #[arg(long, required_unless_present = "manifest")]
        rpc_url: Option<String>,
        /// Address of the Flow contract to follow.
        #[arg(long, required_unless_present = "manifest")]
        flow: Option<Address>,
        /// First block to scan for Submit events.
        #[arg(long, default_value_t = 0)]
        start_block: u64,
        /// This node's shard.
        #[arg(long, default_value_t = 0)]
        shard_id: u64,
        /// Number of shards (a power of two).
        #[arg(long, default_value_t = 1)]
        num_shard: u64,
        /// Milliseconds between chain polls.
        #[arg(long, default_value_t = 200)]
        poll_ms: u64,
        /// Fault injection for tests: serve every segment with one bit flipped.
        #[arg(long)]
        corrupt_downloads: bool,
    },
    /// Run an indexer over storage nodes.
    Indexer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// A node as URL@SHARD_ID/NUM_SHARD, e.g. http://127.0.0.1:5678@0/2 (repeat).
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Node {
            listen,
            data_dir,
            manifest,
            rpc_url,
            flow,
            start_block,
            shard_id,
            num_shard,
            poll_ms,
            corrupt_downloads,
        } => {
            let (rpc_url, flow, start_block) = match manifest {
                Some(path) => {
                    let dir = path.parent().unwrap_or(std::path::Path::new("."));
                    let m = zgvault_testnet::Manifest::load(dir)?.ok_or_else(|| {
                        anyhow::anyhow!("no devnet manifest at {}", path.display())
                    })?;
                    (
                        m.rpc_url.expose().to_string(),
                        m.contracts.flow,
                        m.deploy_block,
                    )
                }
                None => (
                    rpc_url.unwrap_or_default(),
                    flow.unwrap_or_default(),
                    start_block,
                ),
            };
            let listener = bind(listen).await?;
            let config = ZgsConfig {
                data_dir,
                rpc_url,
                flow,
                start_block,
                shard: ShardConfig {
                    shard_id,
                    num_shard,
                },
                poll: Duration::from_millis(poll_ms),
                corrupt_downloads,
            };
            zgs::run(listener, config, shutdown_signal()).await?;
        }
        Command::Indexer { listen, nodes } => {
            let nodes = nodes
                .iter()
                .map(|n| parse_node(n))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let listener = bind(listen).await?;
            zgs::run_indexer(listener, nodes, shutdown_signal()).await?;
        }
    }
    Ok(())
}

async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr}: {e} (pick another --listen address)")
    })?;
    // The devnet launcher waits for this line to learn the port.
    println!("zgs-dev listening on {}", listener.local_addr()?);
    Ok(listener)
}

fn parse_node(s: &str) -> anyhow::Result<IndexerNode> {
    let bad = || anyhow::anyhow!("--node {s:?} must look like http://127.0.0.1:5678@0/2");
    let (url, shard) = s.rsplit_once('@').ok_or_else(bad)?;
    let (id, n) = shard.split_once('/').ok_or_else(bad)?;
    let config = ShardConfig {
        shard_id: id.parse().map_err(|_| bad())?,
        num_shard: n.parse().map_err(|_| bad())?,
    };
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("--node {s:?}: {e}"))?;
    Ok(IndexerNode {
        url: url.to_owned(),
        config,
    })
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
