//! Generation backends: the user's own Ollama (`/api/chat`, newline-delimited JSON) or any
//! OpenAI-compatible server (`/v1/chat/completions`, server-sent events), streamed token by
//! token to a callback. Plain HTTP, meant for a server on the same machine.

use std::{
    io::{BufRead, BufReader, Read},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Time to get the whole answer; a local model on a CPU can be slow.
pub const GENERATION_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest line read from a streaming reply.
const MAX_LINE: u64 = 1 << 20;
/// Longest answer kept.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Tokens reserved for the answer when sizing Ollama's context window.
const ANSWER_TOKENS: usize = 1024;
/// Smallest and largest `num_ctx` sent to Ollama.
const MIN_CTX: usize = 4096;
const MAX_CTX: usize = 131_072;

/// Which language model writes answers. Part of the user's config (`[rag]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
pub enum Backend {
    /// None: answers are extractive (the best passages, quoted and cited).
    #[default]
    None,
    /// An Ollama server, e.g. `url = "http://127.0.0.1:11434"`.
    Ollama {
        /// Base URL.
        url: String,
        /// Model name, e.g. `llama3.2:3b`.
        model: String,
    },
    /// An OpenAI-compatible server (llama.cpp `llama-server`, LM Studio, vLLM, Ollama's
    /// `/v1`), e.g. `url = "http://127.0.0.1:8080"`.
    OpenAi {
        /// Base URL, with or without the trailing `/v1`.
        url: String,
        /// Model name.
        model: String,
        /// Name of an environment variable holding a bearer token, if the server wants one
        /// (the token itself is never in the config).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_key_env: Option<String>,
    },
    /// A GGUF chat model run on this device (feature `llm-embedded`), loaded for each answer.
    #[cfg(feature = "llm-embedded")]
    Embedded {
        /// The model file.
        gguf: std::path::PathBuf,
    },
}

/// Who says a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl Message {
    pub(crate) fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// Ollama's context window for a prompt: the prompt's estimated tokens (3 characters each,
/// a safe over-estimate for English) plus room for the answer, rounded up to 2 k. Ollama's
/// default (2 k) silently cuts longer prompts.
pub fn ollama_num_ctx(messages: &[Message]) -> usize {
    let chars: usize = messages.iter().map(|m| m.content.len() + 8).sum();
    let need = chars / 3 + ANSWER_TOKENS;
    need.div_ceil(2048)
        .saturating_mul(2048)
        .clamp(MIN_CTX, MAX_CTX)
}

impl Backend {
    /// Whether a model is configured.
    pub fn is_some(&self) -> bool {
        !matches!(self, Backend::None)
    }

    /// Sends the conversation and streams the reply to `on_token`; returns the whole reply.
    pub fn chat(&self, messages: &[Message], on_token: &mut dyn FnMut(&str)) -> Result<String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(GENERATION_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        match self {
            Backend::None => Err(Error::Backend {
                backend: "none",
                url: String::new(),
                what: "no language model is configured".into(),
            }),
            #[cfg(feature = "llm-embedded")]
            Backend::Embedded { gguf } => crate::embedded::EmbeddedLlm::load(gguf)?.chat(
                messages,
                crate::embedded::MAX_NEW_TOKENS,
                on_token,
            ),
            Backend::Ollama { url, model } => {
                let endpoint = format!("{}/api/chat", url.trim_end_matches('/'));
                let body = json!({
                    "model": model,
                    "messages": messages,
                    "stream": true,
                    "options": { "num_ctx": ollama_num_ctx(messages) },
                });
                let fail = |what: String| Error::Backend {
                    backend: "ollama",
                    url: endpoint.clone(),
                    what,
                };
                let reader = post(&agent, &endpoint, &body, None).map_err(&fail)?;
                let mut out = String::new();
                for line in lines(reader) {
                    let line = line.map_err(&fail)?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let v: Value = serde_json::from_str(&line)
                        .map_err(|e| fail(format!("bad stream line: {e}")))?;
                    if let Some(err) = v.get("error").and_then(Value::as_str) {
                        return Err(fail(err.to_owned()));
                    }
                    if let Some(piece) = v.pointer("/message/content").and_then(Value::as_str) {
                        push(&mut out, piece, on_token);
                    }
                    if v.get("done").and_then(Value::as_bool) == Some(true) {
                        return Ok(out);
                    }
                }
                Err(fail("the stream ended before \"done\"".into()))
            }
            Backend::OpenAi {
                url,
                model,
                api_key_env,
            } => {
                let base = url.trim_end_matches('/');
                let base = base.strip_suffix("/v1").unwrap_or(base);
                let endpoint = format!("{base}/v1/chat/completions");
                let body = json!({ "model": model, "messages": messages, "stream": true });
                let fail = |what: String| Error::Backend {
                    backend: "openai-compatible server",
                    url: endpoint.clone(),
                    what,
                };
                let token = match api_key_env {
                    Some(var) => Some(std::env::var(var).map_err(|_| {
                        fail(format!(
                            "the environment variable {var} (api_key_env) is not set"
                        ))
                    })?),
                    None => None,
                };
                let reader = post(&agent, &endpoint, &body, token.as_deref()).map_err(&fail)?;
                let mut out = String::new();
                for line in lines(reader) {
                    let line = line.map_err(&fail)?;
                    let Some(data) = line.strip_prefix("data:") else {
                        continue;
                    };
                    let data = data.trim();
                    if data == "[DONE]" {
                        return Ok(out);
                    }
                    let v: Value =
                        serde_json::from_str(data).map_err(|e| fail(format!("bad event: {e}")))?;
                    if let Some(err) = v.get("error") {
                        return Err(fail(err.to_string()));
                    }
                    if let Some(piece) = v
                        .pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                    {
                        push(&mut out, piece, on_token);
                    }
                }
                // Some servers close without [DONE]; what arrived is the answer.
                if out.is_empty() {
                    Err(fail("the stream ended with no answer".into()))
                } else {
                    Ok(out)
                }
            }
        }
    }
}

fn push(out: &mut String, piece: &str, on_token: &mut dyn FnMut(&str)) {
    if !piece.is_empty() && out.len() + piece.len() <= MAX_ANSWER_BYTES {
        out.push_str(piece);
        on_token(piece);
    }
}

fn post(
    agent: &ureq::Agent,
    endpoint: &str,
    body: &Value,
    bearer: Option<&str>,
) -> std::result::Result<Box<dyn Read + Send>, String> {
    let mut req = agent
        .post(endpoint)
        .header("Content-Type", "application/json")
        .header("Accept", "application/x-ndjson, text/event-stream");
    if let Some(token) = bearer {
        req = req.header("Authorization", &format!("Bearer {token}"));
    }
    let resp = req
        .send(body.to_string())
        .map_err(|e| format!("cannot reach the server: {e}"))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    if !(200..300).contains(&status) {
        let text = body
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default();
        return Err(format!("HTTP {status}: {}", text.trim()));
    }
    Ok(Box::new(body.into_reader()))
}

fn lines(
    reader: Box<dyn Read + Send>,
) -> impl Iterator<Item = std::result::Result<String, String>> {
    let mut reader = BufReader::new(reader);
    std::iter::from_fn(move || {
        let mut buf = Vec::new();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => Some(
                String::from_utf8(buf)
                    .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
                    .map_err(|_| "the stream is not UTF-8".to_owned()),
            ),
            Err(e) => Some(Err(format!("reading the stream: {e}"))),
        }
    })
}

#[cfg(test)]
pub(crate) mod tests;
