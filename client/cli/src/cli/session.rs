//! `zgvault init`, `put` and `get`, and what every vault command shares: the config
//! file, the keystore passphrase, the network flags.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::primitives::B256;
use anyhow::{Context, bail};
use indicatif::ProgressBar;
use serde_json::json;
use zeroize::Zeroizing;
use zgvault_client::account::{self, Config, Passphrase, config_path};
use zgvault_client::flows::{self, Gate, GetStage, PutOptions, PutStage, Session};

/// Environment variable holding the keystore passphrase (else it is prompted for).
pub(crate) const PASSPHRASE_ENV: &str = "ZGVAULT_PASSPHRASE";

/// Network and output flags of every command that uses the account; they override the config file.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SessionArgs {
    /// devnet (from its manifest), galileo or mainnet [default: from `zgvault init`].
    #[arg(long)]
    pub(crate) network: Option<String>,
    /// The devnet manifest [default: $ZGVAULT_DEVNET_DIR/manifest.json, else
    /// ~/.local/state/zgvault/devnet/manifest.json].
    #[arg(long)]
    pub(crate) manifest: Option<PathBuf>,
    /// Override the chain RPC URL.
    #[arg(long)]
    pub(crate) rpc: Option<zgvault_proto::RpcUrl>,
    /// The custodial vault's HTTP URL [default: the devnet's, or `vault_url` in the config].
    #[arg(long)]
    pub(crate) vault_url: Option<String>,
    /// The custodial vault's encryption key (0x + 64 hex), pinned: a vault reporting another
    /// key is refused [default: the devnet manifest's, or `vault_key` in the config].
    #[arg(long)]
    pub(crate) vault_key: Option<alloy::primitives::B256>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

impl SessionArgs {
    /// The config file with these flags applied.
    fn config(&self) -> anyhow::Result<Config> {
        let path = config_path();
        let mut config = Config::load(&path)?.with_context(|| {
            format!(
                "no config at {}: run `zgvault init` first (or set ZGVAULT_HOME)",
                path.display()
            )
        })?;
        self.apply(&mut config);
        Ok(config)
    }

    fn apply(&self, config: &mut Config) {
        if let Some(n) = &self.network {
            config.network = n.clone();
            if n != "devnet" {
                config.manifest = None;
            }
        }
        if let Some(m) = &self.manifest {
            config.manifest = Some(m.clone());
        }
        if let Some(r) = &self.rpc {
            config.rpc = Some(r.clone());
        }
        if let Some(v) = &self.vault_url {
            config.vault_url = Some(v.clone());
        }
        if let Some(k) = self.vault_key {
            config.vault_key = Some(k);
        }
    }

    /// Unlocks the keystore and opens a session on the configured network.
    pub(crate) fn open(&self) -> anyhow::Result<Session> {
        let config = self.config()?;
        let (network, manifest) = config.network()?;
        let signer = account::load_keystore(&config.keystore, &passphrase(false)?)?;
        Ok(Session::new(network, signer, manifest)?)
    }
}

