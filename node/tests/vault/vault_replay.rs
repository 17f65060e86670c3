//! Owner messages against replays and misdirection, on the vault and on a threshold node:
//! shreds addressed to another holder, older shreds against newer deposits, replays of
//! deposits and shreds, replays that must not drain the signer's rate bucket, retries after a
//! transient refusal, and the truth of a store change whose audit line fails. Against the
//! chain test double (`common`).
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Fixture, VaultFixture, access, ask, now, refused};
use zgvault_proto::{
    FileKey,
    request::{Scheme, ShareDeposit, Shred},
    sealbox::{BoxPublicKey, BoxSecretKey},
    wire::{ErrorCode, ErrorReply, KeyRequest, KeyResponse, encode_request},
};

#[track_caller]
fn shred_held(response: &KeyResponse) -> bool {
    match response {
        KeyResponse::ShredAck(ack) => ack.held,
        other => panic!("expected a shred ack, got {other:?}"),
    }
}

/// Asks the vault for file `id` as the reader: K or the refusal.
async fn release(f: &VaultFixture, id: u8) -> Result<[u8; 32], ErrorReply> {
    let signed = access(f.file_ref(id), Scheme::Custodial, &[], &f.reader, |_| {});
    match ask(&f.service, &signed.bytes()).await {
        KeyResponse::Key(sealed) => {
            let key = sealed
                .open(&signed.response_key, &signed.request.hash())
                .unwrap();
            Ok(<[u8; 32]>::try_from(key.as_slice()).unwrap())
        }
        KeyResponse::Error(reply) => Err(reply),
        other => panic!("unexpected answer {other:?}"),
    }
}

async fn deposit_ok(f: &VaultFixture, id: u8, key: &FileKey, issued_at: u64) -> Vec<u8> {
    let bytes = f.key_deposit(id, key, &f.owner, issued_at);
    let answer = ask(&f.service, &bytes).await;
    assert!(
        matches!(answer, KeyResponse::DepositAck(_)),
        "expected a deposit ack, got {answer:?}"
    );
    bytes
}

/// A shred of threshold file `id` addressed to `holder`, signed by the owner at `issued_at`.
fn node_shred(f: &Fixture, id: u8, holder: BoxPublicKey, issued_at: u64) -> Vec<u8> {
    let shred = Shred {
        file: f.file_ref(id),
        holder,
        issued_at,
    }
    .sign(&f.owner)
    .unwrap();
    encode_request(&KeyRequest::Shred(shred))
}

fn some_other_key() -> BoxPublicKey {
    BoxSecretKey::generate().unwrap().public_key()
}

#[tokio::test]
async fn shred_addressed_to_another_holder_is_refused_by_the_vault_and_by_a_node() {
    // The vault: a shred for another holder deletes nothing.
    let v = VaultFixture::new();
    let key = v.custodial_file(1);
    deposit_ok(&v, 1, &key, now()).await;
    let shred = Shred {
        file: v.file_ref(1),
        holder: some_other_key(),
        issued_at: now(),
    }
    .sign(&v.owner)
    .unwrap();
    let reply = refused(&ask(&v.service, &encode_request(&KeyRequest::Shred(shred))).await);
    assert_eq!(reply.code, ErrorCode::WrongDomain, "{}", reply.message);
    assert!(reply.message.contains("addressed"), "{}", reply.message);
    assert_eq!(&release(&v, 1).await.unwrap(), key.as_bytes());

    // A threshold node: the same, its share stays.
    let f = Fixture::new();
    let split = f.shamir_file(2);
    assert!(matches!(
        ask(&f.service, &f.deposit(2, &split, 0, &f.owner)).await,
        KeyResponse::DepositAck(_)
    ));
    let reply = refused(&ask(&f.service, &node_shred(&f, 2, some_other_key(), now())).await);
    assert_eq!(reply.code, ErrorCode::WrongDomain, "{}", reply.message);
    let signed = access(f.file_ref(2), Scheme::Shamir, &[], &f.reader, |_| {});
    assert!(matches!(
        ask(&f.service, &signed.bytes()).await,
        KeyResponse::Share(_)
    ));
    // Addressed to this node, it shreds.
    assert!(shred_held(
        &ask(&f.service, &node_shred(&f, 2, f.node_key(), now())).await
    ));
}

