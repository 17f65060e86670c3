//! `zgvault ui`: the CLI serves the web app, as `zgvault ui --no-open` does for a user.
#![cfg(feature = "ui")]
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// The server, killed on drop.
struct Ui(Child);

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One raw HTTP/1.1 GET to `addr`; the status line and headers of the answer.
fn get(addr: &str, target: &str) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer.split("\r\n\r\n").next().unwrap().to_owned()
}

#[test]
fn ui_prints_its_session_url_and_serves_only_with_the_token() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zgvault"))
        .args(["ui", "--no-open"])
        .env("ZGVAULT_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let _ui = Ui(child);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("zgvault ui: http://")
        .unwrap_or_else(|| panic!("no session URL first: {line:?}"));
    let (addr, target) = url.split_at(url.find('/').unwrap());
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert!(target.starts_with("/?token="), "{target}");

    // The token turns into the session cookie, with a redirect that drops it from the URL.
    let answer = get(addr, target);
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert!(answer.contains("HttpOnly; SameSite=Strict"), "{answer}");
    // Without it (or with another), nothing is served.
    assert!(get(addr, "/").starts_with("HTTP/1.1 401"));
    assert!(get(addr, "/?token=00").starts_with("HTTP/1.1 401"));
}
