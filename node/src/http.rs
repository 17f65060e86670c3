//! The HTTP API: the same `wire` messages as libp2p, for browsers and simple clients.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/keys` | body: an encoded `zgvault.v1.Request` (`application/x-protobuf`); answer: an encoded `zgvault.v1.Response`, **always** (also on refusals). The status mirrors the code (200 answer, 400 bad request, 403 denied, 404 unknown file, 409 replay, 413 too large, 425 not confirmed, 429 rate limited, 503 chain unavailable, 500 internal) so proxies and logs see failures; clients should decode the body whatever the status. |
//! | `GET /v1/info` | `NodeInfo` as JSON |
//! | `GET /health` | 200 or 503, `Health` as JSON |
//! | `GET /metrics` | Prometheus text format |
//!
//! Every route allows any origin (CORS `*`): the web UI calls nodes straight from the
//! browser, and nothing here depends on cookies or ambient credentials.

use std::{
    collections::{HashMap, hash_map::Entry},
    future::Future,
    io,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    pin::pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, Request, State, rejection::BytesRejection},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::watch};
use tower::ServiceExt as _;
use zgvault_proto::wire::{ErrorCode, ErrorReply, KeyResponse, MAX_MESSAGE_BYTES, encode_response};

use crate::{
    error::Result, limits::ConnectionLimits, request::Origin, service::KeyService, util::lock,
};

/// Content type of `wire` messages.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// Content type of `/metrics` (Prometheus text exposition 0.0.4).
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long browsers may cache a CORS preflight answer, in seconds.
const CORS_MAX_AGE_SECS: &str = "600";
/// How long the accept loop pauses after `accept` failed for want of resources (no file
/// descriptor or memory left) before it tries again, so it does not spin while connections
/// close.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Every route of the public API as (method, path): the router is built from this table,
/// and a test compares it with `docs/openapi.json`, so the two cannot drift apart.
pub const HTTP_ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/keys"),
    ("get", "/v1/info"),
    ("get", "/health"),
    ("get", "/metrics"),
];

/// The API routes over `service` (needs `ConnectInfo<SocketAddr>`: served by [`serve_http`]).
fn router(service: KeyService) -> Router {
    let mut router = Router::new();
    for &(_, path) in HTTP_ROUTES {
        router = match path {
            "/v1/keys" => router.route(path, post(keys)),
            "/v1/info" => router.route(path, get(info)),
            "/health" => router.route(path, get(health)),
            _ => router.route(path, get(metrics)),
        };
    }
    router
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .layer(middleware::from_fn(cors))
        .with_state(service)
}

/// Serves the API on `listener` until `shutdown` completes; requests in flight then finish.
///
/// Against idle and slow clients (the `limits.http_*` keys): the accept loop never waits for
/// a free slot, a connection beyond the overall or the per-address cap is closed as soon as it
/// is accepted; and a connection that does not send a complete request header within the
/// header timeout, after it opens or after its previous answer, is closed.
pub async fn serve_http(
    listener: TcpListener,
    service: KeyService,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let limits = service.inner.http_limits;
    let router = router(service);
    let gate = Arc::new(ConnectionGate::new(limits));
    let mut http = http1::Builder::new();
    // Without a timer hyper has no header timeout at all (axum::serve sets none). hyper arms
    // it whenever the connection waits for a request head, so it is also the idle timeout.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // Every connection task holds a receiver: `stop.closed()` is when the last one ended.
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
        };
        let slot = match gate.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                // Dropping the stream closes it: a refused client learns at once, and the
                // loop goes back to accepting, so nobody queues behind the caps.
                tracing::debug!(
                    target: "zgvault::http",
                    %peer,
                    cap = full.as_str(),
                    "connection closed: cap reached"
                );
                continue;
            }
        };
        let router = router.clone();
        let app = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), app);
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut connection = pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                // Every receiver is cloned before the one `send`, so it sees that change.
                _ = stopping.changed() => {
                    // Idle connections close now; a request in flight gets its answer first.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(target: "zgvault::http", %peer, %error, "connection ended");
            }
        });
    }
    drop(listener);
    drop(stopping);
    stop.send_replace(true);
    stop.closed().await;
    Ok(())
}

/// Handles a failed `accept`. Errors of one connection (it was reset before we took it, a
/// firewall refused it, …) are skipped; running out of descriptors or memory pauses the loop
/// for [`ACCEPT_ERROR_BACKOFF`] so open connections can end.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        return;
    }
    tracing::warn!(
        target: "zgvault::http",
        %error,
        "accepting an HTTP connection failed; if the node is out of file descriptors, raise \
         `ulimit -n` or lower limits.http_max_connections"
    );
    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
}

async fn keys(
    State(service): State<KeyService>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let origin = Origin {
        transport: "http",
        id: peer.ip().to_string(),
    };
    let response = match body {
        Ok(body) => service.respond(origin, &body).await,
        Err(rejection) => {
            // The body limit (or a broken upload) stops us before the service sees anything.
            let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorCode::TooLarge
            } else {
                ErrorCode::Malformed
            };
            KeyResponse::Error(ErrorReply::new(
                code,
                format!(
                    "{rejection}: send one zgvault.v1.Request of at most {MAX_MESSAGE_BYTES} bytes"
                ),
                0,
            ))
        }
    };
    let mut http = (
        status_of(&response),
        [(header::CONTENT_TYPE, PROTOBUF_CONTENT_TYPE)],
        encode_response(&response),
    )
        .into_response();
    if let KeyResponse::Error(reply) = &response
        && reply.retry_after_secs > 0
    {
        http.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(reply.retry_after_secs),
        );
    }
    http
}

