//! `zgvault-node`: the share-holder daemon. Parses flags, sets up logs, calls the library.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use zgvault_node::NodeConfig;

/// zgvault share-holder node: checks the on-chain gate and releases threshold partials.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the node until SIGINT/SIGTERM.
    Run {
        /// TOML config file (every key has a default; unknown keys are refused).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: Box<Flags>,
    },
    /// Create the node's keys (if missing) and print its info as JSON.
    Init {
        /// Folder for keys and the share store.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Print the node's info as JSON (keys must exist).
    Info {
        /// Folder for keys and the share store.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Custodial vault administration (through the running daemon's admin socket, or on
    /// the store directly when no daemon runs).
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// Re-wrap every stored key under the config's current KEK, without downtime. Put the new
    /// KEK in [vault] and the old one under [[vault.previous]] first.
    Rotate {
        /// The node's TOML config file.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
    /// Records per KEK, rotation progress, audit log head (JSON).
    Status {
        /// The node's TOML config file.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
    /// The audit log: verify it, or start a new one.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Older name of `vault audit verify`: the same checks; prints the number of lines.
    VerifyAudit {
        /// The node's TOML config file.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the audit log with the configured KEKs: its chain, every line's MAC, and the
    /// head the vault anchored. Prints a JSON summary; exits 1 naming the first bad line.
    Verify {
        /// The node's TOML config file.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
        /// Verify this file instead of the configured log (e.g. one kept by `new-log`),
        /// without the anchor.
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Start a new audit log (the vault must be stopped): keeps the current file as
    /// FILE.<unix ms> and records its SHA-256 in the new log's first line. For a log
    /// written before audit MACs, a torn one, or one set aside as evidence.
    NewLog {
        /// The node's TOML config file.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
}

/// Overrides applied after the config file and the `ZGVAULT_NODE_*` environment.
#[derive(Debug, Args)]
struct Flags {
    /// Folder for keys and the share store (`data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// HTTP listen address (`http.listen`), e.g. 127.0.0.1:0.
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<String>,
    /// Chain JSON-RPC endpoint (`chain.rpc_url`).
    #[arg(long, value_name = "URL")]
    rpc_url: Option<String>,
    /// Expected chain id (`chain.chain_id`).
    #[arg(long, value_name = "ID")]
    chain_id: Option<String>,
    /// FileRegistry address (`chain.file_registry`).
    #[arg(long, value_name = "ADDRESS")]
    file_registry: Option<String>,
    /// NodeRegistry address (`chain.node_registry`).
    #[arg(long, value_name = "ADDRESS")]
    node_registry: Option<String>,
    /// This node's index in the key set (`node_index`).
    #[arg(long, value_name = "INDEX")]
    node_index: Option<String>,
    /// Devnet only: dealer-made BLS share to import (`genesis_share`).
    #[arg(long, value_name = "PATH")]
    genesis_share: Option<String>,
    /// Any other config key, as KEY=VALUE (dotted TOML key), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

impl Flags {
    fn overrides(self) -> anyhow::Result<Vec<(String, String)>> {
        let named = [
            ("data_dir", self.data_dir),
            ("http.listen", self.http_listen),
            ("chain.rpc_url", self.rpc_url),
            ("chain.chain_id", self.chain_id),
            ("chain.file_registry", self.file_registry),
            ("chain.node_registry", self.node_registry),
            ("node_index", self.node_index),
            ("genesis_share", self.genesis_share),
        ];
        let mut out: Vec<(String, String)> = named
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (key.to_owned(), v)))
            .collect();
        for pair in self.set {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("--set {pair}: expected KEY=VALUE"))?;
            out.push((key.to_owned(), value.to_owned()));
        }
        Ok(out)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain on one line; no backtrace for an operator error.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Run { config, flags } => {
            let config =
                NodeConfig::load(config.as_deref(), std::env::vars(), &flags.overrides()?)?;
            zgvault_node::run(config, shutdown_signal()).await?;
        }
        Command::Init { data_dir } => print_info(data_dir, true)?,
        Command::Info { data_dir } => print_info(data_dir, false)?,
        Command::Vault { command } => vault(command).await?,
    }
    Ok(())
}

async fn vault(command: VaultCommand) -> anyhow::Result<()> {
    let load = |path: &PathBuf| -> anyhow::Result<NodeConfig> {
        let config = NodeConfig::load(Some(path), std::env::vars(), &[])?;
        if config.mode != zgvault_node::NodeMode::Custodial {
            return Err(zgvault_node::Error::NotAVault {
                config: path.clone(),
            }
            .into());
        }
        Ok(config)
    };
    match command {
        VaultCommand::Rotate { config } => {
            let (ran_at, outcome) = zgvault_node::vault_rotate(&load(&config)?).await?;
            let answer = serde_json::json!({ "ran_at": ran_at, "rotation": outcome });
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
        VaultCommand::Status { config } => {
            let (ran_at, status) = zgvault_node::vault_status(&load(&config)?).await?;
            let answer = serde_json::json!({ "ran_at": ran_at, "status": status });
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
        VaultCommand::Audit {
            command: AuditCommand::Verify { config, log },
        } => {
            let report = zgvault_node::vault_audit_verify(&load(&config)?, log).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        VaultCommand::Audit {
            command: AuditCommand::NewLog { config },
        } => {
            let report = zgvault_node::vault_audit_new_log(&load(&config)?).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        VaultCommand::VerifyAudit { config } => {
            let report = zgvault_node::vault_audit_verify(&load(&config)?, None).await?;
            println!("{}", report.summary.lines);
        }
    }
    Ok(())
}

fn print_info(data_dir: PathBuf, create: bool) -> anyhow::Result<()> {
    let config = NodeConfig {
        data_dir,
        ..NodeConfig::default()
    };
    let info = zgvault_node::offline_info(&config, create)?;
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(())
}

/// Completes on SIGINT or SIGTERM (the devnet launcher stops nodes with SIGTERM).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
