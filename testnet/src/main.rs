//! `zgvault-testnet`: a local zgvault devnet in one command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zgvault_testnet::{DevnetConfig, Manifest, default_state_dir};

/// A local zgvault devnet: an EVM chain (anvil) with every zgvault and 0G contract
/// deployed and named accounts funded.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Folder for the manifest and logs [default: $ZGVAULT_DEVNET_DIR or ~/.local/state/zgvault/devnet]
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the devnet (or report the one already running) and write its manifest.
    Up {
        /// Loopback port for the chain RPC; 0 picks a free port.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// EVM chain id.
        #[arg(long, default_value_t = zgvault_testnet::DEFAULT_CHAIN_ID)]
        chain_id: u64,
        /// Share-holder nodes to start (0: none), each with a funded operator account.
        #[arg(long, default_value_t = zgvault_testnet::DEFAULT_NODE_ACCOUNTS)]
        nodes: usize,
        /// Shares needed to recover a key (t of --nodes).
        #[arg(long, default_value_t = zgvault_testnet::DEFAULT_THRESHOLD)]
        threshold: usize,
        /// Seconds between blocks; by default a block is mined per transaction (and, with
        /// --confirmations above 0, also one every second).
        #[arg(long)]
        block_time: Option<u64>,
        /// Blocks the key nodes and the vault want below the head before they answer for
        /// it (their chain.confirmations), as on a real chain.
        #[arg(long, default_value_t = 0)]
        confirmations: u64,
        /// Dev 0G storage nodes to start (0: chain only).
        #[arg(long, default_value_t = zgvault_testnet::DEFAULT_STORAGE_NODES)]
        storage_nodes: usize,
        /// sharded: each node keeps its shard of every file; replicated: each keeps all.
        #[arg(long, default_value = "sharded")]
        storage_layout: zgvault_testnet::StorageLayout,
        /// Where the custodial vault keeps its key-encryption key: softhsm (a SoftHSM2
        /// token made for this devnet) or file (a passphrase-sealed key file).
        #[arg(long, default_value = "softhsm")]
        vault_kek: zgvault_testnet::VaultKek,
        /// Start no custodial vault.
        #[arg(long, conflicts_with = "vault_kek")]
        no_vault: bool,
    },
    /// Stop every process the devnet started and remove its manifest.
    Down,
    /// Report whether the devnet's processes, chain and contracts are up.
    Status,
    /// Print the manifest (JSON) of the running devnet.
    Manifest,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dir = cli.state_dir.unwrap_or_else(default_state_dir);
    match cli.command {
        Command::Up {
            port,
            chain_id,
            nodes,
            threshold,
            block_time,
            confirmations,
            storage_nodes,
            storage_layout,
            vault_kek,
            no_vault,
        } => {
            let config = DevnetConfig {
                state_dir: dir.clone(),
                port,
                chain_id,
                nodes,
                threshold,
                node_rate_limit: None,
                block_time,
                confirmations,
                storage_nodes,
                storage_layout,
                vault: (!no_vault).then_some(vault_kek),
            };
            let up = zgvault_testnet::up(&config).await?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&up.manifest)?);
            } else {
                if up.cleared_stale {
                    println!("cleared a stale devnet manifest (its processes were gone)");
                }
                if up.already_running {
                    println!("devnet already running");
                } else {
                    println!("devnet started");
                }
                print_summary(&up.manifest, &dir);
            }
        }
        Command::Down => {
            let down = zgvault_testnet::down(&dir)?;
            if cli.json {
                let names = |ps: &[zgvault_testnet::Process]| {
                    ps.iter()
                        .map(|p| serde_json::json!({"name": p.name, "pid": p.pid}))
                        .collect::<Vec<_>>()
                };
                let out = serde_json::json!({
                    "stopped": names(&down.stopped),
                    "already_gone": names(&down.already_gone),
                });
                println!("{out}");
            } else {
                for p in &down.stopped {
                    println!("stopped {} (pid {})", p.name, p.pid);
                }
                for p in &down.already_gone {
                    println!("{} (pid {}) was already gone", p.name, p.pid);
                }
                println!("devnet down");
            }
        }
        Command::Status => {
            let status = zgvault_testnet::status(&dir).await?;
            if cli.json {
                let out = serde_json::json!({
                    "healthy": status.healthy(),
                    "rpc_url": status.manifest.rpc_url.to_string(),
                    "chain_id": status.manifest.chain_id,
                    "block": status.chain.as_ref().ok(),
                    "chain_error": status.chain.as_ref().err(),
                    "processes": status.processes.iter().map(|(p, alive)| serde_json::json!({
                        "name": p.name, "pid": p.pid, "alive": alive, "log": p.log,
                    })).collect::<Vec<_>>(),
                    "contracts_without_code": status.missing_code.iter()
                        .map(|(n, a)| serde_json::json!({"name": n, "address": a}))
                        .collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for (p, alive) in &status.processes {
                    let state = if *alive { "running" } else { "NOT RUNNING" };
                    println!(
                        "{:<10} pid {:<8} {state}  (log {})",
                        p.name,
                        p.pid,
                        p.log.display()
                    );
                }
                match &status.chain {
                    Ok(block) => println!(
                        "chain      {} (chain id {}), block {block}",
                        status.manifest.rpc_url, status.manifest.chain_id
                    ),
                    Err(e) => println!("chain      {e}"),
                }
                for (name, addr) in &status.missing_code {
                    println!("contract   {name} at {addr} has no code");
                }
                println!(
                    "{}",
                    if status.healthy() {
                        "healthy"
                    } else {
                        "UNHEALTHY: run `zgvault-testnet down` then `up`"
                    }
                );
            }
            if !status.healthy() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Manifest => {
            let manifest = Manifest::load(&dir)?
                .ok_or(zgvault_testnet::Error::NotRunning { dir: dir.clone() })?;
            println!("{}", serde_json::to_string_pretty(&manifest)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(m: &Manifest, dir: &std::path::Path) {
    println!("  chain      {} (chain id {})", m.rpc_url, m.chain_id);
    for (name, addr) in m.contracts.named() {
        println!("  {name:<14} {addr}");
    }
    if let Some(storage) = &m.storage {
        for (i, n) in storage.nodes.iter().enumerate() {
            println!(
                "  storage-{i:<6} {} (shard {}/{})",
                n.url, n.shard_id, n.num_shard
            );
        }
        println!("  indexer        {}", storage.indexer);
    }
    if let Some(keys) = &m.key_network {
        println!(
            "  key network    epoch {}, {} of {} shares needed (dealer-made devnet key set)",
            keys.epoch,
            keys.threshold,
            keys.nodes.len()
        );
        for n in &keys.nodes {
            println!("  keynode-{:<6} {} ({})", n.index + 1, n.http, n.peer_id);
        }
    }
    if let Some(v) = &m.vault {
        println!(
            "  vault          {} ({}, custodial, KEK in {})",
            v.http,
            v.peer_id,
            match v.kek {
                zgvault_testnet::VaultKek::Softhsm => "a SoftHSM2 token",
                zgvault_testnet::VaultKek::File => "a passphrase-sealed file",
            }
        );
    }
    for a in &m.accounts {
        println!("  {:<14} {}", a.name, a.address);
    }
    println!(
        "  manifest   {}",
        dir.join(zgvault_testnet::MANIFEST_FILE).display()
    );
    println!("stop it with: zgvault-testnet down");
}
