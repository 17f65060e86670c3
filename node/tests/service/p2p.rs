//! The node's libp2p transport with in-process swarms on 127.0.0.1/tcp/0: requests reach the
//! handler over `/zgvault/keys/1`, and oversized, garbage, stalled or excess requests neither
//! crash the node nor hold up anyone else.
#![allow(clippy::unwrap_used)]

use crate::p2p_common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use libp2p::multiaddr::Protocol;
use p2p_common::{Mode, TestClient, start_node};
use tokio::sync::{Notify, mpsc, oneshot};
use zgvault_node::{
    Origin,
    p2p::{DEFAULT_P2P_MAX_STREAMS_PER_CONNECTION, P2pError, P2pLimits, start},
};
use zgvault_proto::wire::{
    ErrorCode, ErrorReply, KeyResponse, MAX_MESSAGE_BYTES, decode_request, decode_response,
    encode_response,
};

/// A handler stub: `ping…` is echoed with the origin, `block…` waits for `gate`, anything
/// else is decoded as a `wire` request and refused with the decoder's code.
#[derive(Clone, Default)]
struct Stub {
    calls: Arc<AtomicUsize>,
    gate: Arc<Notify>,
    entered: Option<mpsc::Sender<()>>,
}

impl Stub {
    fn handler(
        self,
    ) -> impl Fn(Origin, Vec<u8>) -> futures::future::BoxFuture<'static, Vec<u8>>
    + Clone
    + Send
    + Sync
    + 'static {
        move |origin: Origin, bytes: Vec<u8>| {
            let stub = self.clone();
            Box::pin(async move {
                stub.calls.fetch_add(1, Ordering::SeqCst);
                if bytes.starts_with(b"ping") {
                    let mut out = format!("echo:{}:{}:", origin.transport, origin.id).into_bytes();
                    out.extend_from_slice(&bytes);
                    return out;
                }
                if bytes.starts_with(b"block") {
                    if let Some(entered) = &stub.entered {
                        entered.send(()).await.unwrap();
                    }
                    stub.gate.notified().await;
                    return b"unblocked".to_vec();
                }
                let reply = match decode_request(&bytes) {
                    Ok(_) => ErrorReply::new(ErrorCode::AccessDenied, "stub", 0),
                    Err(e) => ErrorReply::from_error(&e),
                };
                encode_response(&KeyResponse::Error(reply))
            })
        }
    }
}

/// Guards against a hang; never the thing asserted.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn refusal(bytes: &[u8]) -> ErrorReply {
    match decode_response(bytes).unwrap() {
        KeyResponse::Error(reply) => reply,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[tokio::test]
async fn a_request_reaches_the_handler_and_the_answer_comes_back() {
    let (node, _stop) = start_node(Stub::default().handler(), P2pLimits::default()).await;
    let client = TestClient::start(Mode::Normal);
    let answer = client.request(&node, b"ping-1".to_vec()).await.unwrap();
    let expected = format!("echo:p2p:{}:ping-1", client.peer_id);
    assert_eq!(String::from_utf8(answer).unwrap(), expected);
}

#[tokio::test]
async fn the_handle_reports_bound_addresses_and_peer_id() {
    let (node, _stop) = start_node(Stub::default().handler(), P2pLimits::default()).await;
    let addr = node.listen_addrs().first().unwrap().clone();
    let port = addr.iter().find_map(|p| match p {
        Protocol::Tcp(port) => Some(port),
        _ => None,
    });
    assert!(port.is_some_and(|p| p != 0), "{addr}");
    let dial = node.dial_addrs().first().unwrap().clone();
    assert_eq!(dial.iter().last(), Some(Protocol::P2p(node.peer_id())));
    assert!(
        dial.to_string().starts_with("/ip4/127.0.0.1/tcp/"),
        "{dial}"
    );
}

#[tokio::test]
async fn garbage_gets_a_malformed_reply_and_the_node_keeps_serving() {
    let (node, _stop) = start_node(Stub::default().handler(), P2pLimits::default()).await;
    let client = TestClient::start(Mode::Normal);
    let answer = client.request(&node, vec![0xff; 100]).await.unwrap();
    assert_eq!(refusal(&answer).code, ErrorCode::Malformed);
    // Exactly the limit is still read and handed over.
    let answer = client
        .request(&node, vec![0xff; MAX_MESSAGE_BYTES])
        .await
        .unwrap();
    assert_eq!(refusal(&answer).code, ErrorCode::Malformed);
    let answer = client.request(&node, b"ping-2".to_vec()).await.unwrap();
    assert!(answer.ends_with(b"ping-2"));
}

#[tokio::test]
async fn an_oversized_request_is_refused_and_the_node_keeps_serving() {
    let stub = Stub::default();
    let calls = stub.calls.clone();
    let (node, _stop) = start_node(stub.handler(), P2pLimits::default()).await;
    let big = TestClient::start(Mode::Unlimited);
    let answer = big
        .request(&node, vec![0; MAX_MESSAGE_BYTES + 1])
        .await
        .unwrap();
    assert_eq!(refusal(&answer).code, ErrorCode::TooLarge);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the handler saw the oversized request"
    );
    // The same peer and others are still served.
    assert!(
        big.request(&node, b"ping-3".to_vec())
            .await
            .unwrap()
            .ends_with(b"ping-3")
    );
    let other = TestClient::start(Mode::Normal);
    assert!(
        other
            .request(&node, b"ping-4".to_vec())
            .await
            .unwrap()
            .ends_with(b"ping-4")
    );
}

