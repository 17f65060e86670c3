//! The HTTP API on a real socket (port 0) with a real HTTP client; the chain is the test double.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use alloy::transports::http::reqwest::{self, StatusCode, header};
use common::{Fixture, access};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};
use zgvault_node::{Health, NodeInfo, PROTOBUF_CONTENT_TYPE, serve_http};
use zgvault_proto::{
    request::Scheme,
    wire::{ErrorCode, KeyResponse, MAX_MESSAGE_BYTES, decode_response},
};

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<zgvault_node::Result<()>>,
    client: reqwest::Client,
}

impl Server {
    async fn start(f: &Fixture) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_http(listener, f.service.clone(), async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post_keys(
        &self,
        body: Vec<u8>,
    ) -> (StatusCode, reqwest::header::HeaderMap, KeyResponse) {
        let response = self
            .client
            .post(self.url("/v1/keys"))
            .header(header::CONTENT_TYPE, PROTOBUF_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        (status, headers, decode_response(&body).unwrap())
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).unwrap();
        }
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn keys_route_answers_and_refuses_in_protobuf() {
    let f = Fixture::new();
    let server = Server::start(&f).await;
    let capsule = f.bls_file(1);
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );

    let (status, headers, response) = server.post_keys(signed.bytes()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], PROTOBUF_CONTENT_TYPE);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let KeyResponse::Partial(sealed) = response else {
        panic!("expected a partial, got {response:?}");
    };
    let partial = sealed
        .open(&signed.response_key, &signed.request.hash())
        .unwrap();
    f.key_set
        .combiner(&f.file_ref(1), &capsule, 3)
        .add(sealed.node_index, &partial)
        .unwrap();

