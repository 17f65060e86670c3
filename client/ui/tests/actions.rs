//! The owner's actions over the running `zgvault-ui`'s API on a live devnet, as the file
//! page sends them: a Shamir put, the allow-list, the time window, the policy, a custody
//! move into the key network and into the custodial vault, a shred, two uploads at once; and a reader's refusal, with its reason, before any key is asked for.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Events, UiServer, VaultKek};
use serde_json::{Value, json};

const PASS: &str = "a long test passphrase";

async fn sign_in(s: &UiServer, key: &str) -> String {
    let body = json!({"passphrase": PASS, "importKey": key});
    let a = s
        .ours("POST", "/api/identity/create", body.to_string().as_bytes())
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let v: Value = serde_json::from_str(&a.body).unwrap();
    v["address"].as_str().unwrap().to_owned()
}

async fn json_ok(s: &UiServer, method: &str, path: &str, body: Value) -> Value {
    let a = s.ours(method, path, body.to_string().as_bytes()).await;
    assert_eq!(a.status, 200, "{method} {path}: {a:?}");
    serde_json::from_str(&a.body).unwrap()
}

/// Starts an operation and follows it to its end; it must succeed.
async fn op_done(s: &UiServer, path: &str, body: Value) -> Value {
    let started = json_ok(s, "POST", path, body).await;
    let last = Events::until_done(s, started["op"].as_u64().unwrap()).await;
    assert_eq!(last["state"], "done", "{path}: {last}");
    last["result"].clone()
}

