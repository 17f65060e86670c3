//! Known answers computed by the official 0G TypeScript SDK 1.2.8 (provenance in
//! `tests/vectors/README.md`).
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod common;

use std::io::Write;

use alloy::{
    primitives::{Address, Bytes, U256},
    sol_types::SolEvent,
};
use common::{b256, generate, keccak, mod251, vectors_dir};
use serde_json::Value;
use zgvault_client::{
    Error,
    zg::{self, FileRoot, RootHasher, root_of_bytes},
};

fn extra() -> Value {
    let text = std::fs::read_to_string(vectors_dir().join("0g-extra-vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn nodes_string(root: &FileRoot) -> String {
    let parts: Vec<String> = root
        .nodes()
        .iter()
        .map(|n| format!("{}:{}", n.root, n.height))
        .collect();
    parts.join(",")
}

#[test]
fn every_row_of_the_root_table() {
    let text = std::fs::read_to_string(vectors_dir().join("0g-root-vectors.tsv")).unwrap();
    let mut rows = 0;
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let size: usize = f[0].parse().unwrap();
        let data = generate(size, f[1], 0);
        if size == 0 {
            assert!(matches!(root_of_bytes(&data), Err(Error::EmptyFile)));
            assert!(matches!(RootHasher::new().finish(), Err(Error::EmptyFile)));
            rows += 1;
            continue;
        }
        // Inline and threaded hashing, one write and many small ones.
        let inline = root_of_bytes(&data).unwrap();
        let mut threaded = RootHasher::with_threads(2);
        for piece in data.chunks(100_003) {
            threaded.write_all(piece).unwrap();
        }
        let threaded = threaded.finish().unwrap();
        assert_eq!(inline, threaded, "size {size}");

        let r = inline;
        assert_eq!(r.root(), b256(f[2]), "root, size {size}");
        assert_eq!(r.size().to_string(), f[3], "length, size {size}");
        assert_eq!(nodes_string(&r), f[4], "nodes, size {size}");
        assert_eq!(r.layout().chunks().to_string(), f[5], "chunks, size {size}");
        assert_eq!(r.padded_chunks().to_string(), f[6], "padded, size {size}");
        assert_eq!(
            r.layout().segments_in_tree().to_string(),
            f[7],
            "size {size}"
        );
        assert_eq!(
            r.layout().segments_uploaded().to_string(),
            f[8],
            "size {size}"
        );
        assert_eq!(
            r.fee_sectors().to_string(),
            f[9],
            "fee sectors, size {size}"
        );
        let submission = r.submission(Bytes::new());
        assert_eq!(submission.root(), Some(r.root()));
        assert_eq!(submission.fee_sectors(), U256::from(r.fee_sectors()));
        submission.validate().unwrap();
        // The odd-promotion tree over segment roots gives the same root as the nodes.
        assert_eq!(r.segment_tree().unwrap().root(), r.root(), "size {size}");
        rows += 1;
    }
    assert_eq!(rows, 16, "the table has 16 data rows");
}

#[test]
fn submit_calldata_is_byte_identical() {
    let v = extra();
    let cases = v["calldata"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for c in cases {
        let size = c["size"].as_u64().unwrap() as usize;
        let submitter: Address = c["submitter"].as_str().unwrap().parse().unwrap();
        let root = root_of_bytes(&mod251(size)).unwrap();
        let submission = root.submission(Bytes::new());
        let calldata = submission.submit_calldata(submitter).unwrap();
        assert_eq!(c["newAbiSelector"].as_str().unwrap(), "0xbc8c11f8");
        assert_eq!(calldata[..4], zg::SUBMIT_SELECTOR);
        assert_eq!(
            calldata.to_string(),
            c["newAbiCalldata"].as_str().unwrap(),
            "size {size}"
        );
        assert_eq!(
            submission.fee_sectors(),
            U256::from(c["feeSectors"].as_u64().unwrap())
        );
        assert_eq!(
            submission.fee(U256::from(3)),
            U256::from(3 * c["feeSectors"].as_u64().unwrap())
        );
    }
}

#[test]
fn submit_event_topic() {
    let v = extra();
    assert_eq!(
        zg::abi::Submit::SIGNATURE_HASH.to_string(),
        v["submitEventTopic0"].as_str().unwrap()
    );
    assert_eq!(
        zg::abi::Submit::SIGNATURE,
        v["submitEventSignature"].as_str().unwrap()
    );
}

#[test]
fn segments_and_proofs_of_the_five_segment_file() {
    let v = extra();
    let data = mod251(1_048_577);
    let root = root_of_bytes(&data).unwrap();
    let tree = root.segment_tree().unwrap();
    let segments = v["segments"].as_array().unwrap();
    assert_eq!(segments.len() as u64, root.layout().segments_in_tree());
    for s in segments {
        let index = s["index"].as_u64().unwrap();
        assert_eq!(s["root"].as_str().unwrap(), root.root().to_string());
        assert_eq!(s["fileSize"].as_u64().unwrap(), root.size());
        // The bytes the uploader sends: whole chunks of real data, last one zero-filled.
        let range = root.layout().upload_range(index).unwrap();
        assert_eq!(range.end - range.start, s["dataLength"].as_u64().unwrap());
        let mut sent = data[range.start as usize..(range.end as usize).min(data.len())].to_vec();
        sent.resize((range.end - range.start) as usize, 0);
        assert_eq!(
            keccak(&sent),
            b256(s["dataKeccak256"].as_str().unwrap()),
            "segment {index}"
        );

        let leaf = b256(s["segmentRoot"].as_str().unwrap());
        assert_eq!(root.segment_roots()[index as usize], leaf);
        assert_eq!(
            root.segment_root_of(index, &sent).unwrap(),
            leaf,
            "re-padded leaf"
        );

        let proof = tree.proof(index).unwrap();
        let expected: zg::SegmentProof = serde_json::from_value(s["proof"].clone()).unwrap();
        assert_eq!(proof, expected, "segment {index}");
        assert_eq!(serde_json::to_value(&proof).unwrap(), s["proof"]);
        proof
            .verify(&root.root(), &leaf, index, segments.len() as u64)
            .unwrap();
    }
}

#[test]
fn zero_subtree_hashes() {
    let v = extra();
    let zs = v["zeroSubtreeHashes"].as_array().unwrap();
    assert_eq!(zs.len(), 25);
    for z in zs {
        let h = z["height"].as_u64().unwrap() as u32;
        assert_eq!(
            zg::zero_hash(h),
            b256(z["hash"].as_str().unwrap()),
            "Z[{h}]"
        );
    }
}

#[test]
fn kv_stream_data_file_root() {
    // Only the root of the encoded blob: the KV encoding itself is not ours to build yet.
    let v = extra();
    let kv = &v["kvStreamData"];
    let encoded: Bytes = kv["encodedHex"].as_str().unwrap().parse().unwrap();
    assert_eq!(encoded.len() as u64, kv["encodedLength"].as_u64().unwrap());
    let root = root_of_bytes(&encoded).unwrap();
    assert_eq!(root.root(), b256(kv["fileRootHash"].as_str().unwrap()));
}
