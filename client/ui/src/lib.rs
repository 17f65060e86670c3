#![doc = include_str!("../README.md")]

mod api;
mod args;
mod ask;
mod assets;
mod error;
mod guard;
mod ops;
mod sdk;
mod upload;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

pub use args::UiArgs;
pub use ask::{AskAnswer, AskError, AskRequest, AskSession, Asker, Citation};
pub use error::Error;
pub use guard::{CSP, SessionToken, TOKEN_PARAM};

/// How to serve.
#[derive(Clone)]
pub struct ServeOptions {
    /// The address to bind: loopback only (`127.0.0.1` by default, or `::1`); any other
    /// address is refused with [`Error::NotLoopback`] before anything is bound.
    pub ip: IpAddr,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// Open the user's browser at the session URL once the server listens.
    pub open_browser: bool,
    /// The network for a first run (the config file's otherwise): `devnet`, `galileo`, …
    pub network: Option<String>,
    /// The local RAG behind the Ask panel; `None` shows "not installed in this build".
    pub asker: Option<Arc<dyn Asker>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            open_browser: true,
            network: None,
            asker: None,
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("ip", &self.ip)
            .field("port", &self.port)
            .field("open_browser", &self.open_browser)
            .field("network", &self.network)
            .field("asker", &self.asker.as_ref().map(|_| "<asker>"))
            .finish()
    }
}

/// A bound server: its listener, address and session token, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    session_url: String,
    app: Router,
    state: api::AppState,
}

impl Server {
    /// Binds `opts.ip:opts.port` (loopback only) and prepares the app with a fresh token.
    pub async fn bind(opts: ServeOptions) -> Result<Server, Error> {
        if !opts.ip.is_loopback() {
            return Err(Error::NotLoopback { ip: opts.ip });
        }
        let wanted = SocketAddr::new(opts.ip, opts.port);
        let listener = TcpListener::bind(wanted)
            .await
            .map_err(|source| Error::Bind {
                addr: wanted,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: wanted,
            source,
        })?;
        let token = SessionToken::generate().map_err(|e| Error::Random {
            message: e.to_string(),
        })?;
        let host = match addr.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let session_url = format!(
            "http://{host}:{}/?{TOKEN_PARAM}={}",
            addr.port(),
            token.expose()
        );
        let state = api::AppState::new(opts.network, opts.asker)?;
        let app = api::router(state.clone(), guard::Guard::new(token, addr));
        Ok(Server {
            listener,
            addr,
            session_url,
            app,
            state,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to open: it carries the session token, which the first request turns into a
    /// cookie. Anyone with it can act as the user while the server runs: print it only to
    /// the user.
    pub fn session_url(&self) -> &str {
        &self.session_url
    }

    /// Serves until `shutdown` completes; requests in flight then finish, and decrypted
    /// downloads the page did not fetch are deleted.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let served = axum::serve(
            self.listener,
            self.app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Serve { source });
        self.state.ops().remove_outputs();
        served
    }
}

/// `zgvault ui`: binds, prints the session URL, opens the browser (unless
/// `opts.open_browser` is false), serves until Ctrl-C.
pub async fn serve(opts: ServeOptions) -> Result<(), Error> {
    let open = opts.open_browser;
    let server = Server::bind(opts).await?;
    // The URL alone on the first line: scripts (scripts/demo, the tests) read it there.
    // A closed stdout must not stop the server, so write errors are ignored.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "zgvault ui: {}", server.session_url());
        if !open {
            let _ = writeln!(
                out,
                "open that URL in your browser; Ctrl-C stops the server"
            );
        }
        let _ = out.flush();
    }
    if open {
        open_browser(server.session_url());
    }
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// Best effort: `xdg-open` (Linux) or `open` (macOS); the URL is printed anyway.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        // Reaped on a thread of its own so it never lingers as a zombie.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => eprintln!("could not start {opener} ({e}): open the URL above yourself"),
    }
}