    let (status, _, response) = server.post_keys(signed.bytes()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(matches!(response, KeyResponse::Error(r) if r.code == ErrorCode::Replay));

    let (status, _, response) = server.post_keys(b"not protobuf".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(matches!(response, KeyResponse::Error(r) if r.code == ErrorCode::Malformed));

    let (status, _, response) = server.post_keys(vec![7; MAX_MESSAGE_BYTES + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(matches!(response, KeyResponse::Error(r) if r.code == ErrorCode::TooLarge));

    let stranger = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.stranger,
        |_| {},
    );
    let (status, _, _) = server.post_keys(stranger.bytes()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.stop().await;
}

#[tokio::test]
async fn info_health_metrics_and_cors() {
    let f = Fixture::new();
    let server = Server::start(&f).await;

    let info: NodeInfo = serde_json::from_slice(
        &server
            .client
            .get(server.url("/v1/info"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info, f.service.info());
    assert_eq!(info.node_index, Some(0));
    assert!(info.peer_id.starts_with("12D3KooW"), "{}", info.peer_id);

    // No chain call has succeeded yet: unhealthy, and it says why.
    let response = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: Health = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert!(!health.chain_ok && health.store_ok);
    assert!(
        health.reasons[0].contains("rpc_url"),
        "{:?}",
        health.reasons
    );
    assert!(f.service.refresh_chain().await);
    let response = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    server.post_keys(b"junk".to_vec()).await;
    let response = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("zgvault_node_requests_total{outcome=\"MALFORMED\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("zgvault_node_request_duration_seconds_count 1"),
        "{text}"
    );

    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/v1/keys"))
        .header(header::ORIGIN, "http://localhost:5173")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "*"
    );
    assert!(
        preflight.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    server.stop().await;
}

#[tokio::test]
async fn concurrency_cap_answers_429_with_retry_after() {
    let f = Fixture::with_config(|c| c.limits.max_concurrent_requests = 1);
    let server = Server::start(&f).await;
    let capsule = f.bls_file(1);
    f.chain.state.lock().unwrap().hang = true;
    let entered = f.chain.entered.notified();
    let first = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    let client = server.client.clone();
    let url = server.url("/v1/keys");
    let hung = tokio::spawn(async move { client.post(url).body(first.bytes()).send().await });
    entered.await;
    let second = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    let (status, headers, response) = server.post_keys(second.bytes()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert!(matches!(response, KeyResponse::Error(r) if r.code == ErrorCode::RateLimited));
    // The hung request fails closed at its chain timeout; shutdown waits for it.
    let first = hung.await.unwrap().unwrap();
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let f = Fixture::new();
    let server = Server::start(&f).await;
    let capsule = f.bls_file(1);
    f.chain.state.lock().unwrap().hang = true;
    let entered = f.chain.entered.notified();
    let signed = access(
        f.file_ref(1),
        Scheme::Bls,
        &capsule.to_bytes(),
        &f.reader,
        |_| {},
    );
    let client = server.client.clone();
    let url = server.url("/v1/keys");
    let in_flight = tokio::spawn(async move { client.post(url).body(signed.bytes()).send().await });
    entered.await;
    // Stop while the request waits on the chain: it still gets its (fail-closed) answer,
    // and the server returns only after that.
    server.stop().await;
    let answer = in_flight.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = answer.bytes().await.unwrap();
    assert!(
        matches!(decode_response(&body).unwrap(), KeyResponse::Error(r) if r.code == ErrorCode::ChainUnavailable)
    );
}

/// Connections the attacker opens from one address.
const IDLE_CONNECTIONS: usize = 2_000;
/// How long an honest client may wait for its answer while the attack goes on. A bound on
/// starvation (the answer comes or the API is stalled), not a benchmark.
const HONEST_ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// The start of a request that never ends: a server without a header timeout waits forever.
const PARTIAL_HEADER: &[u8] = b"GET /v1/info HTTP/1.1\r\nHost: zgvault\r\nX-Stall: ";
/// A second loopback address, so a test has two distinct clients on one machine.
const OTHER_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A complete request that leaves the connection open afterwards (HTTP/1.1 keep-alive).
const INFO_REQUEST: &[u8] = b"GET /v1/info HTTP/1.1\r\nHost: zgvault\r\n\r\n";
/// How long after it should have happened a test still waits for the server to close a
/// connection before it reports that it never did (a guard against hanging, not a timing).
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Lets this test process hold `needed` sockets (client and server ends together).
fn raise_fd_limit(needed: u64) {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < needed {
        assert!(
            hard >= needed,
            "this test needs {needed} open files but the hard limit is {hard}: raise it \
             (ulimit -Hn {needed}) and run again"
        );
        setrlimit(Resource::RLIMIT_NOFILE, needed, hard).unwrap();
    }
}

/// An HTTP client whose connections come from `address`.
fn client_from(address: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address)
        .build()
        .unwrap()
}

#[tokio::test]
async fn idle_connections_from_one_address_do_not_stall_the_api() {
    raise_fd_limit(2 * IDLE_CONNECTIONS as u64 + 1_024);
    let f = Fixture::new();
    let server = Server::start(&f).await;

    // The attack: connections from 127.0.0.1 that send nothing, or half a header, and stall.
    // A connect that the kernel does not complete within the bound means the server's listen
    // queue is full: the attacker has saturated it and stops opening more.
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for i in 0..IDLE_CONNECTIONS {
        let Ok(stream) =
            tokio::time::timeout(HONEST_ANSWER_WITHIN, TcpStream::connect(server.addr)).await
        else {
            break;
        };
        let mut stream = stream.unwrap();
        if i % 2 == 1 {
            // The server may already have closed this connection: that is a defence, not
            // a failure of the test.
            let _ = stream.write_all(PARTIAL_HEADER).await;
        }
        idle.push(stream);
    }

    let honest = client_from(OTHER_ADDRESS);
    let answer = tokio::time::timeout(
        HONEST_ANSWER_WITHIN,
        honest.get(server.url("/v1/info")).send(),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "with {} idle connections open from 127.0.0.1, GET /v1/info from {OTHER_ADDRESS} \
             got no answer within {HONEST_ANSWER_WITHIN:?}: the HTTP API is stalled",
            idle.len()
        )
    })
    .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        idle.len(),
        IDLE_CONNECTIONS,
        "the server stopped accepting connections (listen queue full) during the attack"
    );

    drop(idle);
    server.stop().await;
}

/// A raw TCP connection to `server` from `address`.
async fn connect_from(address: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(address, 0)).unwrap();
    socket.connect(server).await.unwrap()
}

/// Everything the server sends until it closes `stream`; panics if it is still open after
/// `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration, what: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("{what}: {e}"),
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or_else(|_| panic!("{what}: the server did not close it within {within:?}"));
    received
}

/// Sends `GET /v1/info` on an open connection and returns the status line of the answer.
async fn info_status_line(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /v1/info HTTP/1.1\r\nHost: zgvault\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer =
        read_until_closed(stream, CLOSE_GRACE, "a request on an admitted connection").await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_header_timeout() {
    const HEADER_TIMEOUT_SECS: u64 = 1;
    let f = Fixture::with_config(|c| c.limits.http_header_timeout_secs = HEADER_TIMEOUT_SECS);
    let server = Server::start(&f).await;
    let within = Duration::from_secs(HEADER_TIMEOUT_SECS) + CLOSE_GRACE;

    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled.write_all(PARTIAL_HEADER).await.unwrap();
    let mut kept_alive = TcpStream::connect(server.addr).await.unwrap();
    kept_alive.write_all(INFO_REQUEST).await.unwrap();

    read_until_closed(&mut silent, within, "a connection that sends nothing").await;
    read_until_closed(&mut stalled, within, "a connection stalled mid-header").await;
    // Served once, then silent: closed like a new connection that sends nothing.
    let sent = read_until_closed(&mut kept_alive, within, "an idle keep-alive connection").await;
    assert!(
        sent.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
    server.stop().await;
}

#[tokio::test]
async fn per_address_connection_cap_closes_the_extra_connection_and_serves_other_addresses() {
    const PER_ADDRESS: usize = 4;
    // A long header timeout: what closes a connection here can only be the cap.
    let f = Fixture::with_config(|c| {
        c.limits.http_max_connections_per_ip = PER_ADDRESS;
        c.limits.http_header_timeout_secs = 600;
    });
    let server = Server::start(&f).await;
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);

    let mut held = Vec::new();
    for _ in 0..PER_ADDRESS {
        held.push(connect_from(local, server.addr).await);
    }
    // The server accepts in order, so this one comes after the cap is reached.
    let mut extra = connect_from(local, server.addr).await;
    let sent = read_until_closed(&mut extra, CLOSE_GRACE, "a connection beyond the cap").await;
    assert!(sent.is_empty(), "{}", String::from_utf8_lossy(&sent));

    let answer = client_from(OTHER_ADDRESS)
        .get(server.url("/v1/info"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // The connections within the cap are still open and served.
    for stream in &mut held {
        assert_eq!(info_status_line(stream).await, "HTTP/1.1 200 OK");
    }
    server.stop().await;
}

#[tokio::test]
async fn connection_cap_closes_extra_connections_instead_of_queueing_them() {
    const MAX: usize = 4;
    let f = Fixture::with_config(|c| {
        c.limits.http_max_connections = MAX;
        c.limits.http_max_connections_per_ip = MAX;
        c.limits.http_header_timeout_secs = 600;
    });
    let server = Server::start(&f).await;

    let mut held = Vec::new();
    for _ in 0..MAX {
        held.push(connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), server.addr).await);
    }
    // A full server closes a new connection at once rather than leaving it waiting.
    let mut extra = connect_from(OTHER_ADDRESS, server.addr).await;
    let sent = read_until_closed(&mut extra, CLOSE_GRACE, "a connection beyond the cap").await;
    assert!(sent.is_empty(), "{}", String::from_utf8_lossy(&sent));
    for stream in &mut held {
        assert_eq!(info_status_line(stream).await, "HTTP/1.1 200 OK");
    }
    server.stop().await;
}