/// The keystore passphrase: `$ZGVAULT_PASSPHRASE`, else a prompt on the terminal (twice
/// when `confirm`), else one line of stdin.
pub(crate) fn passphrase(confirm: bool) -> anyhow::Result<Passphrase> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Passphrase::new(p));
    }
    if std::io::stdin().is_terminal() {
        let first = Zeroizing::new(
            rpassword::prompt_password("keystore passphrase: ")
                .context("cannot read the passphrase from the terminal")?,
        );
        if confirm {
            let again = Zeroizing::new(
                rpassword::prompt_password("again: ")
                    .context("cannot read the passphrase from the terminal")?,
            );
            if *first != *again {
                bail!("the passphrases differ: run it again");
            }
        }
        return Ok(Passphrase::new(first.to_string()));
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the passphrase from stdin")?;
    if line.is_empty() {
        bail!("no passphrase: set {PASSPHRASE_ENV} or run on a terminal");
    }
    Ok(Passphrase::new(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// A progress bar on stderr in the style of `zgvault storage`; hidden for `--json` or
/// when stderr is not a terminal.
pub(crate) fn bar(len: u64, msg: &'static str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(msg);
    bar
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// Import this hex private key instead of generating one (or set ZGVAULT_IMPORT_KEY,
    /// which keeps it out of the process list).
    #[arg(
        long,
        env = "ZGVAULT_IMPORT_KEY",
        hide_env_values = true,
        conflicts_with = "keystore"
    )]
    import_key: Option<String>,
    /// Use this existing encrypted JSON keystore (geth/foundry format).
    #[arg(long)]
    keystore: Option<PathBuf>,
    #[command(flatten)]
    net: SessionArgs,
}

/// Creates or imports the key, writes the config.
pub(crate) fn run_init(args: InitArgs) -> anyhow::Result<()> {
    let path = config_path();
    let mut config = Config::load(&path)?.unwrap_or_default();
    args.net.apply(&mut config);
    // Check the network before writing anything.
    config.network()?;
    let imported = args.import_key.is_some();
    let (signer, created) = match (&args.keystore, args.import_key) {
        (Some(ks), _) => {
            config.keystore = absolute(ks)?;
            (
                account::load_keystore(&config.keystore, &passphrase(false)?)?,
                false,
            )
        }
        (None, Some(key)) => {
            let key = Zeroizing::new(key);
            if config.keystore.is_file() {
                // Importing the key the keystore already holds is a no-op, so `init`
                // can be run again; any other key must not replace it silently.
                let signer = account::load_keystore(&config.keystore, &passphrase(false)?)?;
                let wanted: alloy::signers::local::PrivateKeySigner = key
                    .trim()
                    .parse()
                    .context("--import-key is not a 32-byte hex private key")?;
                if wanted.address() != signer.address() {
                    bail!(
                        "{} already holds another key ({}): move it away, or pass \
                         --keystore FILE to keep both",
                        config.keystore.display(),
                        signer.address()
                    );
                }
                (signer, false)
            } else {
                let pass = passphrase(true)?;
                (
                    account::create_keystore(&config.keystore, &pass, Some(key))?,
                    true,
                )
            }
        }
        (None, None) if config.keystore.is_file() => (
            account::load_keystore(&config.keystore, &passphrase(false)?)?,
            false,
        ),
        (None, None) => {
            let pass = passphrase(true)?;
            (
                account::create_keystore(&config.keystore, &pass, None)?,
                true,
            )
        }
    };
    config.store(&path)?;
    let address = signer.address();
    if args.net.json {
        return print_json(&json!({
            "address": address,
            "keystore": config.keystore,
            "created": created,
            "config": path,
            "network": config.network,
        }));
    }
    println!("address   {address}");
    println!(
        "keystore  {} ({})",
        config.keystore.display(),
        if created { "created" } else { "existing" }
    );
    println!("config    {}", path.display());
    println!("network   {}", config.network);
    if created && !imported && config.network == "devnet" {
        println!(
            "fund it on the devnet, or import a funded devnet key: `zgvault-testnet manifest`"
        );
    }
    Ok(())
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))
}

#[derive(Debug, clap::Args)]
pub(crate) struct PutArgs {
    /// The file to protect and upload.
    file: PathBuf,
    /// Who may read, repeatable (any one suffices): pass (an AccessPass, `zgvault grant`),
    /// public, erc20:ADDR:MIN, erc721:ADDR[:ID], erc1155:ADDR:ID:MIN, allow:ADDR,...
    /// [default: pass]
    #[arg(long = "gate")]
    gates: Vec<Gate>,
    /// Nobody but you may read after this time: RFC 3339, a date (its last second, UTC),
    /// unix seconds, or `none`.
    #[arg(long, value_name = "DATE", value_parser = parse_not_after)]
    not_after: Option<u64>,
    /// How K is protected: threshold (K encrypted to the nodes' BLS key set), shamir
    /// (K split, one share deposited with each node) or custodial (K held by the vault
    /// under its HSM key).
    #[arg(long, default_value = "threshold")]
    custody: flows::Custody,
    #[command(flatten)]
    net: SessionArgs,
}

