//! `docs/openapi.json` describes exactly the routes the node serves (public API and admin
//! socket), every `ErrorCode` with the HTTP status it is sent with, and `Retry-After`; the
//! fields `/v1/info` sends; and every route of the table the router is built from answers.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;

use alloy::transports::http::reqwest;
use common::Fixture;
use serde_json::Value;
use zgvault_node::{ADMIN_ROUTES, HTTP_ROUTES, http_status, serve_http};
use zgvault_proto::wire::ErrorCode;

fn openapi() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let text = std::fs::read_to_string(path).unwrap();
    let doc: Value = serde_json::from_str(&text).expect("docs/openapi.json parses");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    doc
}

#[test]
fn openapi_routes_are_the_served_routes() {
    let doc = openapi();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = HTTP_ROUTES
        .iter()
        .chain(ADMIN_ROUTES)
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn openapi_documents_every_error_code_with_its_status() {
    let doc = openapi();
    let responses = doc["paths"]["/v1/keys"]["post"]["responses"]
        .as_object()
        .unwrap();
    let mut used = BTreeSet::from(["200".to_owned()]);
    let mut known = 0;
    for value in 0..64 {
        let Ok(code) = ErrorCode::try_from(value) else {
            continue;
        };
        known += 1;
        let status = http_status(code).to_string();
        let response = responses
            .get(&status)
            .unwrap_or_else(|| panic!("{} is sent as {status}, undocumented", code.as_str_name()));
        let description = response["description"].as_str().unwrap();
        assert!(
            description.contains(code.as_str_name()),
            "{} not named under {status}",
            code.as_str_name()
        );
        if matches!(code, ErrorCode::RateLimited | ErrorCode::ChainUnavailable) {
            assert!(
                response["headers"]["Retry-After"].is_object(),
                "{status} must document Retry-After"
            );
        }
        used.insert(status);
    }
    assert!(known >= 19, "every wire code checked");
    let documented: BTreeSet<String> = responses.keys().cloned().collect();
    assert_eq!(documented, used, "no status documented that is never sent");
}

#[tokio::test]
async fn every_route_in_the_table_is_served() {
    let f = Fixture::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_http(listener, f.service.clone(), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for (method, path) in HTTP_ROUTES {
        let url = format!("http://{addr}{path}");
        let answer = match *method {
            "get" => client.get(url).send().await.unwrap(),
            "post" => client.post(url).body(b"x".to_vec()).send().await.unwrap(),
            other => panic!("method {other} not covered"),
        };
        let status = answer.status().as_u16();
        assert!(status != 404 && status != 405, "{method} {path}: {status}");
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// `/v1/info` sends exactly the fields the `NodeInfo` schema lists, every required one, and
/// the gate's block window as configured (clients pick `atBlock` from it).
#[tokio::test]
async fn openapi_node_info_is_what_info_sends() {
    let doc = openapi();
    let schema = &doc["components"]["schemas"]["NodeInfo"];
    let documented: BTreeSet<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let f = Fixture::with_config(|c| c.chain.confirmations = 3);
    let sent = serde_json::to_value(f.service.info()).unwrap();
    let fields: BTreeSet<String> = sent.as_object().unwrap().keys().cloned().collect();
    assert_eq!(documented, fields);
    for required in schema["required"].as_array().unwrap() {
        let name = required.as_str().unwrap();
        assert!(!sent[name].is_null(), "required field {name} is null");
    }
    assert_eq!(sent["confirmations"], 3);
    assert_eq!(
        sent["freshness_blocks"],
        zgvault_node::DEFAULT_FRESHNESS_BLOCKS
    );
}
