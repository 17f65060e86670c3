//! `zgvault grant`, `revoke`, `ls`, `info`, `policy` and `status`.

use std::sync::OnceLock;

use alloy::primitives::{Address, B256};
use anyhow::bail;
use indicatif::ProgressBar;
use serde_json::json;
use zgvault_client::flows::{self, Gate};

use super::session::{SessionArgs, bar, parse_not_after, parse_not_before, print_json, runtime};

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
    net: SessionArgs,
}

pub(crate) fn run_grant(args: GrantArgs) -> anyhow::Result<()> {
    let session = args.net.open()?;
    let r = runtime()?.block_on(flows::grant(&session, args.file_id, args.to, args.allow))?;
    if args.net.json {
        return print_json(&serde_json::to_value(&r)?);
    }
    if let Some(tx) = r.undenied {
        println!(
            "removed {} from the deny list of file {} (tx {tx})",
            r.to, r.file_id
        );
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
    /// Do not add them to the deny list. By default they are denied, because passes are
    /// transferable: a holder can move a pass to another of their accounts ahead of the burn,
    /// and a token gate may admit them again.
    #[arg(long)]
    no_deny: bool,
    /// Denying is the default now; kept so older scripts keep working.
    #[arg(long, hide = true, conflicts_with = "no_deny")]
    deny: bool,
    #[command(flatten)]
    net: SessionArgs,
}

/// What every revocation must say: keys are not data.
const ALREADY_RELEASED: &str =
    "data already released stays released: revocation stops future key releases only";

/// When a revocation bites: nodes check the policy at the newest block they trust.
const TAKES_EFFECT: &str = "the key nodes and the vault refuse from the moment these \
     transactions are as many blocks deep as each requires (`confirmations`, 0 on the devnet; \
     seconds on most chains)";

pub(crate) fn run_revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let session = args.net.open()?;
    let scan = ScanBar::new(args.net.json);
    let r = runtime()?.block_on(flows::revoke(
        &session,
        args.file_id,
        args.from,
        !args.no_deny,
        &|d, t| scan.update(d, t),
    ));
    scan.finish();
    let r = r?;
    if args.net.json {
        let mut v = serde_json::to_value(&r)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("note".into(), json!(ALREADY_RELEASED));
            o.insert("takesEffect".into(), json!(TAKES_EFFECT));
        }
        return print_json(&v);
    }
    if r.burned.is_empty() {
        println!("{} held no pass for file {}", r.from, r.file_id);
    } else {
        for pass in &r.burned {
            if pass.holder == r.from {
                println!("burned AccessPass #{} held by {}", pass.token_id, r.from);
            } else {
                println!(
                    "burned AccessPass #{} granted to {} and since moved to {}",
                    pass.token_id, r.from, pass.holder
                );
            }
        }
    }
    if r.disallowed {
        println!("removed {} from the allow-list", r.from);
    }
    if r.denied {
        println!("added {} to the deny list", r.from);
    }
    if r.can_still_read {
        println!(
            "warning: {} can still read ({}); run again without --no-deny to shut them out",
            r.from, r.reason
        );
    } else {
        println!("{} can no longer get the key ({})", r.from, r.reason);
    }
    println!("note: {TAKES_EFFECT}");
    println!("note: {ALREADY_RELEASED}");
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct LsArgs {
    #[command(flatten)]
    net: SessionArgs,
}

