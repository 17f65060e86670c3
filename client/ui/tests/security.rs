//! The local server's refusals, each with real HTTP requests to the running `zgvault-ui`
//! binary: what a web page the user visits, a DNS-rebinding site, another local server's
//! page or another process could send.
#![allow(clippy::unwrap_used)]

mod common;

use common::UiServer;
use zgvault_ui::{CSP, Error, ServeOptions, Server};

fn server() -> (tempfile::TempDir, UiServer) {
    let home = tempfile::tempdir().unwrap();
    let server = UiServer::start(home.path(), &[]);
    (home, server)
}

#[tokio::test]
async fn the_token_url_sets_a_strict_http_only_cookie_and_strips_itself() {
    let (_home, s) = server();
    let host = s.host();
    let path = format!("/?token={}", s.token);
    let a = s.send("GET", &path, &[("Host", &host)]).await;
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(
        a.header("location"),
        Some("/"),
        "the token must leave the URL"
    );
    let cookie = a.header("set-cookie").unwrap();
    assert!(cookie.starts_with(&s.cookie()), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    // With the cookie: the page and the API answer.
    let page = s.ours("GET", "/", b"").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<!doctype html>"), "{}", page.body);
    let session = s.ours("GET", "/api/session", b"").await;
    assert_eq!(session.status, 200, "{session:?}");
    assert!(
        session.body.contains("\"unlocked\":false"),
        "{}",
        session.body
    );
}

#[tokio::test]
async fn fail_requests_without_the_session_are_refused() {
    let (_home, s) = server();
    let host = s.host();
    for path in ["/", "/app.js", "/api/session", "/api/files", "/api/ops"] {
        let a = s.send("GET", path, &[("Host", &host)]).await;
        assert_eq!(a.status, 401, "{path}: {a:?}");
        assert!(a.body.contains("no session"), "{path}: {}", a.body);
        assert!(
            !a.body.contains("<script"),
            "a refusal must not serve the app"
        );
    }
    let origin = s.origin();
    let a = s
        .send(
            "POST",
            "/api/identity/unlock",
            &[
                ("Host", &host),
                ("Origin", &origin),
                ("Content-Type", "application/json"),
            ],
        )
        .await;
    assert_eq!(a.status, 401, "{a:?}");
}

#[tokio::test]
async fn fail_a_wrong_token_is_refused_in_the_url_and_in_the_cookie() {
    let (_home, s) = server();
    let host = s.host();
    // One character off, same length.
    let mut wrong = s.token.clone();
    let last = if wrong.ends_with('0') { "1" } else { "0" };
    wrong.replace_range(wrong.len() - 1.., last);
    let a = s
        .send("GET", &format!("/?token={wrong}"), &[("Host", &host)])
        .await;
    assert_eq!(a.status, 401, "{a:?}");
    assert!(
        a.header("set-cookie").is_none(),
        "no cookie for a wrong token"
    );
    assert!(a.body.contains("token is wrong"), "{}", a.body);

    let cookie = format!("zgvault_ui_{}={wrong}", s.addr.port());
    let a = s
        .send(
            "GET",
            "/api/session",
            &[("Host", &host), ("Cookie", &cookie)],
        )
        .await;
    assert_eq!(a.status, 401, "{a:?}");
    // Another run's cookie (another port's name) is not ours either.
    let other = format!("zgvault_ui_{}={}", s.addr.port() ^ 1, s.token);
    let a = s
        .send(
            "GET",
            "/api/session",
            &[("Host", &host), ("Cookie", &other)],
        )
        .await;
    assert_eq!(a.status, 401, "{a:?}");
    // The right token in the URL of a POST is refused too: only the page load takes it.
    let origin = s.origin();
    let a = s
        .send(
            "POST",
            &format!("/api/identity/lock?token={}", s.token),
            &[("Host", &host), ("Origin", &origin)],
        )
        .await;
    assert_eq!(a.status, 401, "{a:?}");
}

#[tokio::test]
async fn fail_a_foreign_origin_is_refused_even_with_the_session() {
    let (_home, s) = server();
    let (host, cookie) = (s.host(), s.cookie());
    let other_port = format!("http://127.0.0.1:{}", s.addr.port() ^ 1);
    for origin in [
        "http://evil.example",
        "https://127.0.0.1",
        other_port.as_str(),
        "null",
    ] {
        for method in ["POST", "GET"] {
            let a = s
                .send(
                    method,
                    "/api/identity/lock",
                    &[("Host", &host), ("Cookie", &cookie), ("Origin", origin)],
                )
                .await;
            assert_eq!(a.status, 403, "{method} from {origin}: {a:?}");
            assert!(a.body.contains("another web site"), "{}", a.body);
        }
    }
    // Our own origin passes (the control).
    let a = s.ours("POST", "/api/identity/lock", b"").await;
    assert_eq!(a.status, 200, "{a:?}");
}

#[tokio::test]
async fn fail_a_change_without_an_origin_is_refused() {
    let (_home, s) = server();
    let (host, cookie) = (s.host(), s.cookie());
    let a = s
        .send(
            "POST",
            "/api/identity/lock",
            &[("Host", &host), ("Cookie", &cookie)],
        )
        .await;
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.body.contains("without an Origin"), "{}", a.body);
}

