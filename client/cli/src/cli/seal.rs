//! `zgvault seal` and `zgvault open`: the sealed-file format on local files, offline.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use zgvault_client::{open_file, seal_file};
use zgvault_proto::{FileKey, Suite};

/// Files at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_SIZE: u64 = 64 << 20;

/// Encrypt FILE into the zgvault sealed format under a fresh (or given) 32-byte key, and
/// print the 0G root of the result: what 0G Storage will name it once uploaded.
#[derive(Debug, clap::Args)]
pub(crate) struct SealArgs {
    /// The plaintext file.
    input: PathBuf,
    /// Where to write the sealed file.
    #[arg(short, long)]
    output: PathBuf,
    /// Use this key (a file holding 64 hex digits) instead of making a new one.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Where to write the new key [default: OUTPUT.key]. Refuses to overwrite a key.
    #[arg(long, conflicts_with = "key_file")]
    new_key_file: Option<PathBuf>,
    /// Cipher suite: xchacha20poly1305 (default) or aes256gcm.
    #[arg(long, default_value = "xchacha20poly1305", value_parser = parse_suite)]
    suite: Suite,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
    force: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Decrypt a sealed FILE with its key, verifying every chunk; nothing is written unless the
/// whole file verifies.
#[derive(Debug, clap::Args)]
pub(crate) struct OpenArgs {
    /// The sealed file.
    input: PathBuf,
    /// Where to write the plaintext.
    #[arg(short, long)]
    output: PathBuf,
    /// The file key (64 hex digits), as written by `zgvault seal`.
    #[arg(long)]
    key_file: PathBuf,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
    force: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_seal(args: SealArgs) -> anyhow::Result<()> {
    refuse_existing(&args.output, args.force)?;
    let size = std::fs::metadata(&args.input)
        .with_context(|| {
            format!(
                "cannot read {}: check that the file exists",
                args.input.display()
            )
        })?
        .len();
    let (key, new_key_path) = match &args.key_file {
        Some(path) => (read_key(path)?, None),
        None => {
            let path = args
                .new_key_file
                .clone()
                .unwrap_or_else(|| with_suffix(&args.output, ".key"));
            (FileKey::generate()?, Some(path))
        }
    };
    // Write the key before sealing: a sealed file whose key was lost is lost data.
    if let Some(path) = &new_key_path {
        write_key(path, &key)?;
    }
    let bar = progress_bar(size);
    let sealed = seal_file(&args.input, &args.output, &key, args.suite, &|n| bar.inc(n));
    bar.finish_and_clear();
    let sealed = match sealed {
        Ok(s) => s,
        Err(e) => {
            if let Some(path) = &new_key_path {
                let _ = std::fs::remove_file(path);
            }
            return Err(e).with_context(|| format!("cannot seal {}", args.input.display()));
        }
    };
    let root = sealed.root.root();
    if args.json {
        let out = json!({
            "input": args.input,
            "output": args.output,
            "keyFile": new_key_path.as_ref().or(args.key_file.as_ref()),
            "suite": sealed.suite.name(),
            "plaintextSize": sealed.metadata.size,
            "sealedSize": sealed.root.size(),
            "rootHash": root,
            "feeSectors": sealed.root.fee_sectors(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "sealed    {} -> {}",
            args.input.display(),
            args.output.display()
        );
        println!("suite     {}", sealed.suite.name());
        println!(
            "size      {} -> {} bytes",
            sealed.metadata.size,
            sealed.root.size()
        );
        println!("rootHash  {root}");
        match &new_key_path {
            Some(p) => println!(
                "key       {} (new; keep it safe: without it the file is lost)",
                p.display()
            ),
            None => println!(
                "key       {}",
                args.key_file.as_deref().unwrap_or(Path::new("")).display()
            ),
        }
    }
    Ok(())
}

pub(crate) fn run_open(args: OpenArgs) -> anyhow::Result<()> {
    refuse_existing(&args.output, args.force)?;
    let key = read_key(&args.key_file)?;
    let meta = open_file(&args.input, &args.output, &key)
        .with_context(|| format!("cannot open {}", args.input.display()))?;
    if args.json {
        let out = json!({
            "output": args.output,
            "name": meta.name,
            "mediaType": meta.media_type,
            "size": meta.size,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "opened    {} -> {} ({} bytes, originally {}, {})",
            args.input.display(),
            args.output.display(),
            meta.size,
            zgvault_client::quoted(&meta.name),
            meta.media_type
        );
    }
    Ok(())
}

fn parse_suite(s: &str) -> Result<Suite, String> {
    Suite::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Suite::ALL.iter().map(|s| s.name()).collect();
        format!(
            "unknown suite {}; use one of {}",
            zgvault_client::quoted(s),
            names.join(", ")
        )
    })
}

fn refuse_existing(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!(
            "{} exists: pass --force to replace it, or pick another --output",
            path.display()
        );
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Reads a key file, refusing one that others can read (like ssh does).
fn read_key(path: &Path) -> anyhow::Result<FileKey> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read key file {}: check the path", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "key file {} can be read by other users: run `chmod 600 {}` first",
            path.display(),
            path.display()
        );
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?,
    );
    FileKey::from_hex(text.trim()).with_context(|| {
        format!(
            "{} is not a zgvault key file (64 hex digits)",
            path.display()
        )
    })
}

/// Writes a new key file with mode 0600, never over an existing file.
fn write_key(path: &Path, key: &FileKey) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create key file {} (it may exist already: pass --new-key-file or --key-file)",
                path.display()
            )
        })?;
    f.write_all(key.to_hex().as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write key file {}", path.display()))
}

fn progress_bar(size: u64) -> ProgressBar {
    if size < PROGRESS_MIN_SIZE || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("sealing");
    bar
}
