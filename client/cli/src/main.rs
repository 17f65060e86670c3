//! `zgvault`: private data on 0G Storage. Parses arguments and hands each subcommand to
//! its `cli::<command>::run`.
//!
#![doc = include_str!("../README.md")]

mod cli;

use clap::{Parser, Subcommand};

/// Private data on 0G Storage: files are sealed on your device, only ciphertext is uploaded.
///
/// Exit codes: 0 ok, 1 error, 2 usage error, 3 access denied (ask the file's owner).
#[derive(Debug, Parser)]
#[command(name = "zgvault", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or import your Ethereum key (encrypted keystore) and pick a network.
    Init(cli::session::InitArgs),
    /// Seal a file, upload it to 0G, hand its key to the key network or the vault, register it.
    Put(cli::session::PutArgs),
    /// Recover a file's key (key network or vault), download, verify and open it.
    Get(cli::session::GetArgs),
    /// Let someone read a file: mint them an AccessPass, or add them to the allow-list.
    Grant(cli::manage::GrantArgs),
    /// Stop future key releases to someone (burn their passes, allow-list, --deny).
    Revoke(cli::manage::RevokeArgs),
    /// List the files you registered (and unfinished puts).
    Ls(cli::manage::LsArgs),
    /// Show a file's registry record, policy, and whether you may read it.
    Info(cli::manage::InfoArgs),
    /// Show or replace who may read a file.
    Policy(cli::manage::PolicyArgs),
    /// Check the network: chain, storage nodes, key nodes, epoch and threshold.
    Status(cli::manage::StatusArgs),
    #[command(flatten)]
    Custody(cli::custody::CustodyCommand),
    /// Compute a file's 0G Storage Merkle root, submission nodes and fee sectors, offline.
    Root(cli::root::Args),
    /// Encrypt a file into the zgvault sealed format (offline); prints its 0G root.
    Seal(cli::seal::SealArgs),
    /// Decrypt a sealed file with its key, verifying every chunk (offline).
    Open(cli::seal::OpenArgs),
    /// Raw 0G Storage transfers: upload a file as it is, or download one by root hash.
    #[command(subcommand)]
    Storage(cli::storage::StorageCommand),
    /// Ask a question of files you may read, answered on this device (they are opened in
    /// memory; exact answers over tables show their query).
    #[cfg(feature = "rag")]
    Ask(cli::ask::AskArgs),
    /// A conversation about your files, one question per line, kept on this device.
    #[cfg(feature = "rag")]
    Chat(cli::ask::ChatArgs),
    /// Remove a file's passages, vectors and chat turns from this device's library.
    #[cfg(feature = "rag")]
    Forget(cli::ask::ForgetArgs),
    /// The web app: a page in your browser for everything above, served by this computer
    /// only (loopback), until Ctrl-C.
    #[cfg(feature = "ui")]
    Ui(zgvault_ui::UiArgs),
}

/// The web app's Ask panel: the local question library when this build has it.
#[cfg(feature = "ui")]
fn ui_asker() -> Option<std::sync::Arc<dyn zgvault_ui::Asker>> {
    #[cfg(feature = "rag")]
    return Some(std::sync::Arc::new(cli::ask::UiAsker::new()));
    #[cfg(not(feature = "rag"))]
    return None;
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
        Command::Init(args) => cli::session::run_init(args),
        Command::Put(args) => cli::session::run_put(args),
        Command::Get(args) => cli::session::run_get(args),
        Command::Grant(args) => cli::manage::run_grant(args),
        Command::Revoke(args) => cli::manage::run_revoke(args),
        Command::Ls(args) => cli::manage::run_ls(args),
        Command::Info(args) => cli::manage::run_info(args),
        Command::Policy(args) => cli::manage::run_policy(args),
        Command::Status(args) => cli::manage::run_status(args),
        Command::Custody(cmd) => cli::custody::run(cmd),
        Command::Root(args) => cli::root::run(args),
        Command::Seal(args) => cli::seal::run_seal(args),
        Command::Open(args) => cli::seal::run_open(args),
        Command::Storage(cmd) => cli::storage::run(cmd),
        #[cfg(feature = "rag")]
        Command::Ask(args) => cli::ask::run_ask(args),
        #[cfg(feature = "rag")]
        Command::Chat(args) => cli::ask::run_chat(args),
        #[cfg(feature = "rag")]
        Command::Forget(args) => cli::ask::run_forget(args),
        #[cfg(feature = "ui")]
        Command::Ui(args) => cli::session::runtime()
            .and_then(|rt| Ok(rt.block_on(zgvault_ui::serve(args.options(ui_asker())))?)),
    };
    cli::exit(result)
}
