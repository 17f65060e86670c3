//! A large upload through the running `zgvault-ui` on a live devnet, over its HTTP API as
//! the page uses it: the server's memory stays flat (its peak RSS is far below the file's
//! size), no file ever holds the plaintext (it is sealed as it arrives), and the operation
//! survives the page going away (a new event stream picks it up mid-flight).
//!
//! `ZGVAULT_UI_BIG_MIB` sets the size (default 256; the 1 GiB run is in the README).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Events, UiServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1 << 20;
/// The server's peak RSS must stay under this whatever the file size (measured: 141 MiB
/// for 32 MiB, 148 MiB for 256 MiB, a debug build: the runtime, the blocking threads'
/// allocator arenas and the upload's batches, not the file).
const MAX_PEAK_RSS_MIB: u64 = 192;

/// Byte `i` of the test file: cheap, not constant, reproducible.
fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Streams a `size`-byte body to `POST /api/put`; returns the operation id.
/// `size` bytes of the test's plaintext to `s`, as a page posts a dropped file; every 16 MiB
/// sent, `home` is checked for a plaintext copy.
async fn upload(s: &UiServer, home: &Path, name: &str, size: u64) -> u64 {
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /api/put?name={name}&size={size}&gate=pass HTTP/1.1\r\nHost: {}\r\nOrigin: {}\r\n\
         Cookie: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\
         Connection: close\r\n\r\n",
        s.host(),
        s.origin(),
        s.cookie()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut sent = 0u64;
    let mut chunk = vec![0u8; MIB as usize];
    while sent < size {
        let n = MIB.min(size - sent);
        for (j, b) in chunk.iter_mut().enumerate().take(n as usize) {
            *b = byte_at(sent + j as u64);
        }
        stream.write_all(&chunk[..n as usize]).await.unwrap();
        sent += n;
        if sent.is_multiple_of(16 * MIB) {
            assert_no_plaintext(home);
        }
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    body["op"].as_u64().unwrap()
}

fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kib / 1024
}

/// Fails if any file under `home` (the user's config, keystore and state: the UI's
/// folders and the SDK's `pending/`) starts with the plaintext: nothing but ciphertext of an
/// upload may touch the disk.
fn assert_no_plaintext(home: &Path) {
    let prefix: Vec<u8> = (0..64).map(byte_at).collect();
    let mut dirs = vec![home.to_owned()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue; // removed meanwhile
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let mut head = Vec::new();
            if let Ok(file) = std::fs::File::open(&path) {
                use std::io::Read;
                let _ = file.take(64).read_to_end(&mut head);
            }
            assert!(
                head.len() < 16 || !prefix.starts_with(&head),
                "{} holds the upload's plaintext",
                path.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_keeps_memory_flat_and_leaves_no_plaintext() {
    let size_mib: u64 = std::env::var("ZGVAULT_UI_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let size = size_mib * MIB;
    let dir = tempfile::tempdir().unwrap();
    let (devnet, servers) = common::devnet_with_users(dir.path(), &["alice"], None).await;
    let (s, home) = (&servers[0], dir.path().join("alice"));
    let key = devnet
        .manifest()
        .account("alice")
        .unwrap()
        .private_key
        .clone();
    let body = serde_json::json!({"passphrase": "a long test passphrase", "importKey": key});
    let a = s
        .ours("POST", "/api/identity/create", body.to_string().as_bytes())
        .await;
    assert_eq!(a.status, 200, "{a:?}");

    let op = upload(s, &home, "big.bin", size).await;
    // The page follows it, then goes away (closed or reloaded) …
    let mut first = Events::open(s, op).await;
    let snap = first.next().await.unwrap();
    assert_eq!(snap["kind"], "put");
    drop(first);
    // … and a new page picks it up where it is, and follows it to the end.
    let mut events = Events::open(s, op).await;
    let mut stages = Vec::new();
    let last = loop {
        let snap = events
            .next()
            .await
            .expect("the stream ended before the operation");
        let stage = snap["stage"].as_str().unwrap().to_owned();
        assert_no_plaintext(&home);
        if stages.last() != Some(&stage) {
            stages.push(stage);
        }
        if snap["state"] != "running" {
            break snap;
        }
    };
    assert_eq!(last["state"], "done", "{last}");
    assert!(stages.iter().any(|s| s == "uploading to 0G"), "{stages:?}");
    let receipt = &last["result"];
    assert!(receipt["rootHash"].as_str().unwrap().starts_with("0x"));
    assert!(receipt["size"].as_u64().unwrap() > size);

    let peak = peak_rss_mib(s.pid());
    eprintln!("{size_mib} MiB upload: server peak RSS {peak} MiB; stages {stages:?}");
    assert!(
        peak < MAX_PEAK_RSS_MIB,
        "peak RSS {peak} MiB for a {size_mib} MiB file"
    );
    assert_no_plaintext(&home);
    assert!(
        !home.join("state/ui-uploads").exists(),
        "an upload was staged"
    );
    // The SDK's own state for the put is gone too: it finished.
    let pending = std::fs::read_dir(home.join("state/pending"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(pending, 0);
}
