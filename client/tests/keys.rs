//! Key recovery fan-out against real local HTTP key nodes (axum) that answer with real BLS
//! partials from a dealt key set, with refusals, with garbage, or never.
#![allow(clippy::unwrap_used)]

mod keys_common;

use std::time::Duration;

use keys_common::{Behave, Fixture, Nodes};
use zgvault_client::{
    Error,
    keys::{FailureKind, RecoverOptions, recover_key},
};
use zgvault_proto::{threshold::CulpritReason, wire::ErrorCode};

/// Guards against a hang; never the thing asserted.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn opts() -> RecoverOptions {
    RecoverOptions {
        per_node_timeout: Duration::from_secs(30),
        overall_timeout: Duration::from_secs(45),
        ..RecoverOptions::default()
    }
}

async fn recover(
    fx: &Fixture,
    nodes: &Nodes,
    opts: RecoverOptions,
) -> Result<zgvault_client::keys::Recovered, Error> {
    tokio::time::timeout(
        HANG_GUARD,
        recover_key(
            &nodes.key_nodes,
            &fx.request,
            &fx.response_key,
            fx.combiner(),
            opts,
        ),
    )
    .await
    .expect("recovery hung")
}

#[tokio::test]
async fn t_good_of_n_recovers_the_key() {
    let fx = Fixture::new(3, 5);
    let nodes = Nodes::start(&fx, vec![Behave::Good; 5]).await;
    let recovered = recover(&fx, &nodes, opts()).await.unwrap();
    assert!(recovered.key == fx.key, "recovered a different key");
    assert_eq!(recovered.used.len(), 3);
    assert!(recovered.failures.is_empty(), "{:?}", recovered.failures);
}

#[tokio::test]
async fn n_minus_t_down_or_garbage_still_recovers_and_names_them() {
    let fx = Fixture::new(3, 5);
    // Good nodes answer only once the bad ones have answered, so the bad answers are in
    // before the last good one and must be named.
    let behaviours = vec![
        Behave::Down,
        Behave::GoodAfterBad,
        Behave::Garbage,
        Behave::GoodAfterBad,
        Behave::GoodAfterBad,
    ];
    let nodes = Nodes::start(&fx, behaviours).await;
    let recovered = recover(&fx, &nodes, opts()).await.unwrap();
    assert!(recovered.key == fx.key);
    assert_eq!(recovered.used, vec![1, 3, 4]);
    let mut named: Vec<(u32, &FailureKind)> = recovered
        .failures
        .iter()
        .map(|f| (f.node_index, &f.kind))
        .collect();
    named.sort_by_key(|(i, _)| *i);
    assert_eq!(named.len(), 2, "{named:?}");
    assert!(
        matches!(named[0], (0, FailureKind::Unreachable { .. })),
        "{named:?}"
    );
    assert!(
        matches!(named[1], (2, FailureKind::Malformed { .. })),
        "{named:?}"
    );
}

