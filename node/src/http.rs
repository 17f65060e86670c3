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
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        ConnectInfo, DefaultBodyLimit, Request, State, connect_info::Connected,
        rejection::BytesRejection,
    },
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    serve::{IncomingStream, Listener},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use zgvault_proto::wire::{ErrorCode, ErrorReply, KeyResponse, MAX_MESSAGE_BYTES, encode_response};

use crate::{
    error::{Error, Result},
    service::{KeyService, Origin},
};

/// Content type of `wire` messages.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// Content type of `/metrics` (Prometheus text exposition 0.0.4).
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long browsers may cache a CORS preflight answer, in seconds.
const CORS_MAX_AGE_SECS: &str = "600";
/// Most HTTP connections open at once. Requests are capped by the service; this caps the
/// memory idle or slow connections can hold. Further clients wait in the kernel's queue.
pub const MAX_HTTP_CONNECTIONS: usize = 1024;

/// Every route of the public API as (method, path): the router is built from this table,
/// and a test compares it with `docs/openapi.json`, so the two cannot drift apart.
pub const HTTP_ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/keys"),
    ("get", "/v1/info"),
    ("get", "/health"),
    ("get", "/metrics"),
];

/// The API routes over `service` (needs `PeerAddr` connect info: served by [`serve_http`]).
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
pub async fn serve_http(
    listener: TcpListener,
    service: KeyService,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = LimitedListener {
        inner: listener,
        slots: Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS)),
    };
    let app = router(service).into_make_service_with_connect_info::<PeerAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Serve { source })
}

async fn keys(
    State(service): State<KeyService>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
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

/// A TCP listener that holds one of [`MAX_HTTP_CONNECTIONS`] slots per open connection.
struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so the error arm cannot happen; without a slot the
        // connection is still served rather than dropped.
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
        let (io, addr) = Listener::accept(&mut self.inner).await;
        (LimitedStream { io, _slot: slot }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection and its slot; the slot is released when hyper drops the connection.
struct LimitedStream {
    io: TcpStream,
    _slot: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The client's address, as the `ConnectInfo` of [`LimitedListener`] connections.
#[derive(Clone, Copy, Debug)]
struct PeerAddr(SocketAddr);

impl Connected<IncomingStream<'_, LimitedListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, LimitedListener>) -> Self {
        Self(*stream.remote_addr())
    }
}
