use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::mpsc,
    thread,
};

use super::*;

/// What the fake server saw: the request line and the JSON body.
pub(crate) struct Seen {
    pub(crate) request_line: String,
    pub(crate) body: Value,
}

/// A one-shot HTTP server on 127.0.0.1:0 that answers with `status` and `reply` (written in
/// pieces, then the connection closes) and reports the request it got.
pub(crate) fn fake_server(
    status: u16,
    content_type: &str,
    reply: Vec<String>,
) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    let content_type = content_type.to_owned();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).expect("header");
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).expect("body");
        let _ = tx.send(Seen {
            request_line: request_line.trim().to_owned(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
        );
        let _ = stream.write_all(head.as_bytes());
        for piece in reply {
            let _ = stream.write_all(piece.as_bytes());
            let _ = stream.flush();
        }
    });
    (url, rx)
}

fn msgs() -> Vec<Message> {
    vec![
        Message::new(Role::System, "cite sources"),
        Message::new(Role::User, "When is the dentist?"),
    ]
}

#[test]
fn ollama_streams_ndjson_and_sizes_the_context() {
    let reply = vec![
        "{\"message\":{\"role\":\"assistant\",\"content\":\"14 March\"},\"done\":false}\n".into(),
        "{\"message\":{\"role\":\"assistant\",\"content\":\" at 9:30 [1]\"},\"done\":false}\n"
            .into(),
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"eval_count\":7}\n"
            .into(),
    ];
    let (url, seen) = fake_server(200, "application/x-ndjson", reply);
    let backend = Backend::Ollama {
        url,
        model: "llama3.2:3b".into(),
    };
    let mut pieces = Vec::new();
    let text = backend
        .chat(&msgs(), &mut |p| pieces.push(p.to_owned()))
        .expect("chat");
    assert_eq!(text, "14 March at 9:30 [1]");
    assert_eq!(pieces, vec!["14 March", " at 9:30 [1]"]);
    let seen = seen.recv().expect("request");
    assert_eq!(seen.request_line, "POST /api/chat HTTP/1.1");
    assert_eq!(seen.body["model"], "llama3.2:3b");
    assert_eq!(seen.body["stream"], true);
    assert_eq!(seen.body["messages"][1]["role"], "user");
    assert_eq!(seen.body["messages"][1]["content"], "When is the dentist?");
    assert_eq!(seen.body["options"]["num_ctx"], 4096);
}

#[test]
fn ollama_context_grows_with_the_prompt() {
    let long = vec![Message::new(Role::User, "x".repeat(30_000))];
    // 30 k chars ≈ 10 k tokens + 1 k for the answer → 12 k
    assert_eq!(ollama_num_ctx(&long), 12_288);
    assert_eq!(ollama_num_ctx(&msgs()), 4096);
}

#[test]
fn openai_streams_server_sent_events() {
    let reply = vec![
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n".into(),
        "data: {\"choices\":[{\"delta\":{\"content\":\"Casa\"}}]}\n\n".into(),
        "data: {\"choices\":[{\"delta\":{\"content\":\" Azul [2]\"}}]}\n\n".into(),
        "data: [DONE]\n\n".into(),
    ];
    let (url, seen) = fake_server(200, "text/event-stream", reply);
    let backend = Backend::OpenAi {
        url: format!("{url}/v1"),
        model: "qwen".into(),
        api_key_env: None,
    };
    let mut streamed = String::new();
    let text = backend
        .chat(&msgs(), &mut |p| streamed.push_str(p))
        .expect("chat");
    assert_eq!(text, "Casa Azul [2]");
    assert_eq!(streamed, text);
    let seen = seen.recv().expect("request");
    assert_eq!(seen.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(seen.body["stream"], true);
    assert_eq!(seen.body["model"], "qwen");
    assert_eq!(seen.body["messages"][0]["role"], "system");
}

#[test]
fn server_errors_are_reported_with_the_endpoint() {
    let (url, _seen) = fake_server(
        404,
        "application/json",
        vec!["{\"error\":\"model 'x' not found\"}".into()],
    );
    let backend = Backend::Ollama {
        url: url.clone(),
        model: "x".into(),
    };
    let err = backend.chat(&msgs(), &mut |_| {}).expect_err("404");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 404") && text.contains("not found") && text.contains(&url),
        "{text}"
    );
    // nothing listens on a closed port
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let backend = Backend::OpenAi {
        url: format!("http://{addr}"),
        model: "m".into(),
        api_key_env: None,
    };
    assert!(backend.chat(&msgs(), &mut |_| {}).is_err());
}

#[test]
fn config_round_trips_and_rejects_unknown_keys() {
    let b: Backend = serde_json::from_str(
        r#"{"backend":"ollama","url":"http://127.0.0.1:11434","model":"llama3.2:3b"}"#,
    )
    .expect("parse");
    assert_eq!(
        b,
        Backend::Ollama {
            url: "http://127.0.0.1:11434".into(),
            model: "llama3.2:3b".into()
        }
    );
    assert!(
        serde_json::from_str::<Backend>(r#"{"backend":"ollama","url":"u","model":"m","x":1}"#)
            .is_err()
    );
    assert_eq!(
        serde_json::from_str::<Backend>(r#"{"backend":"none"}"#).expect("none"),
        Backend::None
    );
}
