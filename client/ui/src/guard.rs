//! The checks every request passes before any handler sees it, and the headers every answer
//! carries. A local server is reachable by every web page the user opens (through their
//! browser) and by every process on the machine, so it trusts neither:
//!
//! - the peer must be a loopback address (the listener is bound to one; this is the
//!   second lock);
//! - `Host` must name this server (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`): a
//!   DNS-rebinding page reaches us under its own name and is refused here;
//! - a per-run random session token: given once in the URL the CLI opens (`?token=`),
//!   turned into an `HttpOnly; SameSite=Strict` cookie, then the URL is stripped by a
//!   redirect; every other request must carry the cookie;
//! - `Origin`, when present, must be this server; state-changing methods must send it;
//!   `Sec-Fetch-Site: cross-site | same-site` is refused (another port of 127.0.0.1 is
//!   "same-site", and SameSite cookies do not separate ports).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The query parameter that carries the token in the URL the CLI prints.
pub const TOKEN_PARAM: &str = "token";
/// The session token's size in random bytes (hex in the URL and cookie).
const TOKEN_BYTES: usize = 32;

/// The Content-Security-Policy of every answer: our own scripts, styles and connections
/// only; nothing inline, nothing framed, no plugins, no form posts elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; font-src 'self'; \
                       form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The per-run session secret.
pub struct SessionToken(Zeroizing<String>);

impl SessionToken {
    /// A fresh random token from the OS.
    pub fn generate() -> Result<SessionToken, rand_core::Error> {
        use rand_core::RngCore;
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        rand_core::OsRng.try_fill_bytes(bytes.as_mut_slice())?;
        Ok(SessionToken(Zeroizing::new(hex::encode(bytes.as_slice()))))
    }

    /// The token's text (for the URL the CLI prints).
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn matches(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// What the guard checks against: this server's port and token.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    inner: Arc<GuardInner>,
}

#[derive(Debug)]
struct GuardInner {
    token: SessionToken,
    /// `Host` values naming this server.
    hosts: Vec<String>,
    /// `Origin` values of this server's pages.
    origins: Vec<String>,
    cookie: String,
}

impl Guard {
    pub(crate) fn new(token: SessionToken, addr: SocketAddr) -> Guard {
        let port = addr.port();
        let mut hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
        if addr.is_ipv6() {
            hosts.push(format!("[::1]:{port}"));
        }
        let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
        Guard {
            inner: Arc::new(GuardInner {
                token,
                hosts,
                origins,
                // Cookies are per host, not per port: the port in the name keeps two runs
                // (two users, two servers) from overwriting each other's.
                cookie: format!("zgvault_ui_{port}"),
            }),
        }
    }

    fn host_ok(&self, headers: &HeaderMap, request: &Request) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        if !self.inner.hosts.contains(&host) {
            return false;
        }
        // An absolute-form request line names its own authority: it must agree.
        match request.uri().authority() {
            Some(a) => a.as_str().eq_ignore_ascii_case(&host),
            None => true,
        }
    }

    fn cookie_token<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.inner.cookie)
            .map(|(_, value)| value)
    }
}

/// Why a request was refused; the text is what the browser shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotLoopback,
    WrongHost,
    ForeignOrigin,
    MissingOrigin,
    CrossSite,
    NoSession,
    WrongToken,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::NoSession | Refusal::WrongToken => StatusCode::UNAUTHORIZED,
            Refusal::WrongHost => StatusCode::MISDIRECTED_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Refusal::NotLoopback => {
                "refused: this zgvault window only answers this computer (loopback)"
            }
            Refusal::WrongHost => {
                "refused: the Host header does not name this zgvault server (127.0.0.1 or \
                 localhost with its port); open the URL that `zgvault ui` printed"
            }
            Refusal::ForeignOrigin => {
                "refused: the request comes from another web site; only zgvault's own pages \
                 may use this server"
            }
            Refusal::MissingOrigin => {
                "refused: a change without an Origin header; use zgvault's own pages"
            }
            Refusal::CrossSite => {
                "refused: the request comes from another site or another local server"
            }
            Refusal::NoSession => {
                "refused: no session. Open the URL with the token that `zgvault ui` printed \
                 (run it again for a new one)"
            }
            Refusal::WrongToken => {
                "refused: the session token is wrong (it changes each time `zgvault ui` \
                 starts). Open the URL it printed this time"
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        tracing::info!(target: "zgvault::ui", refusal = ?self, "request refused");
        let mut r = (self.status(), self.text()).into_response();
        secure_headers(r.headers_mut());
        r
    }
}

/// The middleware: checks, then the handler, then the security headers on the answer.
pub(crate) async fn check(
    State(guard): State<Guard>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match admit(&guard, peer.ip(), &request) {
        Err(refusal) => refusal.into_response(),
        Ok(Admit::SetCookie(path)) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            let cookie = format!(
                "{}={}; HttpOnly; SameSite=Strict; Path=/",
                guard.inner.cookie,
                guard.inner.token.expose()
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            if let Ok(v) = HeaderValue::from_str(&path) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            secure_headers(r.headers_mut());
            r
        }
        Ok(Admit::Pass) => {
            let mut r = next.run(request).await;
            secure_headers(r.headers_mut());
            r
        }
    }
}

enum Admit {
    Pass,
    /// The token came in the URL: set the cookie and redirect to this path without it.
    SetCookie(String),
}

fn admit(guard: &Guard, peer: IpAddr, request: &Request) -> Result<Admit, Refusal> {
    let headers = request.headers();
    if !peer.is_loopback() {
        return Err(Refusal::NotLoopback);
    }
    if !guard.host_ok(headers, request) {
        return Err(Refusal::WrongHost);
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && matches!(site, "cross-site" | "same-site")
    {
        return Err(Refusal::CrossSite);
    }
    match headers.get(header::ORIGIN) {
        Some(origin) => {
            let ok = origin
                .to_str()
                .is_ok_and(|o| guard.inner.origins.iter().any(|ours| ours == o));
            if !ok {
                return Err(Refusal::ForeignOrigin);
            }
        }
        None if !matches!(*request.method(), Method::GET | Method::HEAD) => {
            return Err(Refusal::MissingOrigin);
        }
        None => {}
    }
    if let Some(given) = token_in_query(request) {
        if request.method() != Method::GET || !guard.inner.token.matches(&given) {
            return Err(Refusal::WrongToken);
        }
        return Ok(Admit::SetCookie(request.uri().path().to_owned()));
    }
    match guard.cookie_token(headers) {
        None => Err(Refusal::NoSession),
        Some(given) if guard.inner.token.matches(given) => Ok(Admit::Pass),
        Some(_) => Err(Refusal::WrongToken),
    }
}

fn token_in_query(request: &Request) -> Option<Zeroizing<String>> {
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == TOKEN_PARAM)
        .map(|(_, v)| Zeroizing::new(v.into_owned()))
}

/// Headers on every answer, refusals included.
fn secure_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
}
