//! Our roots against the official 0G TypeScript SDK itself, run live through
//! `scripts/zg-sdk-root.mjs` on many sizes: every chunk, segment and padding boundary,
//! random sizes, a few over 4 MiB, and fragment splits.
//!
//! Needs node and `tools/node_modules` (scripts/setup installs both). Without them the
//! test fails: a compatibility check that silently passes would prove nothing.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod common;

use std::{
    collections::HashMap,
    io::Write,
    process::{Command, Stdio},
};

use common::{b256, generate, repo_root};
use serde_json::Value;
use zgvault_client::zg::{FragmentHasher, RootHasher, SEGMENT_SIZE};

const CHUNK: usize = 256;
const SEG: usize = SEGMENT_SIZE;

/// `SIZE:PATTERN:SEED[@FRAGMENT]` specs, about 55 MiB of data in all.
fn specs() -> Vec<String> {
    let mut sizes: Vec<usize> = vec![
        1, 2, 31, 32, 33, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025,
    ];
    // Around 15/16/17 chunks (where flow padding starts) and other powers of two.
    for chunks in [
        3, 4, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025,
    ] {
        sizes.extend([chunks * CHUNK - 1, chunks * CHUNK, chunks * CHUNK + 1]);
    }
    // Segment edges and multi-segment files.
    for segs in [1, 2, 3, 4, 5] {
        sizes.extend([segs * SEG - 1, segs * SEG, segs * SEG + 1]);
    }
    // 17 full segments pad to 18: a whole segment of flow padding after the data.
    sizes.extend([8 * SEG + 1, 16 * SEG, 17 * SEG]);
    // Padding steps: 1025..1153 chunks pad to 1152 / 1280; 4097 to 4608; 16433 to 18432.
    for chunks in [1152, 1153, 1280, 1281, 2047, 2049, 4097, 4608, 4609] {
        sizes.extend([chunks * CHUNK - 1, chunks * CHUNK + 1]);
    }
    sizes.extend([16_385 * CHUNK - 1, 16_433 * CHUNK + 1]);
    // A few deterministic "random" sizes, some over 4 MiB.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..24 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sizes.push(1 + (x % (2 * SEG as u64)) as usize);
    }
    sizes.extend([4 * 1024 * 1024 + 12_345, 5 * 1024 * 1024 + 77]);

    let patterns = ["xorshift", "mod251", "zeros"];
    let mut specs: Vec<String> = sizes
        .iter()
        .enumerate()
        .map(|(i, size)| {
            let pattern = patterns[i % 3];
            format!("{size}:{pattern}:{}", i * 7919 + 1)
        })
        .collect();
    // Fragment splits, including a fragment size that is not a power of two.
    specs.extend(
        [
            "10000:xorshift:5@1024",
            "600000:xorshift:6@262144",
            "700000:mod251:0@300000",
            "4096:xorshift:9@4096",
        ]
        .map(String::from),
    );
    specs
}

fn run_sdk(specs: &[String]) -> Vec<Value> {
    let script = repo_root().join("scripts/zg-sdk-root.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .arg("--stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `node` ({e}): the SDK comparison needs Node.js; run scripts/setup")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(specs.join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} failed ({}): {}\nrun scripts/setup to install the 0G SDK into tools/node_modules",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn roots_match_the_official_ts_sdk() {
    let specs = specs();
    let lines = run_sdk(&specs);
    let mut by_spec: HashMap<String, Vec<Value>> = HashMap::new();
    for line in lines {
        assert_eq!(line["sdkVersion"], "1.2.8");
        by_spec
            .entry(line["spec"].as_str().unwrap().to_string())
            .or_default()
            .push(line);
    }
    let mut compared = 0;
    let mut bytes = 0usize;
    for spec in &specs {
        let (body, fragment) = match spec.split_once('@') {
            Some((body, f)) => (body, Some(f.parse::<u64>().unwrap())),
            None => (spec.as_str(), None),
        };
        let mut parts = body.split(':');
        let size: usize = parts.next().unwrap().parse().unwrap();
        let pattern = parts.next().unwrap();
        let seed: u32 = parts.next().unwrap().parse().unwrap();
        let data = generate(size, pattern, seed);
        bytes += size;

        let ours = match fragment {
            Some(f) => {
                let mut h = FragmentHasher::new(f);
                h.update(&data).unwrap();
                h.finish()
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.fragment.offset, r.root))
                    .collect()
            }
            None => {
                let mut h = RootHasher::new();
                h.update(&data).unwrap();
                vec![(0, h.finish().unwrap())]
            }
        };
        let sdk = by_spec
            .get(spec)
            .unwrap_or_else(|| panic!("SDK printed nothing for {spec}"));
        assert_eq!(ours.len(), sdk.len(), "fragment count for {spec}");
        for ((offset, root), s) in ours.iter().zip(sdk) {
            let ctx = format!("{spec} fragment at {offset}");
            assert_eq!(*offset, s["offset"].as_u64().unwrap(), "{ctx}");
            assert_eq!(
                root.root(),
                b256(s["rootHash"].as_str().unwrap()),
                "root of {ctx}"
            );
            assert_eq!(root.size(), s["length"].as_u64().unwrap(), "{ctx}");
            assert_eq!(
                root.layout().chunks(),
                s["numChunks"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(
                root.padded_chunks(),
                s["paddedChunks"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(
                root.fee_sectors(),
                s["feeSectors"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(
                root.layout().segments_in_tree(),
                s["segmentsInTree"].as_u64().unwrap()
            );
            assert_eq!(
                root.layout().segments_uploaded(),
                s["segmentsUploaded"].as_u64().unwrap()
            );
            let sdk_nodes = s["nodes"].as_array().unwrap();
            assert_eq!(root.nodes().len(), sdk_nodes.len(), "{ctx}");
            for (n, sn) in root.nodes().iter().zip(sdk_nodes) {
                assert_eq!(n.root, b256(sn["root"].as_str().unwrap()), "node of {ctx}");
                assert_eq!(n.height, sn["height"].as_u64().unwrap(), "node of {ctx}");
            }
            compared += 1;
        }
    }
    assert!(compared >= 140, "compared only {compared} roots");
    assert!(bytes < 64 << 20, "keep the SDK run short: {bytes} bytes");
}
