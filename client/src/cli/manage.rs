//! `zgvault grant`, `revoke`, `ls`, `info`, `policy` and `status`.

use alloy::primitives::{Address, B256};
use anyhow::bail;
use serde_json::json;
use zgvault_client::vault::{self, Gate};

use super::vault::{VaultArgs, print_json, runtime};

#[derive(Debug, clap::Args)]
pub(crate) struct GrantArgs {
    /// The file id.
    file_id: B256,
    /// Who may read it.
    #[arg(long)]
    to: Address,
    /// Add them to the allow-list instead of minting an AccessPass.
    #[arg(long)]
    allow: bool,
    #[command(flatten)]
    net: VaultArgs,
}

pub(crate) fn run_grant(args: GrantArgs) -> anyhow::Result<()> {
    let vault = args.net.open()?;
    let r = runtime()?.block_on(vault::grant(&vault, args.file_id, args.to, args.allow))?;
    if args.net.json {
        return print_json(&serde_json::to_value(&r)?);
    }
    match r.token_id {
        Some(id) => println!(
            "minted AccessPass #{id} for file {} to {} (tx {})",
            r.file_id, r.to, r.tx
        ),
        None if r.how == "pass" => println!(
            "minted an AccessPass for file {} to {} (tx {})",
            r.file_id, r.to, r.tx
        ),
        None => println!(
            "added {} to the allow-list of file {} (tx {})",
            r.to, r.file_id, r.tx
        ),
    }
    println!("they can now run `zgvault get {} -o FILE`", r.file_id);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    /// The file id.
    file_id: B256,
    /// Whose access to stop.
    #[arg(long)]
    from: Address,
    /// Also add them to the deny list, so no pass or token gate lets them in again.
    #[arg(long)]
    deny: bool,
    #[command(flatten)]
    net: VaultArgs,
}

/// What every revocation must say: keys are not data.
const ALREADY_RELEASED: &str =
    "data already released stays released: revocation stops future key releases only";

pub(crate) fn run_revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let vault = args.net.open()?;
    let r = runtime()?.block_on(vault::revoke(&vault, args.file_id, args.from, args.deny))?;
    if args.net.json {
        let mut v = serde_json::to_value(&r)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("note".into(), json!(ALREADY_RELEASED));
        }
        return print_json(&v);
    }
    if r.burned.is_empty() {
        println!("{} held no pass for file {}", r.from, r.file_id);
    } else {
        let ids: Vec<String> = r.burned.iter().map(|t| format!("#{t}")).collect();
        println!("burned AccessPass {} held by {}", ids.join(", "), r.from);
    }
    if r.disallowed {
        println!("removed {} from the allow-list", r.from);
    }
    if r.denied {
        println!("added {} to the deny list", r.from);
    }
    if r.can_still_read {
        println!(
            "warning: {} can still read ({}); use --deny to shut them out",
            r.from, r.reason
        );
    } else {
        println!("{} can no longer get the key ({})", r.from, r.reason);
    }
    println!("note: {ALREADY_RELEASED}");
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct LsArgs {
    #[command(flatten)]
    net: VaultArgs,
}

