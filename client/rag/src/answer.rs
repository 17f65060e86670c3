//! What `ask` returns: the answer, how it was made, the query behind an exact answer, and a
//! citation for every source.

use serde::{Deserialize, Serialize};

use crate::chunk::Locator;

/// How an answer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// Computed by a query over a table; `Answer::query` holds it.
    Exact,
    /// Written by the configured language model from the cited passages.
    Generated,
    /// No language model configured: the passages that match best, quoted.
    Extractive,
    /// A table question the planner could not map: no number is given, only the passages
    /// that match best, and `Answer::note` says why.
    Retrieval,
}

/// A source of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The file's id as given to `ingest`.
    pub file_id: String,
    /// The file's name.
    pub file_name: String,
    /// Where in the file; None when the answer rests on the whole table.
    pub locator: Option<Locator>,
    /// The cited text, for passages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

impl Citation {
    pub(crate) fn new(file_id: &str, file_name: &str, locator: Option<Locator>) -> Self {
        Self {
            file_id: file_id.to_owned(),
            file_name: file_name.to_owned(),
            locator,
            excerpt: None,
        }
    }
}

impl std::fmt::Display for Citation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.locator {
            Some(l) => write!(f, "{}, {l}", self.file_name),
            None => f.write_str(&self.file_name),
        }
    }
}

/// An answer with its sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// How it was made.
    pub kind: AnswerKind,
    /// The answer for a person to read.
    pub text: String,
    /// For exact answers, the bare value (a number, a name, or several joined by ", ").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// For exact answers, the query that computed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The sources, in the order the text numbers them.
    pub citations: Vec<Citation>,
    /// Why the answer is of this kind, when that is not the obvious one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