/// Uploads `bytes` as `name` with `custody`; returns the put receipt.
async fn put(s: &UiServer, name: &str, custody: &str, bytes: &[u8]) -> Value {
    let path = format!(
        "/api/put?name={name}&size={}&custody={custody}",
        bytes.len()
    );
    let (host, origin, cookie) = (s.host(), s.origin(), s.cookie());
    let headers = [
        ("Host", host.as_str()),
        ("Origin", origin.as_str()),
        ("Cookie", cookie.as_str()),
    ];
    let a = s.send_body("POST", &path, &headers, bytes).await;
    assert_eq!(a.status, 200, "{a:?}");
    let op: Value = serde_json::from_str(&a.body).unwrap();
    let last = Events::until_done(s, op["op"].as_u64().unwrap()).await;
    assert_eq!(last["state"], "done", "{last}");
    last["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owners_actions_and_a_readers_refusal_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, servers) =
        common::devnet_with_users(dir.path(), &["alice", "bob"], Some(VaultKek::File)).await;
    let (alice, bob) = (&servers[0], &servers[1]);
    let key = |name: &str| devnet.manifest().account(name).unwrap().private_key.clone();
    sign_in(alice, &key("alice")).await;
    let bob_addr = sign_in(bob, &key("bob")).await;

    let data = b"id,value\n1,alpha\n2,beta\n".repeat(50);
    let receipt = put(alice, "values.csv", "shamir", &data).await;
    assert_eq!(receipt["custody"], "shamir");
    let id = receipt["fileId"].as_str().unwrap().to_owned();
    let files = json_ok(alice, "GET", "/api/files", Value::Null).await;
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["fileId"] == id.as_str())
    );

    // Only the owner may read (no gate): the reader is refused before any key request,
    // and told why.
    let refused = json_ok(bob, "POST", &format!("/api/files/{id}/get"), Value::Null).await;
    let last = Events::until_done(bob, refused["op"].as_u64().unwrap()).await;
    assert_eq!(last["state"], "failed");
    assert_eq!(last["error"]["kind"], "access_denied", "{last}");
    assert!(
        last["error"]["error"]
            .as_str()
            .unwrap()
            .contains("allow-listed"),
        "{last}"
    );

    // The allow-list lets them in.
    let grant = json!({"to": bob_addr, "how": "allow"});
    let g = json_ok(alice, "POST", &format!("/api/files/{id}/grant"), grant).await;
    assert_eq!(g["how"], "allow");
    let info = json_ok(bob, "GET", &format!("/api/files/{id}"), Value::Null).await;
    assert_eq!(info["you"]["canRead"], true, "{info}");

    // A window that ended shuts them out again, saying so; removing it lets them back.
    let past = json!({"notAfter": 1_577_923_199u64});
    json_ok(alice, "POST", &format!("/api/files/{id}/window"), past).await;
    let info = json_ok(bob, "GET", &format!("/api/files/{id}"), Value::Null).await;
    assert_eq!(info["you"]["canRead"], false);
    assert!(
        info["you"]["reason"].as_str().unwrap().contains("ended"),
        "{info}"
    );
    let open = json!({"notAfter": 0});
    json_ok(alice, "POST", &format!("/api/files/{id}/window"), open).await;

    // The policy: pass holders (the allow-list stays).
    let p = json!({"gates": ["pass"]});
    let set = json_ok(alice, "POST", &format!("/api/files/{id}/policy"), p).await;
    assert!(set["tx"].as_str().unwrap().starts_with("0x"));
    let info = json_ok(alice, "GET", &format!("/api/files/{id}"), Value::Null).await;
    assert!(info["policy"]["anyOf"][0][0]["pass"].is_string(), "{info}");

    // The reader downloads it, decrypted, through the page's download link.
    let got = op_done(bob, &format!("/api/files/{id}/get"), Value::Null).await;
    assert_eq!(got["name"], "values.csv");
    let ops = json_ok(bob, "GET", "/api/ops", Value::Null).await;
    let get_op = ops
        .as_array()
        .unwrap()
        .iter()
        .rfind(|o| o["kind"] == "get")
        .unwrap();
    let file = bob
        .ours("GET", &format!("/api/ops/{}/file", get_op["id"]), b"")
        .await;
    assert_eq!(file.status, 200);
    assert_eq!(file.body.as_bytes(), data.as_slice());
    assert!(
        file.header("content-disposition")
            .unwrap()
            .contains("values.csv")
    );
    // Served once: the plaintext is gone from the server's staging folder.
    let again = bob
        .ours("GET", &format!("/api/ops/{}/file", get_op["id"]), b"")
        .await;
    assert_eq!(again.status, 400, "{again:?}");

    // Move the key out of Shamir into the key network; then a second file is shredded.
    let moved = op_done(
        alice,
        &format!("/api/files/{id}/custody"),
        json!({"to": "threshold"}),
    )
    .await;
    assert_eq!(moved["to"], "threshold", "{moved}");
    // And into the custodial vault, which the Network page shows as trusted; the reader
    // still reads it, now from the vault.
    let status = json_ok(alice, "GET", "/api/status", Value::Null).await;
    assert_eq!(status["vault"]["keyTrusted"], true, "{status}");
    assert_eq!(status["epoch"], 1, "{status}");
    let path = format!("/api/files/{id}/custody");
    let moved = op_done(alice, &path, json!({"to": "custodial"})).await;
    assert_eq!(moved["to"], "custodial", "{moved}");
    let got = op_done(bob, &format!("/api/files/{id}/get"), Value::Null).await;
    assert!(got["vault"].is_string(), "{got}");
    // Two files dropped at once: both land (their transactions take turns).
    let (other, third) = tokio::join!(
        put(alice, "other.csv", "shamir", b"x,y\n1,2\n"),
        put(alice, "third.csv", "threshold", b"x,y\n3,4\n"),
    );
    assert_ne!(other["fileId"], third["fileId"]);
    let other_id = other["fileId"].as_str().unwrap();
    let shred = json_ok(
        alice,
        "POST",
        &format!("/api/files/{other_id}/shred"),
        Value::Null,
    )
    .await;
    assert!(shred["note"].as_str().unwrap().contains("stay released"));
    let last = Events::until_done(alice, shred["op"].as_u64().unwrap()).await;
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["result"]["complete"], true, "{last}");
}