pub(crate) fn run_ls(args: LsArgs) -> anyhow::Result<()> {
    let vault = args.net.open()?;
    let files = runtime()?.block_on(vault::list_files(&vault))?;
    let pending = vault::pending_puts();
    if args.net.json {
        let pending: Vec<_> = pending
            .iter()
            .map(|(_, p)| json!({"fileId": p.file_id, "source": p.source, "rootHash": p.root_hash}))
            .collect();
        return print_json(&json!({"owner": vault.address(), "files": files, "pending": pending}));
    }
    if files.is_empty() {
        println!(
            "no files registered by {} yet (`zgvault put FILE`)",
            vault.address()
        );
    }
    for f in &files {
        let note = if f.owner == vault.address() {
            String::new()
        } else {
            format!(" (now owned by {})", f.owner)
        };
        println!(
            "{}  root {}  {} bytes{note}",
            f.file_id, f.root_hash, f.size
        );
    }
    for (_, p) in &pending {
        println!(
            "{}  unfinished put of {}: run `zgvault put` on it again",
            p.file_id,
            p.source.display()
        );
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct InfoArgs {
    /// The file id.
    file_id: B256,
    #[command(flatten)]
    net: VaultArgs,
}

pub(crate) fn run_info(args: InfoArgs) -> anyhow::Result<()> {
    let vault = args.net.open()?;
    let v = runtime()?.block_on(vault::info(&vault, args.file_id))?;
    if args.net.json {
        return print_json(&v);
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for key in [
        "fileId",
        "owner",
        "rootHash",
        "txSeq",
        "size",
        "scheme",
        "capsuleHash",
        "notBefore",
        "notAfter",
        "registeredAt",
    ] {
        println!("{key:<13} {}", text(&v[key]));
    }
    println!("{:<13} {}", "policy", v["policy"]);
    println!(
        "{:<13} {} ({})",
        "you can read",
        v["you"]["canRead"],
        text(&v["you"]["reason"])
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct PolicyArgs {
    /// The file id.
    file_id: B256,
    /// Replace the policy with these gates (any one suffices): pass, public,
    /// erc20:ADDR:MIN, erc721:ADDR[:ID], erc1155:ADDR:ID:MIN, allow:ADDR,...
    #[arg(long = "set")]
    set: Vec<Gate>,
    /// Replace the policy with "owner and allow-list only".
    #[arg(long, conflicts_with = "set")]
    owner_only: bool,
    #[command(flatten)]
    net: VaultArgs,
}

pub(crate) fn run_policy(args: PolicyArgs) -> anyhow::Result<()> {
    let vault = args.net.open()?;
    let rt = runtime()?;
    if !args.set.is_empty() || args.owner_only {
        let Some(pass) = vault.network.access_pass else {
            bail!(
                "network {} has no AccessPass address: set it in the config file",
                vault.network.name
            );
        };
        let (clauses, allow) = Gate::compile(&args.set, pass);
        let tx = rt.block_on(vault::set_policy(&vault, args.file_id, clauses))?;
        let mut allowed = Vec::new();
        for a in allow {
            rt.block_on(vault::grant(&vault, args.file_id, a, true))?;
            allowed.push(a);
        }
        if !args.net.json {
            println!("policy of {} replaced (tx {tx})", args.file_id);
            for a in &allowed {
                println!("allowed {a}");
            }
        }
    }
    let v = rt.block_on(vault::info(&vault, args.file_id))?;
    if args.net.json {
        return print_json(
            &json!({"fileId": args.file_id, "policy": v["policy"], "notBefore": v["notBefore"], "notAfter": v["notAfter"]}),
        );
    }
    println!("{}", serde_json::to_string_pretty(&v["policy"])?);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    net: VaultArgs,
}

pub(crate) fn run_status(args: StatusArgs) -> anyhow::Result<()> {
    let vault = args.net.open()?;
    let s = runtime()?.block_on(vault::status(&vault))?;
    if args.net.json {
        return print_json(&serde_json::to_value(&s)?);
    }
    println!(
        "network   {} (chain id {}, block {}) at {}",
        s.network, s.chain_id, s.block, s.rpc_url
    );
    println!("account   {} ({} wei)", s.account, s.balance_wei);
    match &s.storage_error {
        Some(e) => println!("storage   unavailable: {e}"),
        None => {
            for n in &s.storage_nodes {
                println!(
                    "storage   {} {}",
                    n.url,
                    if n.ok { "ok" } else { n.detail.as_str() }
                );
            }
        }
    }
    match &s.key_network_error {
        Some(e) => println!("keys      unavailable: {e}"),
        None => {
            let healthy = s.key_nodes.iter().filter(|n| n.healthy).count();
            println!(
                "keys      epoch {}, {} of {} nodes needed, {healthy} healthy",
                s.epoch.unwrap_or(0),
                s.threshold.unwrap_or(0),
                s.key_nodes.len()
            );
            for n in &s.key_nodes {
                println!(
                    "  node {}  {}  {}",
                    n.index,
                    n.http.as_deref().or(n.p2p.as_deref()).unwrap_or("-"),
                    n.detail
                );
            }
        }
    }
    Ok(())
}
