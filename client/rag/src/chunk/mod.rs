//! Splitting a file's plaintext into chunks that carry their own citation: the line range
//! (text), the row (CSV) or the record path (JSON).

mod csv;
mod json;
mod text;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use self::csv::parse_csv;
pub(crate) use self::json::json_table;

/// Where in its file a chunk (or a cited row) comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Locator {
    /// Lines `start..=end` of a text file, 1-based.
    Lines {
        /// First line.
        start: u32,
        /// Last line (inclusive).
        end: u32,
    },
    /// One data row of a CSV file, 1-based, the header not counted.
    Row {
        /// The row number.
        row: u32,
    },
    /// One record of a JSON file, by its key path (`orders[3]`, `settings.wifi`).
    Record {
        /// The key path; `$` is the top level.
        path: String,
    },
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Locator::Lines { start, end } if start == end => write!(f, "line {start}"),
            Locator::Lines { start, end } => write!(f, "lines {start}-{end}"),
            Locator::Row { row } => write!(f, "row {row}"),
            Locator::Record { path } => write!(f, "record {path}"),
        }
    }
}

/// The format a file is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Comma-separated values with a header row.
    Csv,
    /// JSON.
    Json,
    /// Plain text or markdown.
    Text,
}

impl FileKind {
    /// The kind from the file name's extension; anything unknown is text.
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            FileKind::Csv
        } else if lower.ends_with(".json") {
            FileKind::Json
        } else {
            FileKind::Text
        }
    }
}

/// One piece of a file, as indexed and embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The text that is indexed, embedded and shown.
    pub text: String,
    /// Where it comes from.
    pub locator: Locator,
}

impl Chunk {
    /// SHA-256 of the text: a chunk with the same text is never embedded twice.
    pub(crate) fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.text.as_bytes()).into()
    }
}

/// Splits a file into chunks by its kind. A JSON file that does not parse is read as text.
pub fn chunk_file(kind: FileKind, text: &str) -> Vec<Chunk> {
    match kind {
        FileKind::Csv => csv::chunk_csv(text),
        FileKind::Json => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => json::chunk_json(&value),
            Err(_) => text::chunk_text(text, &text::TextOptions::default()),
        },
        FileKind::Text => text::chunk_text(text, &text::TextOptions::default()),
    }
}

pub use self::text::TextOptions;

/// Chunks text with explicit options (chunk size and overlap, in words).
pub fn chunk_text(text: &str, options: &TextOptions) -> Vec<Chunk> {
    text::chunk_text(text, options)
}
