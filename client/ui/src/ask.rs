//! The Ask panel's interface to a local RAG (`client/rag`, built separately). The UI only
//! renders what an [`Asker`] returns; without one it says that local RAG is not installed
//! in this build and answers nothing.

use std::future::Future;
use std::pin::Pin;

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};

/// A question over some of the user's files.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AskRequest {
    /// The files to answer from (file ids the user can read).
    pub files: Vec<B256>,
    pub question: String,
}

/// One place an answer comes from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Citation {
    pub file_id: B256,
    /// The file's name as sealed.
    pub name: String,
    /// Where in it: `row 17` of a CSV, `$.items[3]` of a JSON, `line 40`…
    pub locator: String,
    /// The cited text, as the RAG read it.
    pub excerpt: String,
}

/// An answer with where it comes from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AskAnswer {
    pub text: String,
    pub citations: Vec<Citation>,
}

/// Why a question got no answer; shown to the user as is.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AskError {
    pub message: String,
}

/// The unlocked user as the RAG sees it: the SDK's session (`zgvault_client::flows::Session`, to decrypt files locally).
pub type AskSession = crate::sdk::FlowSession;

/// A local question answerer. Implemented by the RAG crate; the UI calls it from the Ask
/// panel's endpoint with the unlocked user.
pub trait Asker: Send + Sync + 'static {
    fn ask<'a>(
        &'a self,
        user: &'a AskSession,
        request: AskRequest,
    ) -> Pin<Box<dyn Future<Output = Result<AskAnswer, AskError>> + Send + 'a>>;
}

/// Said when the build has no local RAG.
pub(crate) const NOT_INSTALLED: &str = "Local RAG is not installed in this build of zgvault: \
     questions over your files need the `rag` component, which answers on this computer \
     only. Nothing was sent anywhere.";
