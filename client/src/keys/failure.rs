//! What went wrong with each node during a recovery, and how to say it once.

use std::{fmt, time::Duration};

use zgvault_proto::{threshold::CulpritReason, wire::ErrorCode};

use super::Transport;
use crate::error::quoted;

/// A node whose answer was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFailure {
    /// The node's 0-based index.
    pub node_index: u32,
    /// The transport it was asked over (`None` if it offers none).
    pub via: Option<Transport>,
    /// What went wrong.
    pub kind: FailureKind,
}

/// The ways one node can fail a recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The node answered with an error reply.
    Refused(Refusal),
    /// The node could not be reached (connection refused, dial failure, reset).
    Unreachable {
        /// What the transport said.
        message: String,
    },
    /// The node did not answer within the per-node or overall timeout.
    TimedOut {
        /// The timeout that ran out.
        after: Duration,
    },
    /// The HTTP API answered with an error status and no protocol message.
    HttpStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// The answer is not a protocol message, or not the one expected.
    Malformed {
        /// What was wrong.
        message: String,
    },
    /// The sealed answer could not be opened with the request's response key.
    Unsealable,
    /// The opened share was refused by the combiner (does not verify, malformed, ...).
    BadShare(CulpritReason),
    /// The node has neither an HTTP URL nor a libp2p address.
    NoTransport,
}

impl FailureKind {
    /// The transport did not reach the node (nothing was answered): another transport may.
    pub(crate) fn is_unreached(&self) -> bool {
        matches!(
            self,
            FailureKind::Unreachable { .. }
                | FailureKind::HttpStatus { .. }
                | FailureKind::TimedOut { .. }
        )
    }

    /// The culprit reason reported to the combiner for this failure.
    pub(crate) fn culprit_reason(&self) -> CulpritReason {
        match self {
            FailureKind::Refused(_) => CulpritReason::Refused,
            FailureKind::Unsealable => CulpritReason::Unsealable,
            FailureKind::Malformed { .. } => CulpritReason::Malformed,
            FailureKind::BadShare(reason) => *reason,
            FailureKind::Unreachable { .. }
            | FailureKind::TimedOut { .. }
            | FailureKind::HttpStatus { .. }
            | FailureKind::NoTransport => CulpritReason::Unreachable,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Refused(refusal)
                if refusal.code == ErrorCode::RateLimited && refusal.retry_after_secs > 0 =>
            {
                write!(
                    f,
                    "is rate-limiting you: retry in {} s ({})",
                    refusal.retry_after_secs,
                    quoted(&refusal.message)
                )
            }
            FailureKind::Refused(refusal) => write!(f, "refused: {refusal}"),
            FailureKind::Unreachable { message } => write!(f, "unreachable ({message})"),
            FailureKind::TimedOut { after } => {
                write!(f, "no answer within {} ms", after.as_millis())
            }
            FailureKind::HttpStatus { status } => write!(f, "answered HTTP {status}"),
            FailureKind::Malformed { message } => write!(f, "sent a malformed answer ({message})"),
            FailureKind::Unsealable => f.write_str("sent an answer that cannot be opened"),
            FailureKind::BadShare(reason) => write!(f, "sent a bad share ({reason})"),
            FailureKind::NoTransport => f.write_str("has no HTTP URL and no libp2p address"),
        }
    }
}

/// A node's error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The machine-readable reason.
    pub code: ErrorCode,
    /// What the node said (at most 1024 bytes, from the node: untrusted text).
    pub message: String,
    /// Seconds the node asks to wait before retrying; 0 means do not retry unchanged.
    pub retry_after_secs: u32,
}

impl Refusal {
    /// What the user can do about this refusal.
    pub fn advice(&self) -> &'static str {
        code_advice(self.code)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code.as_str_name(), quoted(&self.message))
    }
}

/// What to do about a refusal code.
pub(crate) fn code_advice(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::AccessDenied => {
            "the file's policy does not grant this address access: ask the owner for access \
             (or obtain the access pass), then retry"
        }
        ErrorCode::Expired => {
            "the request was outside its validity window: check this machine's clock and retry"
        }
        ErrorCode::Replay => "the nodes saw this request before: retry, a new request is signed",
        ErrorCode::StaleBlock | ErrorCode::NotConfirmed => {
            "the request's block is too old or not yet deep enough: retry with a recent block"
        }
        ErrorCode::CapsuleMismatch => {
            "the capsule is not the registered one: re-read the file's record from the registry"
        }
        ErrorCode::ChainUnavailable => "the nodes cannot read the chain right now: retry later",
        ErrorCode::UnknownFile => {
            "the nodes know no such file: check the file id and the network profile"
        }
        ErrorCode::RateLimited => {
            "the nodes limit how many requests one signer may send: wait the time they name \
             and retry"
        }
        ErrorCode::WrongDomain => {
            "the nodes serve another chain or registry: check the network profile"
        }
        ErrorCode::WrongScheme => "the file uses another custody scheme: check its record",
        ErrorCode::UnsupportedVersion => "the nodes speak another protocol version: upgrade",
        ErrorCode::Shredded => {
            "the owner shredded this file's key there: only a deposit signed after the shred \
             restores it"
        }
        ErrorCode::NotOwner => "only the file's owner can do this: use the owner's account",
        ErrorCode::BadSignature | ErrorCode::Malformed | ErrorCode::TooLarge => {
            "the nodes could not read the request: this is likely a bug in zgvault, report it"
        }
        _ => "retry; if it repeats, tell the node operators",
    }
}

