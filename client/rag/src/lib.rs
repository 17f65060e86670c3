#![doc = include_str!("../README.md")]

mod answer;
mod at_rest;
mod chat;
mod chunk;
mod embed;
#[cfg(feature = "llm-embedded")]
mod embedded;
mod error;
mod exact;
mod generate;
mod index;
mod library;
mod llm_sql;
mod planner;
mod prompt;
mod store;
mod table;

pub use answer::{Answer, AnswerKind, Citation};
pub use at_rest::MIN_KEY_LEN;
pub use chat::{MAX_TURNS, Turn};
pub use chunk::{Chunk, FileKind, Locator, TextOptions, chunk_file, chunk_text, parse_csv};
pub use embed::{
    Embedder, MINILM_DIR, MODEL_ENV, MODELS_DIR_ENV, MiniLm, locate_minilm, models_dir,
};
#[cfg(feature = "llm-embedded")]
pub use embedded::{EmbeddedLlm, MAX_NEW_TOKENS};
pub use error::{Error, Result};
pub use generate::{Backend, GENERATION_TIMEOUT, Message, Role, ollama_num_ctx};
pub use index::{RRF_K, rrf};
pub use library::{
    CANDIDATES, CONTEXT_CHUNKS, EXTRACTIVE_CHUNKS, FileInfo, Hit, IngestReport, Library,
    MAX_FILE_BYTES, Scope,
};
pub use prompt::HISTORY_TURNS;