#[tokio::test]
async fn peers_that_open_streams_and_never_write_block_nobody() {
    let (node, _stop) = start_node(Stub::default().handler(), P2pLimits::default()).await;
    let (stalling_tx, stalling) = oneshot::channel();
    let slow = TestClient::start(Mode::Stall(Arc::new(std::sync::Mutex::new(Some(
        stalling_tx,
    )))));
    // More stalled streams than one connection may carry: the extra ones are refused.
    let target = (node.peer_id(), node.listen_addrs().to_vec());
    let slow_requests: Vec<_> = (0..DEFAULT_P2P_MAX_STREAMS_PER_CONNECTION + 4)
        .map(|_| {
            let (slow, target) = (slow.clone(), target.clone());
            tokio::spawn(async move { slow.request_to(target, b"never".to_vec()).await })
        })
        .collect();
    // A stalled stream is open (protocol negotiated, nothing written) before we go on.
    stalling.await.unwrap();
    let client = TestClient::start(Mode::Normal);
    for i in 0..3 {
        let body = format!("ping-{i}").into_bytes();
        let answer = client.request(&node, body.clone()).await.unwrap();
        assert!(answer.ends_with(&body));
    }
    for request in slow_requests {
        if request.is_finished() {
            assert!(
                request.await.unwrap().is_err(),
                "a stalled request was answered"
            );
        } else {
            request.abort();
        }
    }
}

