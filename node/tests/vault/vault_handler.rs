//! The custodial vault's request handling against a test double of the chain: deposit,
//! release, shred, every refusal, the audit line of each decision, tampered and mismatched
//! records, restarts, per-requester rate limits, and the two modes refusing each other's
//! messages. The real chain and the real HSM are in `vault_binary.rs`.
#![allow(clippy::unwrap_used)]

use crate::common;

use alloy_primitives::Address;
use common::{Fixture, VaultFixture, access, ask, now, refused};
use redb::{Database, ReadableTable, TableDefinition};
use zgvault_node::custody::VAULT_STORE_FILE;
use zgvault_proto::{
    FileKey,
    request::{Scheme, address_of},
    sealbox::BoxSecretKey,
    wire::{ErrorCode, ErrorReply, KeyRequest, KeyResponse, encode_request},
};

/// Asks for file `id` as `wallet` and returns the released K, or the refusal.
async fn release(
    f: &VaultFixture,
    id: u8,
    wallet: &k256::ecdsa::SigningKey,
) -> Result<[u8; 32], ErrorReply> {
    let signed = access(f.file_ref(id), Scheme::Custodial, &[], wallet, |_| {});
    match ask(&f.service, &signed.bytes()).await {
        KeyResponse::Key(sealed) => {
            assert_eq!(sealed.node_index, 0);
            let key = sealed
                .open(&signed.response_key, &signed.request.hash())
                .unwrap();
            Ok(<[u8; 32]>::try_from(key.as_slice()).unwrap())
        }
        KeyResponse::Error(reply) => Err(reply),
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Lines of the audit log file `path`, verified (chain and every MAC) with the KEKs of the
/// fixture's configuration.
async fn verified_lines(f: &VaultFixture, path: std::path::PathBuf) -> usize {
    zgvault_node::vault_audit_verify(&f.config, Some(path))
        .await
        .unwrap()
        .summary
        .lines
}

async fn deposit_ok(f: &VaultFixture, id: u8, key: &FileKey, issued_at: u64) {
    let answer = ask(&f.service, &f.key_deposit(id, key, &f.owner, issued_at)).await;
    let KeyResponse::DepositAck(ack) = answer else {
        panic!("expected a deposit ack, got {answer:?}");
    };
    assert_eq!(ack.node_index, 0);
    assert_eq!(ack.file_id, f.file_ref(id).file_id);
}

#[tokio::test]
async fn deposit_then_release_to_a_reader_and_every_decision_is_audited() {
    let f = VaultFixture::new();
    let info = f.service.info();
    assert_eq!(info.mode, zgvault_node::NodeMode::Custodial);
    let key = f.custodial_file(1);
    deposit_ok(&f, 1, &key, now()).await;

    let released = release(&f, 1, &f.reader).await.unwrap();
    assert_eq!(&released, key.as_bytes());
    let denied = release(&f, 1, &f.stranger).await.unwrap_err();
    assert_eq!(denied.code, ErrorCode::AccessDenied);
    // A request that never yields a signer (garbage) is not audited.
    assert_eq!(
        refused(&ask(&f.service, b"junk").await).code,
        ErrorCode::Malformed
    );

    let lines = f.audit_lines();
    let summary: Vec<(String, String, Option<String>, Address)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_owned(),
                l["decision"].as_str().unwrap().to_owned(),
                l["code"].as_str().map(str::to_owned),
                l["requester"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "deposit".into(),
                "allowed".into(),
                None,
                address_of(&f.owner)
            ),
            (
                "release".into(),
                "allowed".into(),
                None,
                address_of(&f.reader)
            ),
            (
                "release".into(),
                "refused".into(),
                Some("ACCESS_DENIED".into()),
                address_of(&f.stranger)
            ),
        ]
    );
    let path = f.dir.path().join(zgvault_node::DEFAULT_AUDIT_LOG);
    assert_eq!(verified_lines(&f, path.clone()).await, 3);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(&hex::encode(key.as_bytes())),
        "K must never be logged"
    );
    let metrics = f.service.metrics_text();
    assert!(
        metrics.contains("zgvault_node_vault_records{kek=\"file:"),
        "{metrics}"
    );
    assert!(metrics.contains("zgvault_node_audit_lines 3"), "{metrics}");
    assert!(
        metrics.contains("zgvault_node_requests_total{outcome=\"key\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn fail_bad_deposits_each_with_its_code() {
    let f = VaultFixture::new();
    let key = f.custodial_file(1);
    let deposit = |id, key: &FileKey, signer| f.key_deposit(id, key, signer, now());

    let reply = refused(&ask(&f.service, &deposit(1, &key, &f.stranger)).await);
    assert_eq!(reply.code, ErrorCode::NotOwner, "{}", reply.message);

    let wrong = FileKey::generate().unwrap();
    let reply = refused(&ask(&f.service, &deposit(1, &wrong, &f.owner)).await);
    assert_eq!(reply.code, ErrorCode::CapsuleMismatch, "{}", reply.message);

    let other_vault = BoxSecretKey::generate().unwrap().public_key();
    let elsewhere = FileKey::generate().unwrap();
    f.custodial_file_for(2, &elsewhere, other_vault);
    let reply = refused(&ask(&f.service, &deposit(2, &elsewhere, &f.owner)).await);
    assert_eq!(reply.code, ErrorCode::WrongDomain, "{}", reply.message);
    assert!(
        reply.message.contains("names vault key"),
        "{}",
        reply.message
    );

    let reply = refused(&ask(&f.service, &deposit(9, &key, &f.owner)).await);
    assert_eq!(reply.code, ErrorCode::UnknownFile);

    let threshold = Fixture::new();
    threshold.bls_file(3);
    let bls = *threshold
        .chain
        .state
        .lock()
        .unwrap()
        .files
        .values()
        .next()
        .unwrap();
    f.chain
        .state
        .lock()
        .unwrap()
        .files
        .insert(f.file_ref(3).file_id, bls);
    let reply = refused(&ask(&f.service, &deposit(3, &key, &f.owner)).await);
    assert_eq!(reply.code, ErrorCode::WrongScheme);

    // Nothing stored: the reader gets nothing.
    assert_eq!(
        release(&f, 1, &f.reader).await.unwrap_err().code,
        ErrorCode::UnknownFile
    );
    // Every refusal of a known signer is audited with its code.
    let codes: Vec<String> = f
        .audit_lines()
        .iter()
        .filter_map(|l| l["code"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        codes,
        [
            "NOT_OWNER",
            "CAPSULE_MISMATCH",
            "WRONG_DOMAIN",
            "UNKNOWN_FILE",
            "WRONG_SCHEME",
            "UNKNOWN_FILE"
        ]
    );
}

#[tokio::test]
async fn shred_deletes_refuses_older_deposits_and_accepts_newer_ones() {
    let f = VaultFixture::new();
    let key = f.custodial_file(1);
    let t = now();
    let old_deposit = f.key_deposit(1, &key, &f.owner, t - 20);
    assert!(matches!(
        ask(&f.service, &old_deposit).await,
        KeyResponse::DepositAck(_)
    ));

    // Only the owner may shred.
    let reply = refused(&ask(&f.service, &f.shred(1, &f.stranger, t - 10)).await);
    assert_eq!(reply.code, ErrorCode::NotOwner);

    let KeyResponse::ShredAck(ack) = ask(&f.service, &f.shred(1, &f.owner, t - 10)).await else {
        panic!("expected a shred ack");
    };
    assert!(ack.held);
    assert_eq!(
        release(&f, 1, &f.reader).await.unwrap_err().code,
        ErrorCode::Shredded
    );
    // The captured old deposit cannot restore K: a replay, and signed anew at its time, too
    // old.
    let reply = refused(&ask(&f.service, &old_deposit).await);
    assert_eq!(reply.code, ErrorCode::Replay, "{}", reply.message);
    let reply = refused(&ask(&f.service, &f.key_deposit(1, &key, &f.owner, t - 20)).await);
    assert_eq!(reply.code, ErrorCode::Shredded, "{}", reply.message);
    // An older shred replayed is a no-op; the tombstone stays.
    let KeyResponse::ShredAck(ack) = ask(&f.service, &f.shred(1, &f.owner, t - 15)).await else {
        panic!("expected a shred ack");
    };
    assert!(!ack.held);
    assert_eq!(
        refused(&ask(&f.service, &f.key_deposit(1, &key, &f.owner, t - 10)).await).code,
        ErrorCode::Shredded,
        "issued at the shred time: refused"
    );
    // A newer deposit re-protects the file.
    deposit_ok(&f, 1, &key, t - 5).await;
    assert_eq!(&release(&f, 1, &f.reader).await.unwrap(), key.as_bytes());
    let actions: Vec<(String, String)> = f
        .audit_lines()
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_owned(),
                l["code"].as_str().unwrap_or("OK").to_owned(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("shred".into(), "OK".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("shred".into(), "NOT_OWNER".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("deposit".into(), "SHREDDED".into())),
        "{actions:?}"
    );
}

const KEYS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("vault_keys");

#[tokio::test]
async fn fail_tampered_record_releases_nothing_and_is_audited() {
    let f = VaultFixture::new();
    let key = f.custodial_file(1);
    deposit_ok(&f, 1, &key, now()).await;
    let file_id = f.file_ref(1).file_id;
    let f = f.restart_with(|config| {
        let db = Database::create(config.data_dir.join(VAULT_STORE_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(KEYS).unwrap();
            let mut value = table
                .get(file_id.as_slice())
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            let last = value.len() - 1;
            value[last] ^= 1;
            table.insert(file_id.as_slice(), value.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    });
    let reply = release(&f, 1, &f.reader).await.unwrap_err();
    assert_eq!(reply.code, ErrorCode::Internal, "{}", reply.message);
    let last = f.audit_lines().pop().unwrap();
    assert_eq!(last["action"], "release");
    assert_eq!(last["decision"], "refused");
    assert_eq!(last["code"], "INTERNAL");
}

#[tokio::test]
async fn fail_stored_key_not_matching_the_registered_capsule_releases_nothing() {
    let f = VaultFixture::new();
    let key = f.custodial_file(1);
    deposit_ok(&f, 1, &key, now()).await;
    // Another K stored for the file behind the vault's back (a wrong backup restored).
    let file_id = f.file_ref(1).file_id;
    let owner = address_of(&f.owner);
    let f = f.restart_with(|config| {
        let vault = zgvault_node::Vault::open(config).unwrap();
        vault
            .store()
            .put(file_id, &FileKey::generate().unwrap(), owner)
            .unwrap();
    });
    let reply = release(&f, 1, &f.reader).await.unwrap_err();
    assert_eq!(reply.code, ErrorCode::Internal, "{}", reply.message);
    assert!(
        reply.message.contains("does not match"),
        "{}",
        reply.message
    );
}

#[tokio::test]
async fn restart_keeps_every_key() {
    let f = VaultFixture::new();
    let keys: Vec<FileKey> = (1..=5).map(|id| f.custodial_file(id)).collect();
    for (id, key) in (1..=5).zip(&keys) {
        deposit_ok(&f, id, key, now()).await;
    }
    let f = f.restart_with(|_| {});
    for (id, key) in (1..=5).zip(&keys) {
        assert_eq!(&release(&f, id, &f.reader).await.unwrap(), key.as_bytes());
    }
    // The audit log continued across the restart.
    let path = f.dir.path().join(zgvault_node::DEFAULT_AUDIT_LOG);
    assert_eq!(verified_lines(&f, path).await, 10);
}

#[tokio::test]
async fn per_requester_rate_limit_holds_and_other_signers_are_served() {
    let f = VaultFixture::with_config(|c| {
        c.limits.requester_burst = 3;
        c.limits.requester_rate_per_min = 1;
    });
    let key = f.custodial_file(1);
    deposit_ok(&f, 1, &key, now()).await;
    for _ in 0..3 {
        assert_eq!(&release(&f, 1, &f.reader).await.unwrap(), key.as_bytes());
    }
    let calls = f.chain.calls.load(std::sync::atomic::Ordering::SeqCst);
    let reply = release(&f, 1, &f.reader).await.unwrap_err();
    assert_eq!(reply.code, ErrorCode::RateLimited, "{}", reply.message);
    assert!(reply.retry_after_secs >= 1 && reply.retry_after_secs <= 60);
    assert_eq!(
        f.chain.calls.load(std::sync::atomic::Ordering::SeqCst),
        calls,
        "refused before any chain call"
    );
    // Another address is still served.
    f.chain
        .state
        .lock()
        .unwrap()
        .allowed
        .insert((f.file_ref(1).file_id, address_of(&f.owner)));
    assert_eq!(&release(&f, 1, &f.owner).await.unwrap(), key.as_bytes());
    let last_refusal = f
        .audit_lines()
        .into_iter()
        .rev()
        .find(|l| l["decision"] == "refused")
        .unwrap();
    assert_eq!(last_refusal["code"], "RATE_LIMITED");
    assert_eq!(
        last_refusal["requester"]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        address_of(&f.reader)
    );
}

#[tokio::test]
async fn threshold_nodes_and_the_vault_refuse_each_others_messages() {
    // A threshold node: custodial access and key deposits are for the vault.
    let node = Fixture::new();
    let v = VaultFixture::new();
    let key = v.custodial_file(1);
    let custodial_access = access(
        node.file_ref(1),
        Scheme::Custodial,
        &[],
        &node.reader,
        |_| {},
    );
    let reply = refused(&ask(&node.service, &custodial_access.bytes()).await);
    assert_eq!(reply.code, ErrorCode::WrongScheme);
    assert!(reply.message.contains("use the vault"), "{}", reply.message);
    let reply = refused(&ask(&node.service, &v.key_deposit(1, &key, &v.owner, now())).await);
    assert_eq!(reply.code, ErrorCode::WrongScheme);

    // The vault: BLS/Shamir access and share deposits are for the share-holders.
    let capsule = node.bls_file(2);
    let bls = access(
        node.file_ref(2),
        Scheme::Bls,
        &capsule.to_bytes(),
        &node.reader,
        |_| {},
    );
    let reply = refused(&ask(&v.service, &bls.bytes()).await);
    assert_eq!(reply.code, ErrorCode::WrongScheme);
    assert!(
        reply.message.contains("custodial vault"),
        "{}",
        reply.message
    );
    let shamir = access(node.file_ref(3), Scheme::Shamir, &[], &node.reader, |_| {});
    assert_eq!(
        refused(&ask(&v.service, &shamir.bytes()).await).code,
        ErrorCode::WrongScheme
    );
    let split = node.shamir_file(4);
    let share_deposit = node.deposit(4, &split, 0, &node.owner);
    assert_eq!(
        refused(&ask(&v.service, &share_deposit).await).code,
        ErrorCode::WrongScheme
    );
}

#[tokio::test]
async fn threshold_shred_deletes_the_share_and_refuses_older_deposits() {
    let f = Fixture::new();
    let split = f.shamir_file(3);
    let t = now();
    let old = f.deposit(3, &split, 0, &f.owner);
    assert!(matches!(
        ask(&f.service, &old).await,
        KeyResponse::DepositAck(_)
    ));
    let shred = zgvault_proto::request::Shred {
        file: f.file_ref(3),
        holder: zgvault_proto::sealbox::BoxPublicKey::from_bytes(f.service.info().encryption_key.0),
        issued_at: t + 1,
    }
    .sign(&f.owner)
    .unwrap();
    let bytes = encode_request(&KeyRequest::Shred(shred));
    let KeyResponse::ShredAck(ack) = ask(&f.service, &bytes).await else {
        panic!("expected a shred ack");
    };
    assert!(ack.held);
    assert_eq!(ack.file_id, f.file_ref(3).file_id);
    let signed = access(f.file_ref(3), Scheme::Shamir, &[], &f.reader, |_| {});
    assert_eq!(
        refused(&ask(&f.service, &signed.bytes()).await).code,
        ErrorCode::Shredded
    );
    assert_eq!(
        refused(&ask(&f.service, &old).await).code,
        ErrorCode::Replay,
        "the captured deposit is a replay"
    );
    let again = f.deposit(3, &split, 0, &f.owner);
    assert_eq!(
        refused(&ask(&f.service, &again).await).code,
        ErrorCode::Shredded,
        "a deposit signed before the shred cannot restore the share"
    );
    // Replaying the same shred: refused as a replay; an older one: nothing held any more.
    assert_eq!(
        refused(&ask(&f.service, &bytes).await).code,
        ErrorCode::Replay
    );
    let older = zgvault_proto::request::Shred {
        file: f.file_ref(3),
        holder: zgvault_proto::sealbox::BoxPublicKey::from_bytes(f.service.info().encryption_key.0),
        issued_at: t,
    }
    .sign(&f.owner)
    .unwrap();
    let KeyResponse::ShredAck(ack) =
        ask(&f.service, &encode_request(&KeyRequest::Shred(older))).await
    else {
        panic!("expected a shred ack");
    };
    assert!(!ack.held);
    // A deposit signed after the shred re-protects the file.
    let newer = zgvault_proto::request::ShareDeposit::new(
        f.file_ref(3),
        &split.shares[0],
        &f.node_key(),
        split.commitments.clone(),
        t + 2,
    )
    .unwrap()
    .sign(&f.owner)
    .unwrap();
    let newer = encode_request(&KeyRequest::Deposit(newer));
    assert!(matches!(
        ask(&f.service, &newer).await,
        KeyResponse::DepositAck(_)
    ));
    let signed = access(f.file_ref(3), Scheme::Shamir, &[], &f.reader, |_| {});
    assert!(matches!(
        ask(&f.service, &signed.bytes()).await,
        KeyResponse::Share(_)
    ));
}

#[tokio::test]
async fn fail_closed_when_the_audit_log_cannot_be_written() {
    let f = VaultFixture::new();
    let key = f.custodial_file(1);
    deposit_ok(&f, 1, &key, now()).await;
    assert_eq!(f.service.health().audit_ok, Some(true));
    // The log is removed under the running vault: a release must not go unrecorded.
    let path = f.dir.path().join(zgvault_node::DEFAULT_AUDIT_LOG);
    std::fs::rename(&path, f.dir.path().join("moved.jsonl")).unwrap();
    let reply = release(&f, 1, &f.reader).await.unwrap_err();
    assert_eq!(reply.code, ErrorCode::Internal, "{}", reply.message);
    assert!(reply.message.contains("audit log"), "{}", reply.message);
    let health = f.service.health();
    assert_eq!(health.audit_ok, Some(false));
    assert!(!health.ok, "{health:?}");
    // Nothing was appended anywhere.
    assert_eq!(
        verified_lines(&f, f.dir.path().join("moved.jsonl")).await,
        1
    );
    assert!(!path.exists());
}

#[tokio::test]
async fn fail_start_without_the_kek_that_sealed_the_keys() {
    let f = VaultFixture::new();
    let key = f.custodial_file(1);
    deposit_ok(&f, 1, &key, now()).await;
    let VaultFixture {
        dir,
        service,
        config,
        ..
    } = f;
    drop(service);

    // Another, existing key file as the only KEK: the records' KEK is not configured.
    let other = dir.path().join("other.json");
    zgvault_node::custody::FileKek::open_or_create(&other, b"vault test passphrase").unwrap();
    let mut wrong = config.clone();
    wrong.vault = zgvault_node::VaultConfig::new(zgvault_node::KekConfig::file(
        "other.json",
        Some("kek.pass".into()),
    ));
    let err = zgvault_node::Vault::open(&wrong).unwrap_err().to_string();
    assert!(err.contains("which is not configured"), "{err}");
    assert!(err.contains("[[vault.previous]]"), "{err}");

    // The key file lost: refused, and no new key file is made in its place.
    std::fs::remove_file(dir.path().join("kek.json")).unwrap();
    let err = zgvault_node::Vault::open(&config).unwrap_err().to_string();
    assert!(err.contains("is missing"), "{err}");
    assert!(!dir.path().join("kek.json").exists());
}