#[tokio::test]
async fn an_older_shred_keeps_a_newer_key_and_a_newer_shred_deletes_it() {
    let f = VaultFixture::new();
    let key = f.custodial_file(1);
    let t = now();
    // A shred at T1 (nothing held yet), then a deposit at T2 > T1.
    let old_shred = f.shred(1, &f.owner, t - 30);
    assert!(!shred_held(&ask(&f.service, &old_shred).await));
    deposit_ok(&f, 1, &key, t - 20).await;
    // The old shred replayed: refused by the replay cache, K kept.
    let reply = refused(&ask(&f.service, &old_shred).await);
    assert_eq!(reply.code, ErrorCode::Replay, "{}", reply.message);
    assert_eq!(&release(&f, 1).await.unwrap(), key.as_bytes());
    // After a restart the replay cache is empty: the store itself keeps the newer K.
    let f = f.restart_with(|_| {});
    assert!(!shred_held(&ask(&f.service, &old_shred).await));
    assert_eq!(&release(&f, 1).await.unwrap(), key.as_bytes());
    let kept = f
        .audit_lines()
        .into_iter()
        .rev()
        .find(|l| l["action"] == "shred")
        .unwrap();
    assert_eq!(kept["decision"], "allowed");
    assert!(
        kept["note"].as_str().unwrap().contains("key kept"),
        "{kept}"
    );
    // A shred at T3 > T2 deletes K.
    assert!(shred_held(
        &ask(&f.service, &f.shred(1, &f.owner, t - 10)).await
    ));
    assert_eq!(release(&f, 1).await.unwrap_err().code, ErrorCode::Shredded);
}

#[tokio::test]
async fn an_older_shred_keeps_a_newer_share_on_a_threshold_node() {
    let f = Fixture::new();
    let split = f.shamir_file(3);
    let t = now();
    let deposit = ShareDeposit::new(
        f.file_ref(3),
        &split.shares[0],
        &f.node_key(),
        split.commitments.clone(),
        t - 20,
    )
    .unwrap()
    .sign(&f.owner)
    .unwrap();
    assert!(matches!(
        ask(&f.service, &encode_request(&KeyRequest::Deposit(deposit))).await,
        KeyResponse::DepositAck(_)
    ));
    assert!(!shred_held(
        &ask(&f.service, &node_shred(&f, 3, f.node_key(), t - 30)).await
    ));
    let signed = access(f.file_ref(3), Scheme::Shamir, &[], &f.reader, |_| {});
    assert!(matches!(
        ask(&f.service, &signed.bytes()).await,
        KeyResponse::Share(_)
    ));
    assert!(shred_held(
        &ask(&f.service, &node_shred(&f, 3, f.node_key(), t - 20)).await
    ));
    let signed = access(f.file_ref(3), Scheme::Shamir, &[], &f.reader, |_| {});
    assert_eq!(
        refused(&ask(&f.service, &signed.bytes()).await).code,
        ErrorCode::Shredded
    );
}