#[tokio::test]
async fn a_slow_handler_does_not_hold_up_other_requests() {
    let (entered_tx, mut entered) = mpsc::channel(4);
    let stub = Stub {
        entered: Some(entered_tx),
        ..Stub::default()
    };
    let gate = stub.gate.clone();
    let (node, _stop) = start_node(stub.handler(), P2pLimits::default()).await;
    let client = TestClient::start(Mode::Normal);
    let blocked = {
        let (client, target) = (
            client.clone(),
            (node.peer_id(), node.listen_addrs().to_vec()),
        );
        tokio::spawn(async move { client.request_to(target, b"block".to_vec()).await })
    };
    entered.recv().await.unwrap();
    assert!(
        client
            .request(&node, b"ping-5".to_vec())
            .await
            .unwrap()
            .ends_with(b"ping-5")
    );
    gate.notify_one();
    assert_eq!(blocked.await.unwrap().unwrap(), b"unblocked");
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_rate_limited() {
    let (entered_tx, mut entered) = mpsc::channel(4);
    let stub = Stub {
        entered: Some(entered_tx),
        ..Stub::default()
    };
    let gate = stub.gate.clone();
    let limits = P2pLimits {
        max_concurrent_requests: 1,
        ..P2pLimits::default()
    };
    let (node, _stop) = start_node(stub.handler(), limits).await;
    let client = TestClient::start(Mode::Normal);
    let blocked = {
        let (client, target) = (
            client.clone(),
            (node.peer_id(), node.listen_addrs().to_vec()),
        );
        tokio::spawn(async move { client.request_to(target, b"block".to_vec()).await })
    };
    entered.recv().await.unwrap();
    let answer = client.request(&node, b"ping-6".to_vec()).await.unwrap();
    let reply = refusal(&answer);
    assert_eq!(reply.code, ErrorCode::RateLimited);
    assert!(reply.retry_after_secs > 0);
    gate.notify_one();
    assert_eq!(blocked.await.unwrap().unwrap(), b"unblocked");
    // The slot is free again.
    assert!(
        client
            .request(&node, b"ping-7".to_vec())
            .await
            .unwrap()
            .ends_with(b"ping-7")
    );
}

#[tokio::test]
async fn the_transport_stops_on_shutdown() {
    let (node, stop) = start_node(Stub::default().handler(), P2pLimits::default()).await;
    let target = (node.peer_id(), node.listen_addrs().to_vec());
    let client = TestClient::start(Mode::Normal);
    assert!(
        client
            .request_to(target.clone(), b"ping".to_vec())
            .await
            .is_ok()
    );
    stop.send(()).unwrap();
    node.stopped().await;
    let fresh = TestClient::start(Mode::Normal);
    assert!(fresh.request_to(target, b"ping".to_vec()).await.is_err());
}

#[tokio::test]
async fn start_refuses_bad_listen_addresses() {
    let keypair = libp2p::identity::Keypair::generate_ed25519;
    let handler = Stub::default().handler();
    let none = start(
        keypair(),
        vec![],
        vec![],
        handler.clone(),
        P2pLimits::default(),
        std::future::pending(),
    )
    .await;
    assert!(matches!(none, Err(P2pError::NoListenAddress)), "{none:?}");

    let udp = "/ip4/127.0.0.1/udp/0".parse().unwrap();
    let unsupported = start(
        keypair(),
        vec![udp],
        vec![],
        handler.clone(),
        P2pLimits::default(),
        std::future::pending(),
    )
    .await;
    assert!(
        matches!(unsupported, Err(P2pError::Listen { .. })),
        "{unsupported:?}"
    );

    let (node, _stop) = start_node(handler.clone(), P2pLimits::default()).await;
    let taken = node.listen_addrs().first().unwrap().clone();
    let in_use = start(
        keypair(),
        vec![taken],
        vec![],
        handler,
        P2pLimits::default(),
        std::future::pending(),
    )
    .await;
    let err = in_use.unwrap_err();
    assert!(matches!(err, P2pError::Listen { .. }), "{err:?}");
    assert!(err.to_string().contains("pick another"), "{err}");
}

#[tokio::test]
async fn a_node_bootstraps_from_the_registry_peers() {
    let (first, _stop1) = start_node(Stub::default().handler(), P2pLimits::default()).await;
    let bootstrap = vec![(
        first.peer_id(),
        first.listen_addrs().first().unwrap().clone(),
    )];
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let second = start(
        libp2p::identity::Keypair::generate_ed25519(),
        vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        Stub::default().handler(),
        P2pLimits::default(),
        async move {
            let _ = stop_rx.await;
        },
    )
    .await
    .unwrap();
    // Kademlia's bootstrap query dials the registry peer; both ends see the connection.
    let first_id = first.peer_id();
    let mut peers = second.connected_peers();
    tokio::time::timeout(HANG_GUARD, peers.wait_for(|p| p.contains(&first_id)))
        .await
        .unwrap()
        .unwrap();
    let second_id = second.peer_id();
    let mut peers = first.connected_peers();
    tokio::time::timeout(HANG_GUARD, peers.wait_for(|p| p.contains(&second_id)))
        .await
        .unwrap()
        .unwrap();
    // A peer added later (with its /p2p suffix) is accepted too.
    let (third, _stop3) = start_node(Stub::default().handler(), P2pLimits::default()).await;
    let third_id = third.peer_id();
    assert!(
        second
            .add_peer(third_id, third.dial_addrs()[0].clone())
            .await
    );
    let mut peers = second.connected_peers();
    tokio::time::timeout(HANG_GUARD, peers.wait_for(|p| p.contains(&third_id)))
        .await
        .unwrap()
        .unwrap();
    let client = TestClient::start(Mode::Normal);
    assert!(client.request(&second, b"ping-8".to_vec()).await.is_ok());
    let _ = stop_tx.send(());
    tokio::time::timeout(HANG_GUARD, second.stopped())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stopped_node_can_listen_on_the_same_port_again() {
    let (node, stop) = start_node(Stub::default().handler(), P2pLimits::default()).await;
    let addr = node.listen_addrs().first().unwrap().clone();
    let client = TestClient::start(Mode::Normal);
    assert!(client.request(&node, b"ping".to_vec()).await.is_ok());
    stop.send(()).unwrap();
    node.stopped().await;
    // The node closed its side first, so its connection may linger in TIME_WAIT: that must
    // not count as "address in use".
    let again = start(
        libp2p::identity::Keypair::generate_ed25519(),
        vec![addr.clone()],
        vec![],
        Stub::default().handler(),
        P2pLimits::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(again.listen_addrs(), [addr]);
}