#[tokio::test]
async fn t_minus_one_good_fails_and_names_every_culprit() {
    let fx = Fixture::new(3, 5);
    let behaviours = vec![
        Behave::Good,
        Behave::Refuse(ErrorCode::ChainUnavailable, "rpc down"),
        Behave::BadShare,
        Behave::Never,
        Behave::Good,
    ];
    let nodes = Nodes::start(&fx, behaviours).await;
    let short = RecoverOptions {
        per_node_timeout: Duration::from_millis(300),
        ..opts()
    };
    let err = recover(&fx, &nodes, short).await.unwrap_err();
    let text = err.to_string();
    let Error::NotEnoughKeyShares {
        good,
        needed,
        failures,
    } = err
    else {
        panic!("expected NotEnoughKeyShares, got {err:?}");
    };
    assert_eq!((good, needed), (2, 3));
    let mut kinds: Vec<(u32, FailureKind)> = failures
        .0
        .into_iter()
        .map(|f| (f.node_index, f.kind))
        .collect();
    kinds.sort_by_key(|(i, _)| *i);
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(
        matches!(&kinds[0], (1, FailureKind::Refused(r)) if r.code == ErrorCode::ChainUnavailable && r.message == "rpc down"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds[1],
        (2, FailureKind::BadShare(CulpritReason::InvalidShare))
    );
    assert!(
        matches!(kinds[2], (3, FailureKind::TimedOut { .. })),
        "{kinds:?}"
    );
    for needle in [
        "2 of the 3",
        "node 1 refused",
        "CHAIN_UNAVAILABLE",
        "rpc down",
        "node 2",
        "node 3",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}

#[tokio::test]
async fn all_access_denied_is_one_clear_error() {
    let fx = Fixture::new(3, 5);
    let deny = Behave::Refuse(ErrorCode::AccessDenied, "requester holds no access pass");
    let nodes = Nodes::start(&fx, vec![deny; 5]).await;
    let err = recover(&fx, &nodes, opts()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::KeyRequestRefused { code: ErrorCode::AccessDenied, asked: 5, nodes, messages }
            if nodes.len() == 5 && messages.len() == 1),
        "{err:?}"
    );
    assert_eq!(text.matches("ACCESS_DENIED").count(), 1, "{text}");
    assert_eq!(
        text.matches("requester holds no access pass").count(),
        1,
        "{text}"
    );
    assert!(text.contains("ask the owner for access"), "{text}");
}

#[tokio::test]
async fn a_slow_node_is_cancelled_once_enough_shares_are_in() {
    let fx = Fixture::new(3, 5);
    let behaviours = vec![
        Behave::Never,
        Behave::Good,
        Behave::Good,
        Behave::Never,
        Behave::Good,
    ];
    let mut nodes = Nodes::start(&fx, behaviours).await;
    // The slow nodes never answer and the timeouts are far away: recovery returning at all
    // proves nobody waited for them.
    let recovered = recover(&fx, &nodes, opts()).await.unwrap();
    assert!(recovered.key == fx.key);
    assert_eq!(recovered.used, vec![1, 2, 4]);
    assert!(recovered.failures.is_empty(), "{:?}", recovered.failures);
    // Their requests were cancelled: the servers see the handlers dropped.
    let mut cancelled = vec![
        nodes.cancelled.recv().await.unwrap(),
        nodes.cancelled.recv().await.unwrap(),
    ];
    cancelled.sort_unstable();
    assert_eq!(cancelled, vec![0, 3]);
}

#[tokio::test]
async fn wrong_node_index_and_unsealable_answers_are_culprits() {
    let fx = Fixture::new(2, 4);
    let behaviours = vec![
        Behave::Good,
        Behave::AnswerAs(3),
        Behave::Unsealable,
        Behave::Refuse(ErrorCode::RateLimited, "busy"),
    ];
    let nodes = Nodes::start(&fx, behaviours).await;
    let err = recover(&fx, &nodes, opts()).await.unwrap_err();
    let Error::NotEnoughKeyShares {
        good: 1, failures, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    let kind_of = |i: u32| {
        failures
            .0
            .iter()
            .find(|f| f.node_index == i)
            .map(|f| &f.kind)
    };
    assert!(
        matches!(kind_of(1), Some(FailureKind::Malformed { message }) if message.contains("node 3"))
    );
    assert_eq!(kind_of(2), Some(&FailureKind::Unsealable));
    assert!(matches!(kind_of(3), Some(FailureKind::Refused(_))));
}

#[tokio::test]
async fn no_nodes_is_an_error() {
    let fx = Fixture::new(1, 1);
    let err = recover_key(&[], &fx.request, &fx.response_key, fx.combiner(), opts())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyNodeCount { count: 0, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn node_info_is_read_and_checked() {
    let peer = libp2p::PeerId::random();
    let good = serde_json::json!({
        "node_index": 2,
        "encryption_key": format!("0x{}", "ab".repeat(32)),
        "operator": null,
        "peer_id": peer.to_string(),
        "http_addr": "127.0.0.1:7000",
        "listen_addrs": [format!("/ip4/127.0.0.1/tcp/7100/p2p/{peer}")],
        "chain_id": 31337,
        "file_registry": format!("0x{}", "11".repeat(20)),
        "version": "0.1.0",
    });
    let mut bad = good.clone();
    bad["peer_id"] = "not-a-peer".into();
    let url = keys_common::serve_json(good).await;
    let info = zgvault_client::keys::fetch_node_info(&url).await.unwrap();
    assert_eq!(info.index, Some(2));
    assert_eq!(info.enc_key, [0xab; 32]);
    assert_eq!(info.chain_id, 31337);
    let node = info.key_node(&url).unwrap();
    assert_eq!(node.endpoint.p2p.as_ref().map(|(p, _)| *p), Some(peer));

    let url = keys_common::serve_json(bad).await;
    let err = zgvault_client::keys::fetch_node_info(&url)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::KeyNodeMalformed { message, .. } if message.contains("peer id")),
        "{err:?}"
    );
}
