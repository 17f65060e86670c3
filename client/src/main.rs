//! `zgvault`: private data on 0G Storage. Parses arguments and hands each subcommand to
//! its `cli::<command>::run`.

mod cli;

use clap::{Parser, Subcommand};

/// Private data on 0G Storage: files are sealed on your device, only ciphertext is uploaded.
#[derive(Debug, Parser)]
#[command(name = "zgvault", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute a file's 0G Storage Merkle root, submission nodes and fee sectors, offline.
    Root(cli::root::Args),
    /// Encrypt a file into the zgvault sealed format (offline); prints its 0G root.
    Seal(cli::seal::SealArgs),
    /// Decrypt a sealed file with its key, verifying every chunk (offline).
    Open(cli::seal::OpenArgs),
    /// Raw 0G Storage transfers: upload a file as it is, or download one by root hash.
    #[command(subcommand)]
    Storage(cli::storage::StorageCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr so `--json` output on stdout stays clean; RUST_LOG=debug for more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Root(args) => cli::root::run(args),
        Command::Seal(args) => cli::seal::run_seal(args),
        Command::Open(args) => cli::seal::run_open(args),
        Command::Storage(cmd) => cli::storage::run(cmd),
    };
    cli::exit(result)
}