/// A `--not-before` value: unix seconds (0 = no bound).
pub(crate) fn parse_not_before(s: &str) -> Result<u64, String> {
    parse_bound(s, false)
}

/// A `--not-after` value: unix seconds (0 = no bound).
pub(crate) fn parse_not_after(s: &str) -> Result<u64, String> {
    parse_bound(s, true)
}

/// `none`, a plain date (its first or, with `end_of_day`, last second, UTC), or what
/// `put --not-after` accepts.
fn parse_bound(s: &str, end_of_day: bool) -> Result<u64, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    let plain_date = s.len() == 10
        && s.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    let parsed = if plain_date {
        parse_time(&format!("{s}T00:00:00Z"))
            .map(|start| if end_of_day { start + 86_399 } else { start })
    } else {
        parse_time(s)
    };
    parsed.map_err(|_| {
        format!(
            "{} is not a time: give RFC 3339 (2026-12-31T23:59:59Z), a date (2026-12-31), \
             unix seconds, or `none`",
            zgvault_client::quoted(s)
        )
    })
}

/// Unix seconds, or an RFC 3339 UTC time like `2027-01-31T00:00:00Z`.
pub(crate) fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    parse_rfc3339(s).ok_or_else(|| {
        format!(
            "{} is neither unix seconds nor an RFC 3339 time (2027-01-31T00:00:00Z)",
            zgvault_client::quoted(s)
        )
    })
}

/// Days in month `m` (1–12) of year `y`, proleptic Gregorian.
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

fn parse_rfc3339(s: &str) -> Option<u64> {
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (time, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => return None,
    };
    let mut t = time.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let sec: i64 = t
        .next()
        .map(|x| x.split('.').next().unwrap_or("0").parse().ok())
        .unwrap_or(Some(0))?;
    let off = match offset.as_bytes().first()? {
        b'Z' | b'z' => 0,
        sign => {
            let (oh, om) = offset.get(1..)?.split_once(':')?;
            let v = oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60;
            if *sign == b'-' { -v } else { v }
        }
    };
    if !(1..=12).contains(&m)
        || day < 1
        || day > days_in_month(y, m)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + sec - off).ok()
}

