//! `zgvault root FILE`: the 0G Storage identity of a file, computed offline.

use std::{io::IsTerminal, path::PathBuf};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use zgvault_client::zg::{self, FragmentRoot};

/// Files at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_SIZE: u64 = 64 << 20;

/// Compute the 0G Merkle root (rootHash) of FILE exactly as the official 0G clients do,
/// with its submission nodes, padded chunk count and fee sectors. Nothing is uploaded.
///
/// Hash the file you will upload: for zgvault that is the sealed file, not the plaintext.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The file to hash.
    file: PathBuf,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,

    /// Split files larger than this into fragments, each uploaded as its own 0G file with
    /// its own root, like the official clients (rounded up to a power of two; accepts
    /// suffixes such as 512MiB or 4GiB).
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = parse_size)]
    fragment_size: u64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let path = &args.file;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}: check that the file exists", path.display()))?;
    if meta.is_dir() {
        bail!(
            "{} is a directory: pass a file (archive a folder first)",
            path.display()
        );
    }
    let progress = progress_bar(meta.len());
    let fragments = zg::hash_file(path, args.fragment_size, |n| progress.inc(n))
        .with_context(|| format!("cannot compute the 0G root of {}", path.display()))?;
    progress.finish_and_clear();

    let fragment_size = zg::normalize_fragment_size(args.fragment_size);
    if args.json {
        let out = to_json(path, fragment_size, &fragments);
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(path, fragment_size, &fragments);
    }
    Ok(())
}

fn progress_bar(size: u64) -> ProgressBar {
    if size < PROGRESS_MIN_SIZE || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template(
        "hashing {bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn fragment_json(f: &FragmentRoot) -> Value {
    let r = &f.root;
    let nodes: Vec<Value> = r
        .nodes()
        .iter()
        .map(|n| json!({ "root": n.root.to_string(), "height": n.height }))
        .collect();
    json!({
        "index": f.fragment.index,
        "offset": f.fragment.offset,
        "size": r.size(),
        "rootHash": r.root().to_string(),
        "numChunks": r.layout().chunks(),
        "paddedChunks": r.padded_chunks(),
        "segmentsUploaded": r.layout().segments_uploaded(),
        "segmentsInTree": r.layout().segments_in_tree(),
        "feeSectors": r.fee_sectors(),
        "nodes": nodes,
    })
}

/// One object for scripts. A single-fragment file (the usual case) has every field of its
/// fragment at the top level too; `rootHash` is null when there are several fragments.
fn to_json(path: &std::path::Path, fragment_size: u64, fragments: &[FragmentRoot]) -> Value {
    let parts: Vec<Value> = fragments.iter().map(fragment_json).collect();
    let size: u64 = fragments.iter().map(|f| f.root.size()).sum();
    let fee: u64 = fragments.iter().map(|f| f.root.fee_sectors()).sum();
    let roots: Vec<String> = fragments
        .iter()
        .map(|f| f.root.root().to_string())
        .collect();
    let mut out = match parts.as_slice() {
        [single] => single.clone(),
        _ => json!({ "rootHash": Value::Null }),
    };
    if let Some(obj) = out.as_object_mut() {
        obj.remove("index");
        obj.remove("offset");
        obj.insert("file".into(), json!(path.display().to_string()));
        obj.insert("size".into(), json!(size));
        obj.insert("feeSectors".into(), json!(fee));
        obj.insert("fragmentSize".into(), json!(fragment_size));
        obj.insert("rootHashes".into(), json!(roots));
        obj.insert("fragments".into(), Value::Array(parts));
    }
    out
}

fn print_text(path: &std::path::Path, fragment_size: u64, fragments: &[FragmentRoot]) {
    let size: u64 = fragments.iter().map(|f| f.root.size()).sum();
    println!("file         {}", path.display());
    println!("size         {size} bytes");
    if let [single] = fragments {
        print_fragment(single, "");
        return;
    }
    println!(
        "fragments    {} of up to {fragment_size} bytes; each is its own 0G file, keep every root",
        fragments.len()
    );
    for f in fragments {
        println!(
            "fragment {}   offset {}, {} bytes",
            f.fragment.index,
            f.fragment.offset,
            f.root.size()
        );
        print_fragment(f, "  ");
    }
}

fn print_fragment(f: &FragmentRoot, indent: &str) {
    let r = &f.root;
    let l = r.layout();
    println!("{indent}root         {}", r.root());
    println!(
        "{indent}chunks       {} (padded to {})",
        l.chunks(),
        l.padded_chunks()
    );
    println!(
        "{indent}segments     {} to upload, {} in the proof tree",
        l.segments_uploaded(),
        l.segments_in_tree()
    );
    println!(
        "{indent}fee sectors  {} (fee = sectors x pricePerSector)",
        r.fee_sectors()
    );
    for (i, n) in r.nodes().iter().enumerate() {
        let label = if i == 0 { "nodes" } else { "" };
        println!("{indent}{label:<12} {}:{}", n.root, n.height);
    }
}

/// Bytes with an optional unit: 4096, 64KiB, 512MiB, 4GiB (also K/M/G and KB/MB/GB as
/// powers of 1024, which is what people mean for file sizes).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size: use e.g. 4096, 512MiB, 4GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}`: use KiB, MiB, GiB or TiB"
            ));
        }
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use zgvault_client::zg::DEFAULT_FRAGMENT_SIZE;

    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4GiB"), Ok(DEFAULT_FRAGMENT_SIZE));
        assert_eq!(parse_size("64 KiB"), Ok(65536));
        assert!(parse_size("4XB").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }
}