#[tokio::test]
async fn fail_requests_from_another_site_or_local_server_are_refused() {
    let (_home, s) = server();
    let (host, cookie) = (s.host(), s.cookie());
    // A page on another port of 127.0.0.1 is "same-site": its SameSite cookie is sent, so
    // the browser's Sec-Fetch-Site is what tells it apart (e.g. an <img> GET).
    for site in ["same-site", "cross-site"] {
        let a = s
            .send(
                "GET",
                "/api/files",
                &[
                    ("Host", &host),
                    ("Cookie", &cookie),
                    ("Sec-Fetch-Site", site),
                ],
            )
            .await;
        assert_eq!(a.status, 403, "{site}: {a:?}");
    }
    for site in ["same-origin", "none"] {
        let a = s
            .send(
                "GET",
                "/api/session",
                &[
                    ("Host", &host),
                    ("Cookie", &cookie),
                    ("Sec-Fetch-Site", site),
                ],
            )
            .await;
        assert_eq!(a.status, 200, "{site}: {a:?}");
    }
}

#[tokio::test]
async fn fail_a_wrong_or_rebound_host_is_refused() {
    let (_home, s) = server();
    let cookie = s.cookie();
    let port = s.addr.port();
    let rebound = format!("attacker.example:{port}");
    let other_port = format!("127.0.0.1:{}", port ^ 1);
    let no_port = "localhost".to_owned();
    let lan = format!("192.168.1.10:{port}");
    for host in [&rebound, &other_port, &no_port, &lan] {
        // With the token in the URL (a rebinding page can't know it, but it must not
        // matter) and with a stolen cookie.
        let path = format!("/?token={}", s.token);
        let a = s.send("GET", &path, &[("Host", host)]).await;
        assert_eq!(a.status, 421, "Host {host}: {a:?}");
        assert!(a.header("set-cookie").is_none());
        let a = s
            .send(
                "GET",
                "/api/session",
                &[("Host", host), ("Cookie", &cookie)],
            )
            .await;
        assert_eq!(a.status, 421, "Host {host}: {a:?}");
        assert!(a.body.contains("Host header"), "{}", a.body);
    }
    // An absolute-form request line naming another authority.
    let host = s.host();
    let a = s
        .send(
            "GET",
            &format!("http://attacker.example:{port}/api/session"),
            &[("Host", &host), ("Cookie", &cookie)],
        )
        .await;
    assert_eq!(a.status, 421, "{a:?}");
    // localhost with our port is ours.
    let local = format!("localhost:{port}");
    let a = s
        .send(
            "GET",
            "/api/session",
            &[("Host", &local), ("Cookie", &cookie)],
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
}

#[tokio::test]
async fn every_answer_carries_the_csp_and_the_security_headers() {
    let (_home, s) = server();
    let host = s.host();
    let refused = s.send("GET", "/", &[("Host", &host)]).await;
    let page = s.ours("GET", "/", b"").await;
    let api = s.ours("GET", "/api/session", b"").await;
    for a in [&refused, &page, &api] {
        assert_eq!(a.header("content-security-policy"), Some(CSP), "{a:?}");
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(a.header("x-frame-options"), Some("DENY"));
        assert_eq!(a.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(a.header("cache-control"), Some("no-store"));
        assert!(a.header("access-control-allow-origin").is_none());
    }
    assert!(CSP.contains("script-src 'self'") && !CSP.contains("unsafe"));
    // The page loads only its own files: no URL of another host in the page or the
    // styles (the script names block explorers only as links the user may follow; the
    // CSP's connect-src 'self' keeps it from fetching anything else).
    for path in ["/", "/app.css"] {
        let a = s.ours("GET", path, b"").await;
        assert_eq!(a.status, 200, "{path}");
        assert!(!a.body.contains("https://"), "{path} names a remote URL");
    }
    let script = s.ours("GET", "/app.js", b"").await;
    assert_eq!(script.status, 200);
    assert!(
        !script.body.contains("innerHTML"),
        "pages are built with textContent only"
    );
}

#[tokio::test]
async fn fail_listening_on_anything_but_loopback_is_refused() {
    for ip in ["0.0.0.0", "::", "192.0.2.1", "::ffff:127.0.0.1"] {
        let opts = ServeOptions {
            ip: ip.parse().unwrap(),
            open_browser: false,
            ..ServeOptions::default()
        };
        match Server::bind(opts).await {
            Err(Error::NotLoopback { .. }) => {}
            other => panic!("{ip}: {other:?}"),
        }
    }
    // And the binary says so and exits.
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zgvault-ui"))
        .args(["--no-open", "--listen", "0.0.0.0"])
        .env("ZGVAULT_HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0"), "{err}");
}

#[tokio::test]
async fn the_ask_panel_says_local_rag_is_not_installed_and_answers_nothing() {
    let (_home, s) = server();
    let a = s
        .ours(
            "POST",
            "/api/ask",
            br#"{"files":["0x0000000000000000000000000000000000000000000000000000000000000001"],"question":"total?"}"#,
        )
        .await;
    assert_eq!(a.status, 501, "{a:?}");
    assert!(a.body.contains("rag_not_installed"), "{}", a.body);
    assert!(a.body.contains("not installed in this build"), "{}", a.body);
}
