//! `KeyService::handle` against a test double of the chain: every answer and every refusal.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::atomic::Ordering;

use common::{CHAIN_ID, Fixture, HEAD, access, now, registry};
use proptest::prelude::*;
use zgvault_node::Origin;
use zgvault_proto::{
    request::{FileRef, Scheme, SignedAccessRequest, address_of},
    threshold::BLS_PARTIAL_LEN,
    wire::{ErrorCode, KeyResponse, MAX_MESSAGE_BYTES, decode_response},
};

fn origin() -> Origin {
    Origin {
        transport: "p2p",
        id: "12D3KooWtest".into(),
    }
}

async fn ask(fixture: &Fixture, bytes: &[u8]) -> KeyResponse {
    decode_response(&fixture.service.handle(origin(), bytes).await).unwrap()
}

#[track_caller]
fn refused(response: &KeyResponse) -> (ErrorCode, String) {
    match response {
        KeyResponse::Error(reply) => (reply.code, reply.message.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn authorized_request_gets_a_partial_the_client_verifies() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    let KeyResponse::Partial(sealed) = ask(&f, &signed.bytes()).await else {
        panic!("expected a partial");
    };
    assert_eq!(sealed.node_index, 0);
    let partial = sealed
        .open(&signed.response_key, &signed.request.hash())
        .unwrap();
    assert_eq!(partial.len(), BLS_PARTIAL_LEN);
    let mut combiner = f.key_set.combiner(&f.file_ref(1), &capsule, 3);
    combiner.add(sealed.node_index, &partial).unwrap();
    // The same partial for another file's capsule does not verify.
    let other = f.bls_file(2);
    let mut wrong = f.key_set.combiner(&f.file_ref(2), &other, 3);
    assert!(wrong.add(0, &partial).is_err());
}

#[tokio::test]
async fn fail_bad_signature() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    let mut bytes = signed.bytes();
    // Replace r and s with values no key produces.
    let sig = *signed.request.signature().as_bytes();
    let at = bytes.windows(sig.len()).position(|w| w == sig).unwrap();
    bytes[at..at + 64].fill(0);
    let (code, _) = refused(&ask(&f, &bytes).await);
    assert_eq!(code, ErrorCode::BadSignature);
}

#[tokio::test]
async fn fail_fields_changed_after_signing_recover_someone_else() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    let mut fields = signed.request.request().clone();
    fields.nonce = alloy_primitives::B256::repeat_byte(9);
    let forged =
        SignedAccessRequest::from_parts(fields, *signed.request.signature(), capsule.to_bytes());
    let bytes =
        zgvault_proto::wire::encode_request(&zgvault_proto::wire::KeyRequest::Access(forged));
    let (code, message) = refused(&ask(&f, &bytes).await);
    assert_eq!(code, ErrorCode::AccessDenied, "{message}");
}

#[tokio::test]
async fn fail_expired_and_future_dated() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let expired = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |r| {
            r.issued_at = now() - 1_000;
            r.expires_at = r.issued_at + 120;
        },
    );
    assert_eq!(
        refused(&ask(&f, &expired.bytes()).await).0,
        ErrorCode::Expired
    );
    let future = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |r| {
            r.issued_at = now() + 600;
            r.expires_at = r.issued_at + 120;
        },
    );
    assert_eq!(
        refused(&ask(&f, &future.bytes()).await).0,
        ErrorCode::Expired
    );
}

#[tokio::test]
async fn fail_replayed() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    assert!(matches!(
        ask(&f, &signed.bytes()).await,
        KeyResponse::Partial(_)
    ));
    let (code, message) = refused(&ask(&f, &signed.bytes()).await);
    assert_eq!(code, ErrorCode::Replay);
    assert!(message.contains("new request"), "{message}");
}

#[tokio::test]
async fn fail_stale_and_unconfirmed_blocks() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let stale = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |r| {
            r.at_block = HEAD - 257;
        },
    );
    assert_eq!(
        refused(&ask(&f, &stale.bytes()).await).0,
        ErrorCode::StaleBlock
    );
    let edge = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |r| {
            r.at_block = HEAD - 256;
        },
    );
    assert!(matches!(
        ask(&f, &edge.bytes()).await,
        KeyResponse::Partial(_)
    ));
    let future = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |r| {
            r.at_block = HEAD + 1;
        },
    );
    let response = ask(&f, &future.bytes()).await;
    assert_eq!(refused(&response).0, ErrorCode::NotConfirmed);
    // Not confirmed is transient: once the chain moves on, the same request is answered.
    f.chain.state.lock().unwrap().head = HEAD + 1;
    assert!(matches!(
        ask(&f, &future.bytes()).await,
        KeyResponse::Partial(_)
    ));
}

