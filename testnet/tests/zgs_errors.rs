//! The dev storage node under bad input: every malformed or wrong request gets the error a
//! real 0G node gives, and the node keeps serving.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use alloy::primitives::B256;
use alloy::transports::http::reqwest;
use base64::Engine;
use serde_json::{Value, json};
use zgvault_client::storage::{NodeClient, SegmentWithProof, UploadOptions, upload_file};
use zgvault_client::zg::{FileRoot, RootHasher};
use zgvault_testnet::{Devnet, DevnetConfig, StorageLayout};

fn root_of(bytes: &[u8]) -> FileRoot {
    let mut h = RootHasher::new();
    h.update(bytes).unwrap();
    h.finish().unwrap()
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> Value {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text)
        .unwrap_or_else(|_| json!({"httpStatus": status.as_u16(), "body": text}))
}

async fn call(url: &str, method: &str, params: Value) -> Value {
    post(
        url,
        json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string(),
    )
    .await
}

fn error_text(v: &Value) -> String {
    format!("{} {}", v["error"]["message"], v["error"]["data"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_real_nodes_errors_and_the_node_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig::new(dir.path());
    config.nodes = 0;
    config.storage_nodes = 1;
    config.storage_layout = StorageLayout::Replicated;
    let devnet = Devnet::start(&config).await.unwrap();
    let url = devnet.storage().unwrap().nodes[0].url.clone();

    // A real two-segment file, uploaded, to aim wrong requests at.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let src = dir.path().join("f");
    std::fs::write(&src, &bytes).unwrap();
    let root = root_of(&bytes);
    let signer = devnet.signer("alice").unwrap();
    let me = signer.address();
    let provider = alloy::providers::ProviderBuilder::new()
        .wallet(signer)
        .connect_http(devnet.rpc_url().parse().unwrap());
    let node = NodeClient::new(url.clone()).unwrap();
    let receipt = upload_file(
        &provider,
        devnet.manifest().contracts.flow,
        me,
        std::slice::from_ref(&node),
        &src,
        &root,
        &UploadOptions::default(),
        &|_, _| {},
    )
    .await
    .unwrap();
    let seq = receipt.tx_seq;
    let good = node
        .download_segment_with_proof_by_tx_seq(seq, 0)
        .await
        .unwrap()
        .unwrap();

    // Not JSON at all.
    let v = post(&url, "{this is not json").await;
    assert_eq!(v["error"]["code"], -32700, "{v}");
    // JSON but no method; unknown method; params not an array.
    assert_eq!(post(&url, "{}").await["error"]["code"], -32600);
    assert_eq!(
        call(&url, "zgs_nope", json!([])).await["error"]["code"],
        -32601
    );
    let v = post(
        &url,
        json!({"jsonrpc":"2.0","id":1,"method":"zgs_getStatus","params":{}}).to_string(),
    )
    .await;
    assert_eq!(v["error"]["code"], -32600);
    // Wrong parameter types.
    let v = call(&url, "zgs_getFileInfo", json!(["not a hash", true])).await;
    assert_eq!(v["error"]["code"], -32602);

    // A finalized file refuses more segments with the text clients treat as success.
    let v = call(
        &url,
        "zgs_uploadSegmentsByTxSeq",
        json!([[good.clone()], seq]),
    )
    .await;
    assert!(
        error_text(&v).contains("already uploaded and finalized"),
        "{v}"
    );

    // Pay for a second file, then send it wrong segments.
    let bytes2: Vec<u8> = bytes.iter().map(|b| b ^ 0x5a).collect();
    let root2 = root_of(&bytes2);
    let seq2 = submit_only(&devnet, &root2).await;
    let seg_of = |index: u64, data: &[u8]| SegmentWithProof {
        root: root2.root(),
        data: base64::engine::general_purpose::STANDARD.encode(data),
        index,
        proof: root2.segment_proof(index).unwrap(),
        file_size: root2.size(),
    };
    let first = &bytes2[..262_144];
    // Wrong proof: the data of segment 0 claimed as segment 1's... length first.
    let v = call(
        &url,
        "zgs_uploadSegmentsByTxSeq",
        json!([[seg_of(1, first)], seq2]),
    )
    .await;
    assert!(error_text(&v).contains("invalid data length"), "{v}");
    // Right length, flipped byte: the proof fails.
    let mut flipped = first.to_vec();
    flipped[1000] ^= 1;
    let v = call(
        &url,
        "zgs_uploadSegmentsByTxSeq",
        json!([[seg_of(0, &flipped)], seq2]),
    )
    .await;
    assert!(error_text(&v).contains("invalid proof"), "{v}");
    // Root of another file for this tx.
    let mut other = seg_of(0, first);
    other.root = root.root();
    let v = call(&url, "zgs_uploadSegmentsByTxSeq", json!([[other], seq2])).await;
    assert!(
        error_text(&v).contains("data root and tx seq not match"),
        "{v}"
    );
    // Index past the end; not base64.
    let mut past_end = seg_of(0, first);
    past_end.index = 9;
    let v = call(&url, "zgs_uploadSegmentsByTxSeq", json!([[past_end], seq2])).await;
    assert!(error_text(&v).contains("out of range"), "{v}");
    let mut garbage = seg_of(0, first);
    garbage.data = "%%%not-base64%%%".into();
    let v = call(&url, "zgs_uploadSegmentsByTxSeq", json!([[garbage], seq2])).await;
    assert!(error_text(&v).contains("not base64"), "{v}");
    // A tx seq the node has never seen.
    let v = call(
        &url,
        "zgs_uploadSegmentsByTxSeq",
        json!([[seg_of(0, first)], 9999]),
    )
    .await;
    assert!(error_text(&v).contains("not known"), "{v}");
    // A large file (> 10 MiB) by root before its tx exists cannot be cached.
    let mut big = seg_of(0, first);
    big.root = B256::repeat_byte(3);
    big.file_size = 64 << 20;
    let v = call(&url, "zgs_uploadSegment", json!([big])).await;
    assert!(error_text(&v).contains("caching of large file"), "{v}");
    // Too many segments in one call.
    let many: Vec<_> = (0..65).map(|_| seg_of(0, first)).collect();
    let v = call(&url, "zgs_uploadSegmentsByTxSeq", json!([many, seq2])).await;
    assert!(error_text(&v).contains("too many segments"), "{v}");

    // Download ranges: empty, too long, past the end.
    for (start, end, why) in [
        (5, 5, "below"),
        (0, 1025, "too many chunks"),
        (0, 5000, "too many chunks"),
        (1100, 1200, "past the file"),
    ] {
        let v = call(&url, "zgs_downloadSegmentByTxSeq", json!([seq, start, end])).await;
        assert!(error_text(&v).contains(why), "[{start},{end}) {v}");
    }
    let v = call(&url, "zgs_downloadSegmentWithProofByTxSeq", json!([seq, 5])).await;
    assert!(error_text(&v).contains("out of range"), "{v}");
    // Unknown file: null, not an error.
    assert_eq!(
        call(&url, "zgs_getFileInfoByTxSeq", json!([424242])).await["result"],
        Value::Null
    );

    // An oversized body is refused before it is read in full: a 413, or the connection
    // closed while we are still sending.
    let huge = vec![b' '; 40 << 20];
    let sent = reqwest::Client::new().post(&url).body(huge).send().await;
    match sent {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }

    // After all that, the node still serves, and the good file is intact.
    let again = node
        .download_segment_with_proof_by_tx_seq(seq, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, good);
    assert!(node.status().await.is_ok());
    devnet.stop().unwrap();
}

/// Sends `Flow.submit` for a file without uploading anything; returns its txSeq once the
/// node has seen it.
async fn submit_only(devnet: &Devnet, root: &FileRoot) -> u64 {
    use alloy::network::TransactionBuilder;
    use alloy::providers::Provider;
    use alloy::rpc::types::TransactionRequest;
    let signer = devnet.signer("bob").unwrap();
    let me = signer.address();
    let provider = alloy::providers::ProviderBuilder::new()
        .wallet(signer)
        .connect_http(devnet.rpc_url().parse().unwrap());
    let submission = root.submission(Default::default());
    let tx = TransactionRequest::default()
        .with_to(devnet.manifest().contracts.flow)
        .with_input(submission.submit_calldata(me).unwrap())
        .with_value(submission.fee(devnet.manifest().price_per_sector));
    let receipt = provider
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let node = NodeClient::new(devnet.storage().unwrap().nodes[0].url.clone()).unwrap();
    for _ in 0..200 {
        if let Some(info) = node.file_info(root.root(), false).await.unwrap() {
            return info.tx.seq;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("node never saw the submission");
}
