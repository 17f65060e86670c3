//! The `zgvault` binary, run as a user would: `zgvault root FILE [--json]`.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

// The client's shared test helpers and vectors (client/tests/).
#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::{b256, generate, vectors_dir, xorshift};
use serde_json::Value;
use zgvault_client::zg::root_of_bytes;

fn zgvault(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zgvault"))
        .args(args)
        .output()
        .unwrap()
}

fn root_json(path: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["root", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = zgvault(&args);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn json_output_matches_the_sdk_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let table = std::fs::read_to_string(vectors_dir().join("0g-root-vectors.tsv")).unwrap();
    let mut checked = 0;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let size: usize = f[0].parse().unwrap();
        if size == 0 {
            continue;
        }
        let path = dir.path().join(format!("{size}-{}.bin", f[1]));
        std::fs::write(&path, generate(size, f[1], 0)).unwrap();
        let v = root_json(&path, &[]);
        assert_eq!(
            b256(v["rootHash"].as_str().unwrap()),
            b256(f[2]),
            "size {size}"
        );
        assert_eq!(v["size"].to_string(), f[3]);
        let nodes: Vec<String> = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| format!("{}:{}", n["root"].as_str().unwrap(), n["height"]))
            .collect();
        assert_eq!(nodes.join(","), f[4], "size {size}");
        assert_eq!(v["numChunks"].to_string(), f[5]);
        assert_eq!(v["paddedChunks"].to_string(), f[6]);
        assert_eq!(v["segmentsInTree"].to_string(), f[7]);
        assert_eq!(v["segmentsUploaded"].to_string(), f[8]);
        assert_eq!(v["feeSectors"].to_string(), f[9]);
        assert_eq!(v["rootHashes"].as_array().unwrap().len(), 1);
        assert_eq!(v["fragments"].as_array().unwrap().len(), 1);
        checked += 1;
    }
    assert_eq!(checked, 15);
}

#[test]
fn text_output_names_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    std::fs::write(&path, b"hello 0G").unwrap();
    let out = zgvault(&["root", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let root = root_of_bytes(b"hello 0G").unwrap().root().to_string();
    assert!(text.contains(&root), "{text}");
    assert!(text.contains("fee sectors"), "{text}");
}

#[test]
fn fragments_are_listed_each_with_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let data = xorshift(10_000, 42);
    std::fs::write(&path, &data).unwrap();
    // 1000 rounds up to 1024: 10 fragments.
    let v = root_json(&path, &["--fragment-size", "1000"]);
    assert_eq!(v["fragmentSize"], 1024);
    assert!(
        v["rootHash"].is_null(),
        "several fragments have no single root"
    );
    let fragments = v["fragments"].as_array().unwrap();
    assert_eq!(fragments.len(), 10);
    for (i, f) in fragments.iter().enumerate() {
        let offset = f["offset"].as_u64().unwrap() as usize;
        assert_eq!(offset, i * 1024);
        let len = f["size"].as_u64().unwrap() as usize;
        let expected = root_of_bytes(&data[offset..offset + len]).unwrap().root();
        assert_eq!(b256(f["rootHash"].as_str().unwrap()), expected);
        assert_eq!(v["rootHashes"][i], f["rootHash"]);
    }
    assert_eq!(v["size"], 10_000);
}

#[test]
fn fail_empty_file_says_why_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.bin");
    std::fs::write(&path, b"").unwrap();
    let out = zgvault(&["root", path.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("empty"), "{stderr}");
    assert!(
        stderr.contains("cannot store a zero-length file"),
        "{stderr}"
    );
    assert!(stderr.contains("add content"), "{stderr}");
}

#[test]
fn fail_missing_file_and_bad_sizes() {
    let out = zgvault(&["root", "/nonexistent/zgvault-test-file"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("/nonexistent/zgvault-test-file"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = zgvault(&["root", dir.path().to_str().unwrap()]);
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("is a directory")
    );

    let out = zgvault(&["root", "x", "--fragment-size", "4XB"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("unknown size unit")
    );
}
