//! Chat sessions: questions with their answers, kept per session, sent back to the model as
//! context, sealed on disk like everything else.

use serde::{Deserialize, Serialize};

use crate::{
    answer::Answer,
    at_rest,
    error::Result,
    generate::Backend,
    library::{Library, Scope},
};

/// Turns kept per session; older ones are dropped.
pub const MAX_TURNS: usize = 200;

/// One question and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// What was asked.
    pub question: String,
    /// The files it was asked about (empty: the whole library).
    pub scope: Vec<String>,
    /// What was answered.
    pub answer: Answer,
}

impl Library {
    /// Asks within a chat session: earlier turns go to the model as context and a short
    /// follow-up is searched together with the previous question. The turn is stored.
    pub fn chat(
        &mut self,
        session: &str,
        scope: &Scope,
        question: &str,
        backend: &Backend,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Answer> {
        let history = self.chats.get(session).cloned().unwrap_or_default();
        let answer = self.answer(scope, question, &history, backend, on_token)?;
        let scope_ids = self.resolve(scope)?.unwrap_or_default();
        let turns = self.chats.entry(session.to_owned()).or_default();
        turns.push(Turn {
            question: question.to_owned(),
            scope: scope_ids,
            answer: answer.clone(),
        });
        if turns.len() > MAX_TURNS {
            let extra = turns.len() - MAX_TURNS;
            turns.drain(..extra);
        }
        self.save_chat(session)?;
        Ok(answer)
    }

    /// The turns of a session, oldest first.
    pub fn history(&self, session: &str) -> &[Turn] {
        self.chats.get(session).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The sessions with history.
    pub fn chat_sessions(&self) -> Vec<String> {
        self.chats.keys().cloned().collect()
    }

    /// Deletes a session's history.
    pub fn clear_chat(&mut self, session: &str) -> Result<()> {
        self.chats.remove(session);
        at_rest::remove(&self.chat_path(session)?)
    }

    fn save_chat(&self, session: &str) -> Result<()> {
        let path = self.chat_path(session)?;
        match self.chats.get(session) {
            Some(turns) if !turns.is_empty() => {
                let plain = zeroize::Zeroizing::new(
                    serde_json::to_vec(&(session, turns)).unwrap_or_default(),
                );
                self.keys().write(&path, &plain)
            }
            _ => at_rest::remove(&path),
        }
    }

    /// Drops every turn that was asked about the file or cites it.
    pub(crate) fn forget_in_chats(&mut self, file_id: &str) -> Result<()> {
        let mut changed = Vec::new();
        for (session, turns) in &mut self.chats {
            let before = turns.len();
            turns.retain(|t| {
                !t.scope.iter().any(|f| f == file_id)
                    && !t.answer.citations.iter().any(|c| c.file_id == file_id)
            });
            if turns.len() != before {
                changed.push(session.clone());
            }
        }
        for session in changed {
            if self.chats.get(&session).is_some_and(Vec::is_empty) {
                self.chats.remove(&session);
            }
            self.save_chat(&session)?;
        }
        Ok(())
    }
}