fn status_of(response: &KeyResponse) -> StatusCode {
    match response {
        KeyResponse::Error(reply) => status_for(reply.code),
        _ => StatusCode::OK,
    }
}

/// The HTTP status `POST /v1/keys` answers a refusal with `code` (documented per code in
/// `docs/openapi.json`).
pub fn http_status(code: ErrorCode) -> u16 {
    status_for(code).as_u16()
}

fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::AccessDenied | ErrorCode::NotOwner => StatusCode::FORBIDDEN,
        ErrorCode::Shredded => StatusCode::GONE,
        ErrorCode::UnknownFile => StatusCode::NOT_FOUND,
        ErrorCode::Replay => StatusCode::CONFLICT,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::NotConfirmed => StatusCode::TOO_EARLY,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::ChainUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal | ErrorCode::Unspecified => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::BadSignature
        | ErrorCode::Expired
        | ErrorCode::StaleBlock
        | ErrorCode::CapsuleMismatch
        | ErrorCode::Malformed
        | ErrorCode::WrongDomain
        | ErrorCode::UnsupportedVersion
        | ErrorCode::WrongScheme => StatusCode::BAD_REQUEST,
    }
}

async fn info(State(service): State<KeyService>) -> Response {
    Json(service.info()).into_response()
}

async fn health(State(service): State<KeyService>) -> Response {
    let health = service.health_blocking().await;
    let status = if health.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

async fn metrics(State(service): State<KeyService>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        service.metrics_blocking().await,
    )
        .into_response()
}

/// CORS for every route: answers preflights itself and marks every answer readable by any
/// origin.
async fn cors(request: Request, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(CORS_MAX_AGE_SECS),
    );
    response
}

/// Counts open connections, overall and per address. Admission never waits: a connection
/// beyond a cap is refused, so idle connections cannot make new ones queue.
#[derive(Debug)]
struct ConnectionGate {
    limits: ConnectionLimits,
    open: Mutex<OpenConnections>,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    /// Only addresses with an open connection: at most `max_connections` entries.
    per_address: HashMap<IpAddr, usize>,
}

/// Which cap refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CapReached {
    /// `limits.http_max_connections`.
    Total,
    /// `limits.http_max_connections_per_ip`.
    PerAddress,
}

impl CapReached {
    fn as_str(self) -> &'static str {
        match self {
            Self::Total => "limits.http_max_connections",
            Self::PerAddress => "limits.http_max_connections_per_ip",
        }
    }
}

/// One admitted connection; dropping it (when the connection's task ends) frees its place.
#[derive(Debug)]
struct ConnectionSlot {
    gate: Arc<ConnectionGate>,
    address: IpAddr,
}

impl ConnectionGate {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            open: Mutex::default(),
        }
    }

    /// A slot for a connection from `ip`, unless a cap is reached.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, CapReached> {
        let address = address_key(ip);
        let mut open = lock(&self.open);
        if open.total >= self.limits.max_connections {
            return Err(CapReached::Total);
        }
        let count = open.per_address.entry(address).or_insert(0);
        if *count >= self.limits.max_per_address {
            return Err(CapReached::PerAddress);
        }
        *count += 1;
        open.total += 1;
        Ok(ConnectionSlot {
            gate: Arc::clone(self),
            address,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.gate.open);
        open.total = open.total.saturating_sub(1);
        if let Entry::Occupied(mut entry) = open.per_address.entry(self.address) {
            *entry.get_mut() = entry.get().saturating_sub(1);
            if *entry.get() == 0 {
                entry.remove();
            }
        }
    }
}

/// What the per-address cap counts: an IPv4 address (also when it arrives IPv4-mapped on an
/// IPv6 socket), or an IPv6 /64, the usual allocation of one subscriber, so a client cannot
/// escape the cap by moving through its own /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn gate(max_connections: usize, max_per_address: usize) -> Arc<ConnectionGate> {
        Arc::new(ConnectionGate::new(ConnectionLimits {
            max_connections,
            max_per_address,
            header_timeout: Duration::from_secs(1),
        }))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn per_address_cap_refuses_only_that_address() {
        let gate = gate(10, 2);
        let a = [
            gate.admit(ip("10.0.0.1")).unwrap(),
            gate.admit(ip("10.0.0.1")).unwrap(),
        ];
        assert_eq!(
            gate.admit(ip("10.0.0.1")).unwrap_err(),
            CapReached::PerAddress
        );
        let _b = gate.admit(ip("10.0.0.2")).unwrap();
        drop(a);
        let _a = gate.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(lock(&gate.open).per_address.len(), 2);
    }

    #[test]
    fn total_cap_refuses_everyone_until_a_connection_ends() {
        let gate = gate(2, 2);
        let first = gate.admit(ip("10.0.0.1")).unwrap();
        let _second = gate.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(gate.admit(ip("10.0.0.3")).unwrap_err(), CapReached::Total);
        drop(first);
        let _third = gate.admit(ip("10.0.0.3")).unwrap();
        assert!(!lock(&gate.open).per_address.contains_key(&ip("10.0.0.1")));
    }

    #[test]
    fn an_ipv6_64_counts_as_one_address_and_mapped_ipv4_as_ipv4() {
        let gate = gate(10, 1);
        let _one = gate.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            gate.admit(ip("2001:db8:1:2:ffff::9")).unwrap_err(),
            CapReached::PerAddress
        );
        let _other_64 = gate.admit(ip("2001:db8:1:3::1")).unwrap();
        let _v4 = gate.admit(ip("192.0.2.7")).unwrap();
        assert_eq!(
            gate.admit(ip("::ffff:192.0.2.7")).unwrap_err(),
            CapReached::PerAddress
        );
    }
}