#[tokio::test]
async fn replays_are_refused_without_draining_the_signers_bucket() {
    let f = VaultFixture::with_config(|c| {
        c.limits.requester_burst = 3;
        c.limits.requester_rate_per_min = 1;
    });
    let key = f.custodial_file(1);
    let t = now();
    // Token 1: the deposit. Its replays: REPLAY, free for the owner.
    let deposit = deposit_ok(&f, 1, &key, t - 5).await;
    for _ in 0..5 {
        let reply = refused(&ask(&f.service, &deposit).await);
        assert_eq!(reply.code, ErrorCode::Replay, "{}", reply.message);
    }
    // Token 2: a shred. Its replays: REPLAY.
    let shred = f.shred(1, &f.owner, t - 4);
    assert!(shred_held(&ask(&f.service, &shred).await));
    for _ in 0..5 {
        assert_eq!(
            refused(&ask(&f.service, &shred).await).code,
            ErrorCode::Replay
        );
    }
    // Token 3: the owner's next fresh message is served.
    deposit_ok(&f, 1, &key, t - 3).await;
    // And the bucket is really three deep: the fourth fresh message is limited.
    let reply = refused(&ask(&f.service, &f.shred(1, &f.owner, t - 2)).await);
    assert_eq!(reply.code, ErrorCode::RateLimited, "{}", reply.message);

    // The same for a reader's access request.
    let signed = access(f.file_ref(1), Scheme::Custodial, &[], &f.reader, |_| {});
    assert!(matches!(
        ask(&f.service, &signed.bytes()).await,
        KeyResponse::Key(_)
    ));
    for _ in 0..5 {
        assert_eq!(
            refused(&ask(&f.service, &signed.bytes()).await).code,
            ErrorCode::Replay
        );
    }
    assert_eq!(&release(&f, 1).await.unwrap(), key.as_bytes());
}

#[tokio::test]
async fn a_replayed_share_deposit_is_refused() {
    let f = Fixture::new();
    let split = f.shamir_file(4);
    let bytes = f.deposit(4, &split, 0, &f.owner);
    assert!(matches!(
        ask(&f.service, &bytes).await,
        KeyResponse::DepositAck(_)
    ));
    assert_eq!(
        refused(&ask(&f.service, &bytes).await).code,
        ErrorCode::Replay
    );
}

#[tokio::test]
async fn a_message_refused_for_a_transient_reason_can_be_sent_again() {
    let f = VaultFixture::new();
    let key = f.custodial_file(1);
    let deposit = f.key_deposit(1, &key, &f.owner, now());
    f.chain.state.lock().unwrap().fail = true;
    assert_eq!(
        refused(&ask(&f.service, &deposit).await).code,
        ErrorCode::ChainUnavailable
    );
    f.chain.state.lock().unwrap().fail = false;
    assert!(matches!(
        ask(&f.service, &deposit).await,
        KeyResponse::DepositAck(_)
    ));
    let shred = f.shred(1, &f.owner, now());
    f.chain.state.lock().unwrap().fail = true;
    assert_eq!(
        refused(&ask(&f.service, &shred).await).code,
        ErrorCode::ChainUnavailable
    );
    f.chain.state.lock().unwrap().fail = false;
    assert!(shred_held(&ask(&f.service, &shred).await));
}

#[tokio::test]
async fn a_store_change_whose_audit_line_fails_answers_the_truth() {
    let f = VaultFixture::new();
    let key = f.custodial_file(1);
    let t = now();
    deposit_ok(&f, 1, &key, t - 10).await;
    // The log is moved away under the running vault.
    let path = f.dir.path().join(zgvault_node::DEFAULT_AUDIT_LOG);
    std::fs::rename(&path, f.dir.path().join("moved.jsonl")).unwrap();
    // A new deposit is stored: the answer says so, and /health reports the audit failure.
    let other = f.custodial_file(2);
    deposit_ok(&f, 2, &other, t - 5).await;
    let health = f.service.health();
    assert_eq!(health.audit_ok, Some(false), "{health:?}");
    assert!(!health.ok);
    // Releases stay fail-closed.
    assert_eq!(release(&f, 2).await.unwrap_err().code, ErrorCode::Internal);
    // A shred is carried out and acknowledged as such.
    assert!(shred_held(
        &ask(&f.service, &f.shred(1, &f.owner, t - 4)).await
    ));
    assert!(
        f.service
            .vault()
            .unwrap()
            .store()
            .get(f.file_ref(1).file_id)
            .unwrap()
            .is_none()
    );
}
