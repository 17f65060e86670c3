//! What both combiners share: the tally of good contributions and of culprits.
//!
//! Neither library checks contributions when combining (blsttc's `decrypt` and vsss-rs's
//! `combine` both return garbage for a bad share, and vsss-rs even for too few shares), so
//! each contribution is verified on arrival and only verified ones are ever combined.

use std::{collections::BTreeMap, fmt};

use crate::key::FileKey;

/// Why a node's contribution was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CulpritReason {
    /// The bytes do not decode as a share (wrong length, not a curve point or scalar).
    Malformed,
    /// The share decodes but does not verify against the node's public commitment.
    InvalidShare,
    /// The node index is not in the key set (index >= number of nodes).
    UnknownNode,
    /// The node already contributed; the later contribution was ignored.
    Duplicate,
    /// The sealed response could not be opened (wrong key, wrong request, or modified).
    Unsealable,
    /// The node answered with an error reply (reported by the caller).
    Refused,
    /// The node did not answer in time (reported by the caller).
    Unreachable,
}

impl fmt::Display for CulpritReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CulpritReason::Malformed => "malformed share",
            CulpritReason::InvalidShare => "share does not verify",
            CulpritReason::UnknownNode => "unknown node index",
            CulpritReason::Duplicate => "duplicate answer",
            CulpritReason::Unsealable => "response cannot be opened",
            CulpritReason::Refused => "refused",
            CulpritReason::Unreachable => "no answer",
        })
    }
}

/// A node whose contribution failed, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Culprit {
    /// The node's 0-based index in the NodeRegistry.
    pub node_index: u32,
    /// What was wrong.
    pub reason: CulpritReason,
}

impl fmt::Display for Culprit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {} ({})", self.node_index, self.reason)
    }
}

/// A list of culprits, printable as one phrase (used inside [`crate::Error`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Culprits(pub Vec<Culprit>);

impl fmt::Display for Culprits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no node sent a bad contribution");
        }
        f.write_str("failed: ")?;
        for (i, culprit) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{culprit}")?;
        }
        Ok(())
    }
}

/// A recovered file key, with the nodes whose contributions failed along the way.
#[derive(Debug)]
pub struct Recovered {
    /// K.
    pub key: FileKey,
    /// The nodes whose contributions were combined.
    pub used: Vec<u32>,
    /// Every node whose contribution failed (K was recovered from the others).
    pub culprits: Vec<Culprit>,
}

/// The contributions chosen for combining (by node index) and the culprits seen.
pub(crate) type Chosen<T> = (Vec<(u32, T)>, Vec<Culprit>);

/// Good contributions by node index, plus culprits, for a scheme needing `needed` of `nodes`.
pub(crate) struct Tally<T> {
    nodes: usize,
    needed: usize,
    good: BTreeMap<u32, T>,
    culprits: Vec<Culprit>,
}

impl<T> Tally<T> {
    pub(crate) fn new(nodes: usize, needed: usize) -> Self {
        Self {
            nodes,
            needed,
            good: BTreeMap::new(),
            culprits: Vec::new(),
        }
    }

    /// Checks the index before any decoding or verification work is spent on it.
    pub(crate) fn admit(&mut self, node_index: u32) -> Result<(), CulpritReason> {
        let known = usize::try_from(node_index).is_ok_and(|i| i < self.nodes);
        if !known {
            return Err(self.blame(node_index, CulpritReason::UnknownNode));
        }
        if self.good.contains_key(&node_index) || self.is_culprit(node_index) {
            return Err(self.blame(node_index, CulpritReason::Duplicate));
        }
        Ok(())
    }

    pub(crate) fn accept(&mut self, node_index: u32, value: T) {
        self.good.insert(node_index, value);
    }

    /// Records a culprit and hands the reason back, for `add` to return.
    pub(crate) fn blame(&mut self, node_index: u32, reason: CulpritReason) -> CulpritReason {
        // A node already named keeps its first reason; a duplicate of a good share is noted.
        if !self.is_culprit(node_index) {
            self.culprits.push(Culprit { node_index, reason });
        }
        reason
    }

    fn is_culprit(&self, node_index: u32) -> bool {
        self.culprits.iter().any(|c| c.node_index == node_index)
    }

    pub(crate) fn good_count(&self) -> usize {
        self.good.len()
    }

    pub(crate) const fn needed(&self) -> usize {
        self.needed
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.good.len() >= self.needed
    }

    pub(crate) fn culprits(&self) -> &[Culprit] {
        &self.culprits
    }

    /// The first `needed` good contributions (by node index), or the error naming culprits.
    pub(crate) fn take_needed(self) -> crate::Result<Chosen<T>> {
        if !self.is_ready() {
            return Err(crate::Error::NotEnoughShares {
                good: self.good.len(),
                needed: self.needed,
                culprits: Culprits(self.culprits),
            });
        }
        let chosen = self.good.into_iter().take(self.needed).collect();
        Ok((chosen, self.culprits))
    }
}