#[tokio::test]
async fn fail_not_deep_enough() {
    let f = Fixture::with_config(|c| c.chain.confirmations = 3);
    let capsule = f.bls_file(1);
    let shallow = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |r| {
            r.at_block = HEAD - 2;
        },
    );
    assert_eq!(
        refused(&ask(&f, &shallow.bytes()).await).0,
        ErrorCode::NotConfirmed
    );
    let deep = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |r| {
            r.at_block = HEAD - 3;
        },
    );
    assert!(matches!(
        ask(&f, &deep.bytes()).await,
        KeyResponse::Partial(_)
    ));
}

#[tokio::test]
async fn fail_capsule_mismatch() {
    let f = Fixture::new();
    f.bls_file(1);
    // A well-formed capsule, but not the one registered for file 1.
    let swapped = f
        .key_set
        .encrypt_file_key(&f.file_ref(1), &zgvault_proto::FileKey::generate().unwrap())
        .unwrap();
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &swapped.to_bytes(),
        &f.reader,
        |_| {},
    );
    let (code, message) = refused(&ask(&f, &signed.bytes()).await);
    assert_eq!(code, ErrorCode::CapsuleMismatch);
    assert!(message.contains("capsuleOf"), "{message}");
}

#[tokio::test]
async fn fail_denied_with_the_reason() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.stranger,
        |_| {},
    );
    let (code, message) = refused(&ask(&f, &signed.bytes()).await);
    assert_eq!(code, ErrorCode::AccessDenied);
    assert!(message.contains("AccessPass"), "{message}");
    assert!(message.contains("reason 8"), "{message}");
    assert!(
        message.contains(&address_of(&f.stranger).to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn fail_unknown_file_wrong_scheme_wrong_domain() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let unknown = access(
        f.file_ref(7),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    assert_eq!(
        refused(&ask(&f, &unknown.bytes()).await).0,
        ErrorCode::UnknownFile
    );

    f.shamir_file(2);
    let wrong_scheme = access(
        f.file_ref(2),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    assert_eq!(
        refused(&ask(&f, &wrong_scheme.bytes()).await).0,
        ErrorCode::WrongScheme
    );

    let other_chain = FileRef {
        chain_id: CHAIN_ID + 1,
        registry: registry(),
        file_id: f.file_ref(1).file_id,
    };
    let wrong_domain = access(
        other_chain,
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    assert_eq!(
        refused(&ask(&f, &wrong_domain.bytes()).await).0,
        ErrorCode::WrongDomain
    );
}

#[tokio::test]
async fn fail_closed_when_the_chain_is_down_then_retry_works() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    f.chain.state.lock().unwrap().fail = true;
    let response = ask(&f, &signed.bytes()).await;
    let KeyResponse::Error(reply) = &response else {
        panic!("released with the chain down: {response:?}");
    };
    assert_eq!(reply.code, ErrorCode::ChainUnavailable);
    assert!(reply.retry_after_secs > 0);
    assert!(
        f.service
            .metrics_text()
            .contains("zgvault_node_chain_errors_total")
    );
    // Nothing was released, so the same signed request may be retried.
    f.chain.state.lock().unwrap().fail = false;
    assert!(matches!(
        ask(&f, &signed.bytes()).await,
        KeyResponse::Partial(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn fail_closed_when_the_chain_hangs() {
    let f = Fixture::new();
    let capsule = f.bls_file(1);
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    f.chain.state.lock().unwrap().hang = true;
    let (code, _) = refused(&ask(&f, &signed.bytes()).await);
    assert_eq!(code, ErrorCode::ChainUnavailable);
}

#[tokio::test]
async fn oversized_and_garbage_bytes_are_refused() {
    let f = Fixture::new();
    let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert_eq!(refused(&ask(&f, &big).await).0, ErrorCode::TooLarge);
    assert_eq!(
        refused(&ask(&f, b"\xff\xff\xff garbage").await).0,
        ErrorCode::Malformed
    );
    // Empty bytes decode as an envelope with version 0.
    assert_eq!(
        refused(&ask(&f, b"").await).0,
        ErrorCode::UnsupportedVersion
    );
    assert_eq!(
        f.chain.calls.load(Ordering::SeqCst),
        0,
        "no chain work for junk"
    );
}

#[tokio::test]
async fn shamir_deposit_then_release() {
    let f = Fixture::new();
    let split = f.shamir_file(3);
    let ack = ask(&f, &f.deposit(3, &split, 0, &f.owner)).await;
    let KeyResponse::DepositAck(ack) = ack else {
        panic!("expected an ack, got {ack:?}");
    };
    assert_eq!(ack.node_index, 0);
    let signed = access(f.file_ref(3), Scheme::Shamir, &[], &f.reader, |_| {});
    let KeyResponse::Share(sealed) = ask(&f, &signed.bytes()).await else {
        panic!("expected a share");
    };
    let share = sealed
        .open(&signed.response_key, &signed.request.hash())
        .unwrap();
    let mut combiner = split.commitments.combiner(3);
    combiner.add(sealed.node_index, &share).unwrap();
    // A stranger gets nothing.
    let denied = access(f.file_ref(3), Scheme::Shamir, &[], &f.stranger, |_| {});
    assert_eq!(
        refused(&ask(&f, &denied.bytes()).await).0,
        ErrorCode::AccessDenied
    );
}

#[tokio::test]
async fn fail_bad_deposits() {
    let f = Fixture::new();
    let split = f.shamir_file(3);
    let (code, _) = refused(&ask(&f, &f.deposit(3, &split, 0, &f.stranger)).await);
    assert_eq!(code, ErrorCode::NotOwner);
    let (code, _) = refused(&ask(&f, &f.deposit(3, &split, 1, &f.owner)).await);
    assert_eq!(code, ErrorCode::WrongDomain, "share 1 belongs to node 1");
    let (code, _) = refused(&ask(&f, &f.deposit(4, &split, 0, &f.owner)).await);
    assert_eq!(code, ErrorCode::UnknownFile);
    f.bls_file(5);
    let (code, _) = refused(&ask(&f, &f.deposit(5, &split, 0, &f.owner)).await);
    assert_eq!(code, ErrorCode::WrongScheme);
    // No deposit stored: a Shamir request finds nothing.
    let signed = access(f.file_ref(3), Scheme::Shamir, &[], &f.reader, |_| {});
    assert_eq!(
        refused(&ask(&f, &signed.bytes()).await).0,
        ErrorCode::UnknownFile
    );
}

#[tokio::test(start_paused = true)]
async fn concurrency_cap_refuses_instead_of_queueing() {
    let f = Fixture::with_config(|c| c.limits.max_concurrent_requests = 1);
    let capsule = f.bls_file(1);
    f.chain.state.lock().unwrap().hang = true;
    let first = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    let service = f.service.clone();
    let bytes = first.bytes();
    let entered = f.chain.entered.notified();
    let pending = tokio::spawn(async move { service.handle(origin(), &bytes).await });
    entered.await;
    let second = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    let (code, _) = refused(&ask(&f, &second.bytes()).await);
    assert_eq!(code, ErrorCode::RateLimited);
    let first = decode_response(&pending.await.unwrap()).unwrap();
    assert_eq!(refused(&first).0, ErrorCode::ChainUnavailable);
}

#[tokio::test]
async fn per_origin_rate_limit() {
    let f = Fixture::with_config(|c| {
        c.limits.rate_per_sec = 1;
        c.limits.rate_burst = 2;
    });
    for _ in 0..2 {
        assert_eq!(refused(&ask(&f, b"x").await).0, ErrorCode::Malformed);
    }
    let (code, _) = refused(&ask(&f, b"x").await);
    assert_eq!(code, ErrorCode::RateLimited);
    let other = Origin {
        transport: "http",
        id: "10.0.0.9".into(),
    };
    let answer = decode_response(&f.service.handle(other, b"x").await).unwrap();
    assert_eq!(
        refused(&answer).0,
        ErrorCode::Malformed,
        "other origins unaffected"
    );
}

#[tokio::test]
async fn full_replay_cache_refuses_new_requests() {
    let f = Fixture::with_config(|c| c.limits.replay_cache_size = 1);
    let capsule = f.bls_file(1);
    let a = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    let b = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    assert!(matches!(ask(&f, &a.bytes()).await, KeyResponse::Partial(_)));
    assert_eq!(
        refused(&ask(&f, &b.bytes()).await).0,
        ErrorCode::RateLimited
    );
    assert!(
        f.service
            .metrics_text()
            .contains("zgvault_node_replay_cache_entries 1")
    );
}

#[test]
fn fail_configured_index_differs_from_stored_share() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::default_config(dir.path());
    config.node_index = Some(2);
    let keys = zgvault_node::NodeKeys::load_or_create(dir.path()).unwrap();
    let store = zgvault_node::ShareStore::open(dir.path(), &keys.store).unwrap();
    let (_set, shares) = zgvault_proto::threshold::deal_bls_key_set(2, 3).unwrap();
    store.put_bls_share(&shares[0]).unwrap();
    let err =
        zgvault_node::KeyService::new(&config, keys, store, common::FakeChain::new()).unwrap_err();
    assert!(
        matches!(err, zgvault_node::Error::ConfigValue { .. }),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_get_an_error_reply(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let f = FIXTURE.with(|f| f.service.clone());
        let answer = runtime.block_on(f.handle(origin(), &bytes));
        let response = decode_response(&answer).unwrap();
        prop_assert!(matches!(response, KeyResponse::Error(_)), "{response:?}");
    }
}

thread_local! {
    // One node for all cases: building a store per case would dominate the run time. Its
    // rate limit is raised so that the cases are not refused for volume.
    static FIXTURE: Fixture = Fixture::with_config(|c| {
        c.limits.rate_per_sec = 1_000_000;
        c.limits.rate_burst = 1_000_000;
    });
}
