//! Key recovery over libp2p (`/zgvault/keys/1`) against in-process swarms on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod keys_common;

use std::time::Duration;

use keys_common::{Behave, Fixture, start_p2p_node};
use zgvault_client::{
    Error,
    keys::{FailureKind, KeyNode, RecoverOptions, Transport, recover_key},
};
use zgvault_proto::wire::ErrorCode;

const HANG_GUARD: Duration = Duration::from_secs(60);

fn p2p_opts() -> RecoverOptions {
    RecoverOptions {
        per_node_timeout: Duration::from_secs(20),
        overall_timeout: Duration::from_secs(30),
        prefer: Transport::P2p,
    }
}

async fn p2p_nodes(fx: &Fixture, behaviours: Vec<Behave>) -> Vec<KeyNode> {
    let mut nodes = Vec::new();
    for (i, behave) in behaviours.into_iter().enumerate() {
        let index = u32::try_from(i).unwrap();
        let (peer, addr) = start_p2p_node(fx, index, behave).await;
        nodes.push(KeyNode {
            index,
            endpoint: zgvault_client::keys::Endpoint {
                http: None,
                p2p: Some((peer, addr)),
            },
            enc_key: [0; 32],
        });
    }
    nodes
}

#[tokio::test]
async fn recovers_over_libp2p() {
    let fx = Fixture::new(3, 4);
    let nodes = p2p_nodes(&fx, vec![Behave::Good; 4]).await;
    let recovered = tokio::time::timeout(
        HANG_GUARD,
        recover_key(
            &nodes,
            &fx.request,
            &fx.response_key,
            fx.combiner(),
            p2p_opts(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(recovered.key == fx.key);
    assert_eq!(recovered.used.len(), 3);
}

#[tokio::test]
async fn libp2p_refusals_and_unreachable_nodes_are_named() {
    let fx = Fixture::new(2, 3);
    let mut nodes = p2p_nodes(
        &fx,
        vec![
            Behave::Good,
            Behave::Refuse(ErrorCode::AccessDenied, "no pass"),
        ],
    )
    .await;
    // A node whose address nobody listens on: the dial fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    nodes.push(KeyNode {
        index: 2,
        endpoint: zgvault_client::keys::Endpoint {
            http: None,
            p2p: Some((
                libp2p::PeerId::random(),
                format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap(),
            )),
        },
        enc_key: [0; 32],
    });
    let err = tokio::time::timeout(
        HANG_GUARD,
        recover_key(
            &nodes,
            &fx.request,
            &fx.response_key,
            fx.combiner(),
            p2p_opts(),
        ),
    )
    .await
    .unwrap()
    .unwrap_err();
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
        matches!(kind_of(1), Some(FailureKind::Refused(r)) if r.code == ErrorCode::AccessDenied)
    );
    assert!(
        matches!(kind_of(2), Some(FailureKind::Unreachable { .. })),
        "{failures:?}"
    );
    assert!(failures.0.iter().all(|f| f.via == Some(Transport::P2p)));
}
