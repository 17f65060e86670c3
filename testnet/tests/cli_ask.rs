//! `zgvault ask` on a live devnet: Alice puts a CSV and a JSON file and grants Bob; Bob asks
//! exact questions of the table and a question scoped to the JSON file, with citations;
//! nothing of the plaintext lands in Bob's data folder; once revoked, Bob cannot ask (no K).
//! Needs the embedding model `scripts/setup` installs; skipped with a message without it.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod cli_common;

use std::path::Path;

use cli_common::{stderr, user};
use zgvault_testnet::{Devnet, DevnetConfig};

/// A word only the CSV's plaintext contains.
const CSV_MARKER: &str = "Quokkaville";
/// A word only the JSON file's plaintext contains.
const JSON_MARKER: &str = "Zanzibarite";

fn csv() -> String {
    let mut s = String::from("sale_id,region,city,quantity,unit_price\n");
    for i in 0..40u32 {
        let region = ["North", "South", "East", "West"][(i % 4) as usize];
        let city = if i % 10 == 3 {
            CSV_MARKER
        } else {
            "Springfield"
        };
        s.push_str(&format!(
            "{},{region},{city},{},{}.50\n",
            1000 + i,
            1 + i % 7,
            10 + i
        ));
    }
    s
}

fn json() -> String {
    let stones: Vec<_> = (0..12u32)
        .map(|i| {
            serde_json::json!({
                "name": if i == 5 { JSON_MARKER.to_owned() } else { format!("stone-{i}") },
                "hardness": 1 + i % 10,
                "found": 1990 + i,
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "stones": stones })).unwrap()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = dir.read_dir() else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// One HTTP/1.1 request to the web app at `addr`; the answer's head and body.
fn http(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (String, String) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// Starts `zgvault ui` as `user`, unlocks, asks `question` of `file_id` in the Ask panel.
fn ask_in_the_web_app(user: &cli_common::User, file_id: &str, question: &str) -> serde_json::Value {
    use std::io::BufRead;
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = user
        .command(&["ui", "--no-open"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let _ui = Kill(child);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("zgvault ui: http://")
        .unwrap()
        .to_owned();
    let (addr, target) = url.split_at(url.find('/').unwrap());
    let (head, _) = http(addr, "GET", target, &[], "");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let origin = format!("http://{addr}");
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
        ("Content-Type", "application/json"),
    ];
    let unlock = serde_json::json!({ "passphrase": cli_common::PASSPHRASE }).to_string();
    let (head, body) = http(addr, "POST", "/api/identity/unlock", &headers, &unlock);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    let ask = serde_json::json!({ "files": [file_id], "question": question }).to_string();
    let (head, body) = http(addr, "POST", "/api/ask", &headers, &ask);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grantee_asks_exact_questions_and_a_revoked_one_cannot() {
    if let Err(e) = zgvault_rag::locate_minilm() {
        eprintln!("SKIPPED: the embedding model is not installed ({e}); run scripts/setup");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.nodes = 3;
    config.threshold = 2;
    config.storage_nodes = 1;
    config.vault = None;
    let devnet = Devnet::start(&config).await.unwrap();
    let (alice, _) = user(dir.path(), "alice", &devnet);
    let (bob, bob_addr) = user(dir.path(), "bob", &devnet);

    let sales = dir.path().join("sales.csv");
    std::fs::write(&sales, csv()).unwrap();
    let stones = dir.path().join("stones.json");
    std::fs::write(&stones, json()).unwrap();
    let sales_id = alice.json(&["put", sales.to_str().unwrap(), "--gate", "pass"])["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    let stones_id = alice.json(&["put", stones.to_str().unwrap(), "--gate", "pass"])["fileId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Before a grant Bob gets no key, so no answer.
    let refused = bob.run(&["ask", &sales_id, "How many sales are in the North region?"]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));

    alice.json(&["grant", &sales_id, "--to", &bob_addr]);
    alice.json(&["grant", &stones_id, "--to", &bob_addr]);

    // An exact count over the table, with its query and the rows it counted.
    let count = bob.json(&["ask", &sales_id, "How many sales are in the North region?"]);
    assert_eq!(count["kind"], "exact", "{count}");
    assert_eq!(count["value"], "10", "{count}");
    assert!(
        count["query"].as_str().unwrap().contains("SELECT"),
        "{count}"
    );
    assert!(
        !count["citations"].as_array().unwrap().is_empty(),
        "{count}"
    );

    // A sum with a filter; both files in scope, and the planner picks the table.
    let sum = bob.json(&[
        "ask",
        &sales_id,
        &stones_id,
        "What is the total quantity sold in the West region?",
    ]);
    assert_eq!(sum["kind"], "exact", "{sum}");
    // West: i = 3, 7, ..., 39; quantity 1 + i % 7.
    let expected: u32 = (0..40u32).filter(|i| i % 4 == 3).map(|i| 1 + i % 7).sum();
    assert_eq!(sum["value"], expected.to_string(), "{sum}");

    // A question scoped to the JSON file is answered from it, cited by record path.
    let scoped = bob.json(&[
        "ask",
        &stones_id,
        &format!("Where was {JSON_MARKER} found?"),
    ]);
    let citations = scoped["citations"].as_array().unwrap();
    assert!(!citations.is_empty(), "{scoped}");
    assert!(
        citations.iter().all(|c| c["file_id"] == stones_id.as_str()),
        "retrieval left its scope: {scoped}"
    );

    // Nothing of either plaintext is on Bob's disk: the library is sealed, files were opened
    // in memory, the ciphertext was removed after.
    for path in files_under(&bob.home) {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(CSV_MARKER) && !text.contains(JSON_MARKER),
            "plaintext on disk in {}",
            path.display()
        );
    }
    assert!(
        files_under(&bob.home.join("rag")).len() > 1,
        "the library kept nothing"
    );

    // The web app's Ask panel (`zgvault ui`) answers from the same library, the same way.
    let ui = ask_in_the_web_app(&bob, &sales_id, "How many sales are in the North region?");
    assert!(ui["text"].as_str().unwrap().starts_with("10"), "{ui}");
    assert!(ui["text"].as_str().unwrap().contains("SELECT"), "{ui}");
    assert!(!ui["citations"].as_array().unwrap().is_empty(), "{ui}");

    // Forget drops the file from the library.
    let forgot = bob.json(&["forget", &stones_id]);
    assert_eq!(forgot["forgotten"], true, "{forgot}");

    // Revoked: no key, so no answer, although the library once held the file.
    alice.json(&["revoke", &sales_id, "--from", &bob_addr]);
    let after = bob.run(&["ask", &sales_id, "How many sales are in the North region?"]);
    assert_eq!(after.status.code(), Some(3), "{}", stderr(&after));
}
