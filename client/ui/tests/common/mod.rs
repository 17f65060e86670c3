//! The UI tests' server: the real `zgvault-ui` binary with its own `ZGVAULT_HOME`, and a raw
//! HTTP/1.1 client that sends exactly the headers a test names (a browser would add its
//! own; an attacker's page or process sends what it likes).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
pub use zgvault_testnet::VaultKek;
use zgvault_testnet::{Devnet, DevnetConfig};

/// A lean devnet in `dir/devnet` (3 key nodes, 2 of 3, one storage node, a custodial
/// vault with `vault`'s KEK if any) and a `zgvault-ui` for each of `users`, each with its
/// own home `dir/NAME` (no identity yet).
pub async fn devnet_with_users(
    dir: &Path,
    users: &[&str],
    vault: Option<VaultKek>,
) -> (Devnet, Vec<UiServer>) {
    let mut config = DevnetConfig::new(dir.join("devnet"));
    config.nodes = 3;
    config.threshold = 2;
    config.storage_nodes = 1;
    config.vault = vault;
    let devnet = Devnet::start(&config).await.unwrap();
    let devnet_dir = devnet.state_dir().to_str().unwrap().to_owned();
    let servers = users
        .iter()
        .map(|u| UiServer::start(&dir.join(u), &[("ZGVAULT_DEVNET_DIR", devnet_dir.as_str())]))
        .collect();
    (devnet, servers)
}

/// A running `zgvault-ui --no-open`; killed on drop.
pub struct UiServer {
    child: Child,
    /// Kept open: the server may print more.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    pub addr: SocketAddr,
    pub token: String,
    pub url: String,
}

impl UiServer {
    /// Starts the binary with `home` as `ZGVAULT_HOME` and `envs`; waits for its URL.
    pub fn start(home: &Path, envs: &[(&str, &str)]) -> UiServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zgvault-ui"))
            .arg("--no-open")
            .env("ZGVAULT_HOME", home)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(stdout);
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("zgvault ui: ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let rest = url.strip_prefix("http://").unwrap();
        let (host, query) = rest.split_once("/?token=").unwrap();
        UiServer {
            child,
            _stdout: stdout,
            addr: host.parse().unwrap(),
            token: query.to_owned(),
            url,
        }
    }

    /// The server process's id (to read its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.host())
    }

    pub fn cookie(&self) -> String {
        format!("zgvault_ui_{}={}", self.addr.port(), self.token)
    }

    /// Sends `method path` with exactly `headers`; returns the answer.
    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send_body(method, path, headers, b"").await
    }

    pub async fn send_body(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut raw = format!("{method} {path} HTTP/1.1\r\n");
        for (k, v) in headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(raw.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await.unwrap();
        Answer::parse(&bytes)
    }

    /// A request as this server's own page sends it: right Host, Origin and cookie.
    pub async fn ours(&self, method: &str, path: &str, body: &[u8]) -> Answer {
        let (host, origin, cookie) = (self.host(), self.origin(), self.cookie());
        let mut headers = vec![("Host", host.as_str()), ("Cookie", cookie.as_str())];
        if method != "GET" {
            headers.push(("Origin", origin.as_str()));
            headers.push(("Content-Type", "application/json"));
        }
        self.send_body(method, path, &headers, body).await
    }
}

impl Drop for UiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    fn parse(bytes: &[u8]) -> Answer {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An open `GET /api/ops/{id}/events` stream.
pub struct Events(BufReader<tokio::net::TcpStream>);

impl Events {
    pub async fn open(s: &UiServer, op: u64) -> Events {
        let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let req = format!(
            "GET /api/ops/{op}/events HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n\r\n",
            s.host(),
            s.cookie()
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        Events(BufReader::new(stream))
    }

    /// The next operation snapshot (skipping headers, chunk sizes and keep-alives).
    pub async fn next(&mut self) -> Option<Value> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.0.read_line(&mut line).await.unwrap() == 0 {
                return None;
            }
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                return Some(serde_json::from_str(data).unwrap());
            }
        }
    }
}

impl Events {
    /// Follows operation `op` from a fresh stream to its final snapshot.
    pub async fn until_done(s: &UiServer, op: u64) -> Value {
        let mut events = Events::open(s, op).await;
        loop {
            let snap = events
                .next()
                .await
                .expect("the stream ended before the operation");
            if snap["state"] != "running" {
                return snap;
            }
        }
    }
}