/// Every node that failed a recovery, printed grouped: nodes that failed the same way are
/// named together, so `n` identical refusals read as one sentence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFailures(pub Vec<NodeFailure>);

impl NodeFailures {
    /// The refusal every failed node gave, if they all refused with the same code.
    pub fn common_refusal(&self) -> Option<(ErrorCode, Vec<u32>, Vec<String>)> {
        let first = match &self.0.first()?.kind {
            FailureKind::Refused(refusal) => refusal.code,
            _ => return None,
        };
        let mut nodes = Vec::new();
        let mut messages: Vec<String> = Vec::new();
        for failure in &self.0 {
            let FailureKind::Refused(refusal) = &failure.kind else {
                return None;
            };
            if refusal.code != first {
                return None;
            }
            nodes.push(failure.node_index);
            if !messages.contains(&refusal.message) {
                messages.push(refusal.message.clone());
            }
        }
        Some((first, nodes, messages))
    }

    /// What the user can do next, judged from the most common failure.
    pub fn advice(&self) -> &'static str {
        let refused = self
            .0
            .iter()
            .filter_map(|f| match &f.kind {
                FailureKind::Refused(r) => Some(r.code),
                _ => None,
            })
            .next();
        let unreachable = self.0.iter().all(|f| {
            matches!(
                f.kind,
                FailureKind::Unreachable { .. }
                    | FailureKind::TimedOut { .. }
                    | FailureKind::HttpStatus { .. }
                    | FailureKind::NoTransport
            )
        });
        match refused {
            Some(code) => code_advice(code),
            None if unreachable => {
                "check that the nodes are running and reachable (`zgvault-testnet status` on \
                 the devnet), then retry"
            }
            None => "the named nodes misbehave: retry, and report them to their operators",
        }
    }
}

impl fmt::Display for NodeFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no node failed");
        }
        // Group by the printed failure so equal failures are said once, in first-seen order.
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        for failure in &self.0 {
            let what = failure.kind.to_string();
            match groups.iter_mut().find(|(w, _)| *w == what) {
                Some((_, nodes)) => nodes.push(failure.node_index),
                None => groups.push((what, vec![failure.node_index])),
            }
        }
        for (i, (what, nodes)) in groups.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let list = list_nodes(nodes);
            let noun = if nodes.len() == 1 { "node" } else { "nodes" };
            write!(f, "{noun} {list} {what}")?;
        }
        Ok(())
    }
}

/// Prints node indices as `0, 1, 2`.
pub(crate) fn list_nodes(nodes: &[u32]) -> String {
    nodes
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the distinct refusal messages of nodes that all refused with one code.
pub(crate) fn quote_messages(messages: &[String]) -> String {
    messages
        .iter()
        .map(|m| quoted(m).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(node_index: u32, code: ErrorCode, message: &str) -> NodeFailure {
        NodeFailure {
            node_index,
            via: Some(Transport::Http),
            kind: FailureKind::Refused(Refusal {
                code,
                message: message.into(),
                retry_after_secs: 0,
            }),
        }
    }

    #[test]
    fn equal_failures_are_said_once() {
        let failures = NodeFailures(vec![
            refused(0, ErrorCode::AccessDenied, "no pass"),
            refused(1, ErrorCode::AccessDenied, "no pass"),
            NodeFailure {
                node_index: 2,
                via: None,
                kind: FailureKind::NoTransport,
            },
        ]);
        let text = failures.to_string();
        assert_eq!(text.matches("ACCESS_DENIED").count(), 1, "{text}");
        assert!(text.contains("nodes 0, 1 refused"), "{text}");
        assert!(text.contains("node 2 has no HTTP URL"), "{text}");
        assert!(failures.common_refusal().is_none());
    }

    #[test]
    fn common_refusal_needs_one_code() {
        let same = NodeFailures(vec![
            refused(0, ErrorCode::AccessDenied, "a"),
            refused(1, ErrorCode::AccessDenied, "a"),
        ]);
        let (code, nodes, messages) = same.common_refusal().unwrap_or_else(|| panic!("common"));
        assert_eq!(
            (code, nodes, messages),
            (ErrorCode::AccessDenied, vec![0, 1], vec!["a".into()])
        );
        let mixed = NodeFailures(vec![
            refused(0, ErrorCode::AccessDenied, "a"),
            refused(1, ErrorCode::Expired, "b"),
        ]);
        assert!(mixed.common_refusal().is_none());
    }
}