pub(crate) fn run_put(args: PutArgs) -> anyhow::Result<()> {
    let session = args.net.open()?;
    let meta = std::fs::metadata(&args.file).with_context(|| {
        format!(
            "cannot read {}: check that the file exists",
            args.file.display()
        )
    })?;
    if meta.is_dir() {
        bail!("{} is a directory: pass a file", args.file.display());
    }
    let gates = if args.gates.is_empty() {
        vec![Gate::Pass]
    } else {
        args.gates
    };
    let opts = PutOptions {
        gates,
        not_after: args.not_after.unwrap_or(0),
        custody: args.custody,
    };
    let bar = bar(meta.len(), "sealing", args.net.json);
    let progress = |stage: PutStage, done: u64, total: u64| {
        let msg = match stage {
            PutStage::Sealing => "sealing",
            PutStage::Uploading => "uploading segments",
            PutStage::Registering => "registering",
        };
        bar.set_message(msg);
        bar.set_length(total);
        bar.set_position(done);
    };
    let receipt = runtime()?.block_on(flows::put(&session, &args.file, &opts, &progress));
    bar.finish_and_clear();
    let receipt = receipt?;
    if args.net.json {
        return print_json(&serde_json::to_value(&receipt)?);
    }
    if receipt.resumed {
        println!("resumed an unfinished put of {}", args.file.display());
    }
    println!("fileId    {}", receipt.file_id);
    println!("rootHash  {}", receipt.root_hash);
    match receipt.upload_tx {
        Some(tx) => println!(
            "tx        {tx} (0G upload, txSeq {}, fee {} wei)",
            receipt.tx_seq, receipt.fee_wei
        ),
        None => println!(
            "tx        none sent: the data was already on 0G (txSeq {})",
            receipt.tx_seq
        ),
    }
    match receipt.register_tx {
        Some(tx) => println!("register  {tx}"),
        None => println!("register  already registered by an earlier run"),
    }
    println!("custody   {}", receipt.custody.name());
    if let Some(v) = &receipt.vault {
        println!("vault     {v} (K deposited)");
    }
    for a in &receipt.allowed {
        println!("allowed   {a}");
    }
    println!(
        "share it: `zgvault grant {} --to ADDR`, then they run `zgvault get {} -o FILE`",
        receipt.file_id, receipt.file_id
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// The file id (`zgvault put` printed it).
    file_id: B256,
    /// Where to write the plaintext (must not exist).
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    net: SessionArgs,
}

pub(crate) fn run_get(args: GetArgs) -> anyhow::Result<()> {
    if args.output.exists() {
        bail!("{} exists: pick another --output", args.output.display());
    }
    let session = args.net.open()?;
    let bar: ProgressBar = bar(0, "asking for the key", args.net.json);
    let waiting_until = AtomicU64::new(0);
    let progress = |stage: GetStage, done: u64, total: u64| {
        bar.set_message(match stage {
            GetStage::Confirming => "waiting for block",
            GetStage::Key => "asking for the key",
            GetStage::Download => "downloading segments",
        });
        bar.set_length(total);
        bar.set_position(done);
        // Said once per block waited for, also when stderr is not a terminal (no bar).
        if stage == GetStage::Confirming
            && !args.net.json
            && waiting_until.swap(total, Ordering::Relaxed) != total
        {
            bar.suspend(|| {
                eprintln!(
                    "waiting for the chain to reach block {total} (it is at {done}): the key \
                     holders answer only for a block some confirmations below the head, and \
                     this file's record or your access is newer"
                );
            });
        }
    };
    let report = runtime()?.block_on(flows::get(&session, args.file_id, &args.output, &progress));
    bar.finish_and_clear();
    let report = report?;
    if args.net.json {
        return print_json(&serde_json::to_value(&report)?);
    }
    println!(
        "wrote {} ({} bytes, originally {}) from file {}",
        report.output.display(),
        report.size,
        zgvault_client::quoted(&report.name),
        report.file_id
    );
    match &report.vault {
        Some(v) => println!(
            "key from the custodial vault {v}; ciphertext verified against rootHash {}",
            report.root_hash
        ),
        None => println!(
            "key from nodes {}; ciphertext verified against rootHash {}",
            report
                .key_nodes_used
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            report.root_hash
        ),
    }
    for f in &report.key_node_failures {
        eprintln!("warning: key {f}");
    }
    for n in &report.bad_storage_nodes {
        eprintln!("warning: storage node {n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_unix_or_rfc3339() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2024-02-29T12:34:56Z"), Ok(1_709_210_096));
        assert_eq!(parse_time("2024-02-29T14:34:56+02:00"), Ok(1_709_210_096));
        assert!(parse_time("2024-13-01T00:00:00Z").is_err());
        assert!(parse_time("tomorrow").is_err());
        // Days that do not exist are refused, not rolled into the next month.
        for bad in [
            "2026-02-31T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "1900-02-29T00:00:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert!(parse_time("2000-02-29T00:00:00Z").is_ok());
        // put --not-after takes what policy --not-after takes.
        assert_eq!(parse_not_after("2026-12-31"), Ok(1_798_761_599));
        assert_eq!(parse_not_after("none"), Ok(0));
    }
}
