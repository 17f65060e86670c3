//! The HTTP API on a real socket (port 0) with a real HTTP client; the chain is the test double.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use alloy::transports::http::reqwest::{self, StatusCode, header};
use common::{Fixture, access};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
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
