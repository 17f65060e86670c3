//! Writes the `bls` scheme's known-answer vectors: a fixed key set (from a fixed polynomial),
//! a capsule sealed once (its randomness is not reproducible, so it is recorded), the capsule's
//! label, every node's answer and the key they open.
//!
//! ```sh
//! cargo run -p zgvault-proto --example bls_vectors > proto/tests/vectors/bls.json
//! ```
//!
//! `proto/tests/vectors.rs` checks the file: node answers byte for byte, the label, and that
//! any `t + 1` answers open the capsule to the recorded key. Regenerate only when the
//! construction changes (a new capsule version), never to make a failing check pass.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use alloy_primitives::{Address, B256};
use blsttc::SecretKeySet;
use serde_json::json;
use zgvault_proto::{
    FileKey,
    request::FileRef,
    threshold::{BLS_CAPSULE_VERSION, BlsKeySet, BlsSecretShare},
};

const NODES: usize = 5;

fn main() {
    // f(x) = 0x11.. + 0x22..·x + 0x33..·x² (each coefficient a 32-byte big-endian scalar < r).
    let coefficients: Vec<u8> = [0x11u8, 0x22, 0x33].iter().flat_map(|b| [*b; 32]).collect();
    let secret = SecretKeySet::from_bytes(coefficients.clone()).unwrap();
    let key_set = BlsKeySet::from_bytes(&secret.public_keys().to_bytes()).unwrap();
    let shares: Vec<BlsSecretShare> = (0..NODES)
        .map(|i| {
            let bytes = secret.secret_key_share(i).to_bytes();
            BlsSecretShare::from_bytes(u32::try_from(i).unwrap(), &bytes).unwrap()
        })
        .collect();
    let file = FileRef {
        chain_id: 16602,
        registry: Address::repeat_byte(0x42),
        file_id: B256::repeat_byte(0x07),
    };
    let key = FileKey::from_slice(&(0u8..32).collect::<Vec<_>>()).unwrap();
    let capsule = key_set.encrypt_file_key(&file, &key).unwrap();
    let partials: Vec<String> = shares
        .iter()
        .map(|s| hex::encode(*s.decrypt_share(&file, &capsule).to_bytes()))
        .collect();
    let out = json!({
        "description": "zgvault bls scheme (threshold identity-based encryption, capsule version 2): \
                        key set from f(x) = c0 + c1 x + c2 x^2, node i holds f(i + 1); any 3 of \
                        the 5 answers open the capsule. Made by proto/examples/bls_vectors.rs.",
        "capsule_version": BLS_CAPSULE_VERSION,
        "polynomial": hex::encode(&coefficients),
        "key_set": hex::encode(key_set.to_bytes()),
        "shares": shares.iter().map(|s| hex::encode(*s.to_bytes())).collect::<Vec<_>>(),
        "file": {
            "chain_id": file.chain_id,
            "registry": file.registry.to_string(),
            "file_id": file.file_id.to_string(),
        },
        "key": hex::encode(key.as_bytes()),
        "capsule": hex::encode(capsule.to_bytes()),
        "label": hex::encode(capsule.label(&file)),
        "partials": partials,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
