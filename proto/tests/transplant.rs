//! Security issue, finding 1: a BLS capsule moved to another file must not yield its key.
//! The attacker owns file B, registers B with file A's capsule, passes every gate for B,
//! and gets every node's answer for B (`support/transplant.rs` has what it then tries).
#![allow(clippy::unwrap_used)]

#[path = "support/transplant.rs"]
mod transplant;

use alloy_primitives::{Address, B256};
use zgvault_proto::{
    FileKey,
    request::FileRef,
    threshold::{BlsCapsule, BlsSecretShare, deal_bls_key_set},
};

fn file(n: u8) -> FileRef {
    FileRef {
        chain_id: 16602,
        registry: Address::repeat_byte(0x42),
        file_id: B256::repeat_byte(n),
    }
}

/// Every node's answer for `file` and `capsule`, as the nodes give it once the gate passes.
fn answers(shares: &[BlsSecretShare], file: &FileRef, capsule: &BlsCapsule) -> Vec<(u32, Vec<u8>)> {
    shares
        .iter()
        .map(|s| {
            let partial = s.decrypt_share(file, capsule);
            (s.node_index(), partial.to_bytes().to_vec())
        })
        .collect()
}

#[test]
fn transplant_of_a_capsule_to_another_file_recovers_nothing() {
    let (keys, shares) = deal_bls_key_set(3, 5).unwrap();
    let (victim, attacker) = (file(0xa1), file(0xb2));
    let victim_key = FileKey::generate().unwrap();
    let victim_capsule = keys.encrypt_file_key(&victim, &victim_key).unwrap();

    // The attacker registers its own file with the victim's capsule bytes; the nodes answer
    // for the attacker's file, which the attacker may read.
    let copied = BlsCapsule::from_bytes(&victim_capsule.to_bytes()).unwrap();
    let stolen = answers(&shares, &attacker, &copied);
    assert_eq!(
        stolen.len(),
        5,
        "every node answers for the attacker's own file"
    );

    let got = transplant::transplant_attempts(&keys, &victim, &victim_capsule, &attacker, &stolen);
    assert!(
        got.is_none_or(|k| k != victim_key),
        "the transplanted capsule gave the attacker the victim's key"
    );

    // The attacker's tools are not broken: for a capsule honestly made for its own file,
    // the same combine recovers that file's key.
    let own_key = FileKey::generate().unwrap();
    let own_capsule = keys.encrypt_file_key(&attacker, &own_key).unwrap();
    let own = answers(&shares, &attacker, &own_capsule);
    let recovered = transplant::try_combine(&keys, &attacker, &own_capsule, &own);
    assert!(recovered.is_some_and(|k| k == own_key));
}

#[test]
fn transplant_between_files_of_other_chains_and_registries_recovers_nothing() {
    // The same capsule bytes under the same file id, but another registry or chain: the
    // label names all three, so none of these answers is of use for the original.
    let (keys, shares) = deal_bls_key_set(2, 3).unwrap();
    let victim = file(7);
    let victim_key = FileKey::generate().unwrap();
    let victim_capsule = keys.encrypt_file_key(&victim, &victim_key).unwrap();
    let copied = BlsCapsule::from_bytes(&victim_capsule.to_bytes()).unwrap();
    let elsewhere = [
        FileRef {
            registry: Address::repeat_byte(0x43),
            ..victim
        },
        FileRef {
            chain_id: victim.chain_id + 1,
            ..victim
        },
    ];
    for attacker in elsewhere {
        let stolen = answers(&shares, &attacker, &copied);
        let got =
            transplant::transplant_attempts(&keys, &victim, &victim_capsule, &attacker, &stolen);
        assert!(
            got.is_none_or(|k| k != victim_key),
            "a capsule copied to {attacker:?} gave the victim's key"
        );
    }
}
