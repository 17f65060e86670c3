//! `zgvault shred` and `zgvault custody`: the owner's custody commands.

use alloy::primitives::B256;
use anyhow::bail;
use zgvault_client::flows::{self, Custody};

use super::session::{SessionArgs, print_json, runtime};

/// The custody commands, flattened into the top-level command list.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CustodyCommand {
    /// Delete a file's key material where it is held (owner only): every node's Shamir
    /// share, or the custodial vault's copy. Exit 1 if some holder did not confirm.
    Shred(ShredArgs),
    /// Move a file's key to another custody without re-uploading (owner only): recover it,
    /// protect it anew, register the new capsule, shred the old custody.
    Custody(MoveArgs),
}

pub(crate) fn run(cmd: CustodyCommand) -> anyhow::Result<()> {
    match cmd {
        CustodyCommand::Shred(args) => run_shred(args),
        CustodyCommand::Custody(args) => run_move(args),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShredArgs {
    /// The file id.
    file_id: B256,
    #[command(flatten)]
    net: SessionArgs,
}

fn run_shred(args: ShredArgs) -> anyhow::Result<()> {
    let session = args.net.open()?;
    let report = runtime()?.block_on(flows::shred(&session, args.file_id))?;
    if args.net.json {
        print_json(&serde_json::to_value(&report)?)?;
    } else {
        println!(
            "shred of file {} ({} custody)",
            report.file_id, report.scheme
        );
        for h in &report.holders {
            let detail = h
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            println!("  {:<8} {:<12} {}{detail}", h.holder, h.outcome, h.address);
        }
        for p in &report.local_state_removed {
            println!("removed the unfinished put/move state {}", p.display());
        }
        println!("note: {}", report.note);
    }
    if !report.complete {
        let left: Vec<&str> = report
            .holders
            .iter()
            .filter(|h| !h.done())
            .map(|h| h.holder.as_str())
            .collect();
        bail!(
            "{} did not confirm the shred: run `zgvault shred {}` again once they are up",
            left.join(", "),
            report.file_id
        );
    }
    Ok(())
}

/// A custody a file can be moved into.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target(Custody);

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Target, String> {
        match s.parse::<Custody>()? {
            Custody::Shamir => Err("moving into shamir custody needs the file sealed again \
                 under a new key (shamir generates K itself): `zgvault put FILE --custody \
                 shamir` uploads a new copy; or use --to threshold or --to custodial"
                .into()),
            other => Ok(Target(other)),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct MoveArgs {
    /// The file id.
    file_id: B256,
    /// Where the key goes: threshold (the nodes' BLS key set) or custodial (the vault).
    #[arg(long)]
    to: Target,
    #[command(flatten)]
    net: SessionArgs,
}

fn run_move(args: MoveArgs) -> anyhow::Result<()> {
    let session = args.net.open()?;
    let json = args.net.json;
    let progress = |step: &'static str| {
        if !json {
            eprintln!("{step}...");
        }
    };
    let report = runtime()?.block_on(flows::move_custody(
        &session,
        args.file_id,
        args.to.0,
        &progress,
    ))?;
    if json {
        print_json(&serde_json::to_value(&report)?)?;
    } else if report.unchanged {
        println!("{}", report.note);
    } else {
        if report.resumed {
            println!("resumed an unfinished custody move");
        }
        println!(
            "file {}: {} -> {} custody",
            report.file_id,
            report.from.name(),
            report.to.name()
        );
        if let Some(from) = &report.recovered_from {
            println!("key from     {from}");
        }
        match report.set_capsule_tx {
            Some(tx) => println!("setCapsule   {tx}"),
            None => println!("setCapsule   already done by an earlier run"),
        }
        if let Some(v) = &report.vault {
            println!("deposited    with the custodial vault {v}");
        }
        for h in &report.old_custody {
            let detail = h
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            println!(
                "shred {:<8} {:<12} {}{detail}",
                h.holder, h.outcome, h.address
            );
        }
        println!("note: {}", report.note);
    }
    if !report.old_custody.iter().all(|h| h.done()) {
        bail!("{}", report.note);
    }
    Ok(())
}