pub(crate) fn run_ls(args: LsArgs) -> anyhow::Result<()> {
    let session = args.net.open()?;
    let scan = ScanBar::new(args.net.json);
    let files = runtime()?.block_on(flows::list_files(&session, &|d, t| scan.update(d, t)));
    scan.finish();
    let files = files?;
    let pending = flows::pending_puts();
    if args.net.json {
        let pending: Vec<_> = pending
            .iter()
            .map(|(_, p)| json!({"fileId": p.file_id, "source": p.source, "rootHash": p.root_hash}))
            .collect();
        return print_json(
            &json!({"owner": session.address(), "files": files, "pending": pending}),
        );
    }
    if files.is_empty() {
        println!(
            "no files registered by {} yet (`zgvault put FILE`)",
            session.address()
        );
    }
    for f in &files {
        let note = if f.owner == session.address() {
            String::new()
        } else {
            format!(" (now owned by {})", f.owner)
        };
        println!(
            "{}  root {}  {} bytes  {}{note}",
            f.file_id, f.root_hash, f.size, f.custody
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
    net: SessionArgs,
}

pub(crate) fn run_info(args: InfoArgs) -> anyhow::Result<()> {
    let session = args.net.open()?;
    let v = runtime()?.block_on(flows::info(&session, args.file_id))?;
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
        "registeredAt",
    ] {
        println!("{key:<13} {}", text(&v[key]));
    }
    for (key, utc) in [("notBefore", "notBeforeUtc"), ("notAfter", "notAfterUtc")] {
        match v[utc].as_str() {
            Some(t) => println!("{key:<13} {t} ({})", v[key]),
            None => println!("{key:<13} none"),
        }
    }
    println!("{:<13} {}", "window", text(&v["window"]));
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
    /// Readers other than you get the key only from this time on: RFC 3339
    /// (2026-01-01T09:00:00Z), a date (2026-01-01: from its start, UTC), unix seconds, or
    /// `none` for no bound. Without it the current bound stays.
    #[arg(long, value_name = "DATE", value_parser = parse_not_before)]
    not_before: Option<u64>,
    /// Readers other than you get the key only until this time: RFC 3339
    /// (2026-12-31T23:59:59Z), a date (2026-12-31: through its end, UTC), unix seconds, or
    /// `none` for no bound. Without it the current bound stays.
    #[arg(long, value_name = "DATE", value_parser = parse_not_after)]
    not_after: Option<u64>,
    #[command(flatten)]
    net: SessionArgs,
}

pub(crate) fn run_policy(args: PolicyArgs) -> anyhow::Result<()> {
    let session = args.net.open()?;
    let rt = runtime()?;
    // The window first: it is checked (owner, not empty) before anything is sent.
    let mut window_tx = None;
    if args.not_before.is_some() || args.not_after.is_some() {
        window_tx =
            rt.block_on(session.set_window(args.file_id, args.not_before, args.not_after))?;
        if !args.net.json {
            match window_tx {
                Some(tx) => println!("access window of {} set (tx {tx})", args.file_id),
                None => println!(
                    "access window of {} already as asked: nothing sent",
                    args.file_id
                ),
            }
        }
    }
    let mut policy_tx = None;
    if !args.set.is_empty() || args.owner_only {
        let Some(pass) = session.network.access_pass else {
            bail!(
                "network {} has no AccessPass address: set it in the config file",
                session.network.name
            );
        };
        let (clauses, allow) = Gate::compile(&args.set, pass);
        let tx = rt.block_on(flows::set_policy(&session, args.file_id, clauses))?;
        policy_tx = Some(tx);
        let mut allowed = Vec::new();
        for a in allow {
            rt.block_on(flows::grant(&session, args.file_id, a, true))?;
            allowed.push(a);
        }
        if !args.net.json {
            println!("policy of {} replaced (tx {tx})", args.file_id);
            for a in &allowed {
                println!("allowed {a}");
            }
        }
    }
    let v = rt.block_on(flows::info(&session, args.file_id))?;
    if args.net.json {
        return print_json(&json!({
            "fileId": args.file_id,
            "policy": v["policy"],
            "notBefore": v["notBefore"],
            "notAfter": v["notAfter"],
            "notBeforeUtc": v["notBeforeUtc"],
            "notAfterUtc": v["notAfterUtc"],
            "window": v["window"],
            "windowTx": window_tx,
            "policyTx": policy_tx,
        }));
    }
    if let Some(w) = v["window"].as_str() {
        println!("window  {w}");
    }
    println!("{}", serde_json::to_string_pretty(&v["policy"])?);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    net: SessionArgs,
}

pub(crate) fn run_status(args: StatusArgs) -> anyhow::Result<()> {
    let session = args.net.open()?;
    let s = runtime()?.block_on(flows::status(&session))?;
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
    match &s.vault {
        None => println!("vault     none configured (`vault_url` in the config, or --vault-url)"),
        Some(v) => {
            println!(
                "vault     {}  {}",
                v.http.as_deref().unwrap_or("-"),
                if v.healthy {
                    "healthy"
                } else {
                    v.detail.as_str()
                }
            );
            let trust = if v.key_trusted { "key " } else { "" };
            println!("          {trust}{}", v.key);
        }
    }
    Ok(())
}

/// Progress of an event scan, drawn only once the scan turns out to need several
/// requests (the library reports nothing for a one-request scan).
struct ScanBar {
    bar: OnceLock<ProgressBar>,
    json: bool,
}

impl ScanBar {
    fn new(json: bool) -> ScanBar {
        ScanBar {
            bar: OnceLock::new(),
            json,
        }
    }

    fn update(&self, done: u64, total: u64) {
        let b = self
            .bar
            .get_or_init(|| bar(total, "scanning blocks", self.json));
        b.set_length(total);
        b.set_position(done);
        if done >= total {
            b.finish_and_clear();
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.get() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bounds_parse() {
        // 2026-12-31T00:00:00Z = 1798675200.
        assert_eq!(parse_not_after("2026-12-31"), Ok(1_798_761_599));
        assert_eq!(parse_not_before("2026-12-31"), Ok(1_798_675_200));
        assert_eq!(parse_not_after("2026-12-31T23:59:59Z"), Ok(1_798_761_599));
        assert_eq!(parse_not_before("1798675200"), Ok(1_798_675_200));
        assert_eq!(parse_not_after("none"), Ok(0));
        assert_eq!(parse_not_before(" NONE "), Ok(0));
        for bad in ["2026-13-01", "2026-12-3", "tomorrow", "", "2026/12/31"] {
            let err = parse_not_after(bad).unwrap_err();
            assert!(
                err.contains("none") && err.contains("2026-12-31"),
                "{bad}: {err}"
            );
        }
    }
}
