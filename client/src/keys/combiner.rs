//! The one interface [`super::recover_key`] needs from a threshold scheme's combine step.

use zgvault_proto::threshold::{BlsCombiner, CulpritReason, Recovered, ShamirCombiner};

/// Verifies contributions as they arrive and combines the first `needed` good ones.
///
/// Implemented by [`BlsCombiner`] (scheme `bls`) and [`ShamirCombiner`] (scheme `shamir`);
/// [`add`](Combiner::add) runs off the async executor because a BLS check costs two pairings.
pub trait Combiner: Send + 'static {
    /// Verifies and keeps node `node_index`'s opened share, or names it as a culprit.
    fn add(&mut self, node_index: u32, share: &[u8]) -> Result<(), CulpritReason>;
    /// Names a node that failed before its share could be checked.
    fn report(&mut self, node_index: u32, reason: CulpritReason);
    /// Whether enough good shares are in.
    fn is_ready(&self) -> bool;
    /// Good shares so far.
    fn good(&self) -> usize;
    /// Good shares needed.
    fn needed(&self) -> usize;
    /// Recovers K from the good shares.
    fn finish(self) -> zgvault_proto::Result<Recovered>;
}

macro_rules! impl_combiner {
    ($ty:ty) => {
        impl Combiner for $ty {
            fn add(&mut self, node_index: u32, share: &[u8]) -> Result<(), CulpritReason> {
                <$ty>::add(self, node_index, share)
            }
            fn report(&mut self, node_index: u32, reason: CulpritReason) {
                <$ty>::report(self, node_index, reason)
            }
            fn is_ready(&self) -> bool {
                <$ty>::is_ready(self)
            }
            fn good(&self) -> usize {
                <$ty>::good(self)
            }
            fn needed(&self) -> usize {
                <$ty>::needed(self)
            }
            fn finish(self) -> zgvault_proto::Result<Recovered> {
                <$ty>::finish(self)
            }
        }
    };
}

impl_combiner!(BlsCombiner);
impl_combiner!(ShamirCombiner);

/// Either scheme's combiner, for callers that learn the scheme at run time (from the
/// file's registry record).
#[derive(Debug)]
pub enum AnyCombiner {
    /// Scheme `bls`.
    Bls(Box<BlsCombiner>),
    /// Scheme `shamir`.
    Shamir(ShamirCombiner),
}

impl Combiner for AnyCombiner {
    fn add(&mut self, node_index: u32, share: &[u8]) -> Result<(), CulpritReason> {
        match self {
            AnyCombiner::Bls(c) => c.add(node_index, share),
            AnyCombiner::Shamir(c) => c.add(node_index, share),
        }
    }
    fn report(&mut self, node_index: u32, reason: CulpritReason) {
        match self {
            AnyCombiner::Bls(c) => c.report(node_index, reason),
            AnyCombiner::Shamir(c) => c.report(node_index, reason),
        }
    }
    fn is_ready(&self) -> bool {
        match self {
            AnyCombiner::Bls(c) => c.is_ready(),
            AnyCombiner::Shamir(c) => c.is_ready(),
        }
    }
    fn good(&self) -> usize {
        match self {
            AnyCombiner::Bls(c) => c.good(),
            AnyCombiner::Shamir(c) => c.good(),
        }
    }
    fn needed(&self) -> usize {
        match self {
            AnyCombiner::Bls(c) => c.needed(),
            AnyCombiner::Shamir(c) => c.needed(),
        }
    }
    fn finish(self) -> zgvault_proto::Result<Recovered> {
        match self {
            AnyCombiner::Bls(c) => c.finish(),
            AnyCombiner::Shamir(c) => c.finish(),
        }
    }
}
