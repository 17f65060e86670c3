//! Which block an access request is signed at (`atBlock`).
//!
//! A node answers only for an `atBlock` at least its `confirmations` below its head and at
//! most its `freshness_blocks` below it (node/README, gate step 4), and judges the file,
//! its capsule and the requester's access *at that block*. So the client signs at
//! `head - max(confirmations)` of the holders it asks (read from their `/v1/info`; the
//! config's `confirmations` for those that do not say), and only once what the request
//! relies on is there at that block: a file registered, a capsule set or a grant made in
//! the last blocks is waited for, with progress, for at most `depth` new blocks. A holder
//! that still answers `NOT_CONFIRMED` (its RPC lags, or it needs more than it says) gets a
//! new request at an older block, a bounded number of times, never older than the
//! holders' freshness window.

use std::time::Duration;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256, keccak256};
use alloy::providers::Provider;
use tokio::time::Instant;

use super::{Session, chain_error};
use crate::error::Error;
use crate::keys::{Endpoint, fetch_node_info_within};

/// `freshness_blocks` assumed for a holder that does not report it (the node's default).
pub const ASSUMED_FRESHNESS_BLOCKS: u64 = 256;
/// How long a holder's `/v1/info` is waited for when learning its block window.
pub const WINDOW_INFO_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the head is read while waiting for blocks.
pub const BLOCK_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// A chain that produces no block for this long is taken as stalled: the wait ends.
pub const MAX_BLOCK_STALL: Duration = Duration::from_secs(60);
/// The longest wait for a request's block to become deep enough.
pub const MAX_CONFIRMATION_WAIT: Duration = Duration::from_secs(300);
/// Most requests signed for one key release: the first, then one more after each
/// `NOT_CONFIRMED`, each at an older block.
pub const MAX_SIGNING_ROUNDS: u32 = 6;
/// The longest `retry_after_secs` of a `NOT_CONFIRMED` answer that is waited out when the
/// request cannot be signed at an older block.
pub const MAX_NOT_CONFIRMED_WAIT_SECS: u32 = 10;
/// Blocks looked back over to estimate the block time for "retry in about N s".
const BLOCK_TIME_SAMPLE: u64 = 16;

/// What the holders a request goes to accept as `atBlock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockWindow {
    /// The most any of them wants below its head.
    pub(crate) confirmations: u64,
    /// The least any of them accepts below its head.
    pub(crate) freshness_blocks: u64,
}

impl BlockWindow {
    /// The window of `nodes`, from their `/v1/info` (asked at once); a node without an HTTP
    /// URL, not answering, or not saying counts as `assumed` confirmations and
    /// [`ASSUMED_FRESHNESS_BLOCKS`].
    pub(crate) async fn of_nodes(nodes: &[Endpoint], assumed: u64) -> BlockWindow {
        let infos = futures::future::join_all(nodes.iter().map(|node| async move {
            match &node.http {
                Some(url) => fetch_node_info_within(url, WINDOW_INFO_TIMEOUT).await.ok(),
                None => None,
            }
        }))
        .await;
        let reported = infos.iter().map(|info| {
            let info = info.as_ref();
            (
                info.and_then(|i| i.confirmations),
                info.and_then(|i| i.freshness_blocks),
            )
        });
        BlockWindow::combine(reported, assumed)
    }

    /// The window of holders reporting `(confirmations, freshness_blocks)` (`None`: not
    /// reported).
    fn combine(
        reported: impl IntoIterator<Item = (Option<u64>, Option<u64>)>,
        assumed: u64,
    ) -> BlockWindow {
        let mut window = BlockWindow {
            confirmations: 0,
            freshness_blocks: u64::MAX,
        };
        for (confirmations, freshness) in reported {
            window.confirmations = window.confirmations.max(confirmations.unwrap_or(assumed));
            window.freshness_blocks = window
                .freshness_blocks
                .min(freshness.unwrap_or(ASSUMED_FRESHNESS_BLOCKS));
        }
        if window.freshness_blocks == u64::MAX {
            window.freshness_blocks = ASSUMED_FRESHNESS_BLOCKS;
        }
        if window.confirmations > window.freshness_blocks {
            // No block suits every holder: suit the freshest window, those wanting more
            // confirmations refuse, and the error names them.
            tracing::warn!(
                target: "client::keys",
                confirmations = window.confirmations,
                freshness_blocks = window.freshness_blocks,
                "the holders' block windows do not overlap; signing at the oldest block all accept as fresh"
            );
            window.confirmations = window.freshness_blocks;
        }
        window
    }
}

/// What a request relies on at its block: what the holders will check there.
#[derive(Clone, Copy, Debug)]
struct Relied {
    file_id: B256,
    scheme: u8,
    capsule_hash: B256,
    requester: Address,
    /// The requester may read the file at the head: then it must at `atBlock` too. Read
    /// when a request is first signed below the head.
    access: Option<bool>,
}

/// Why a block is not yet good to sign at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Missing {
    Registration,
    Capsule,
    Access,
}

impl Missing {
    const fn what(self) -> &'static str {
        match self {
            Missing::Registration => "its registration",
            Missing::Capsule => "its current capsule (a custody change)",
            Missing::Access => "your access (a grant or policy change)",
        }
    }
}

/// Picks the block each signed request of one key release is signed at.
#[derive(Debug)]
pub(crate) struct BlockChooser<'a> {
    session: &'a Session,
    relied: Relied,
    window: BlockWindow,
    /// Blocks signed below `head - confirmations` after `NOT_CONFIRMED` answers.
    extra: u64,
    /// Requests signed so far.
    rounds: u32,
    /// Who is asked, for messages: "the key nodes", "the custodial vault".
    holders: &'static str,
    /// The last block signed at and the head then.
    last: Option<(u64, u64)>,
}

impl<'a> BlockChooser<'a> {
    /// A chooser for requests about `file_id` (its registered `scheme`, the `capsule` the
    /// request carries) sent to `nodes`, named `holders` in messages.
    pub(crate) async fn new(
        session: &'a Session,
        file_id: B256,
        scheme: u8,
        capsule: &[u8],
        nodes: &[Endpoint],
        holders: &'static str,
    ) -> Result<BlockChooser<'a>, Error> {
        let window = BlockWindow::of_nodes(nodes, session.network.confirmations.unwrap_or(0)).await;
        Ok(BlockChooser {
            session,
            relied: Relied {
                file_id,
                scheme,
                capsule_hash: keccak256(capsule),
                requester: session.address(),
                access: None,
            },
            window,
            extra: 0,
            rounds: 0,
            holders,
            last: None,
        })
    }

    /// How deep the next request is signed.
    fn depth(&self) -> u64 {
        self.window
            .confirmations
            .saturating_add(self.extra)
            .min(self.window.freshness_blocks)
    }

    /// The block to sign the next request at: `head - depth`, once what the request relies
    /// on is there. Waits (with `waiting(head, until)`) for at most `depth` new blocks: by
    /// then the block signed at is the head of now, which has it.
    pub(crate) async fn choose(
        &mut self,
        waiting: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<u64, Error> {
        let depth = self.depth();
        let session = self.session;
        let mut head = session.head().await?;
        // Once the head is here, the block signed at is the head of now: nothing to check.
        let until = head.saturating_add(depth);
        if depth > 0 && self.relied.access.is_none() {
            let relied = self.relied;
            let access = session
                .registry()?
                .canAccess(relied.file_id, relied.requester)
                .call()
                .await
                .map_err(|e| chain_error("checking access", &session.network, e))?;
            self.relied.access = Some(access);
        }
        let started = Instant::now();
        let mut last_block_at = started;
        loop {
            let missing = match head.checked_sub(depth) {
                _ if head >= until => None,
                Some(at) => self.missing_at(at).await?,
                // The chain is younger than `depth`: nothing is that deep yet.
                None => Some(Missing::Registration),
            };
            let Some(missing) = missing else {
                let at = head.saturating_sub(depth);
                self.rounds += 1;
                self.last = Some((at, head));
                return Ok(at);
            };
            let now = Instant::now();
            let stalled = now.duration_since(last_block_at) >= MAX_BLOCK_STALL;
            if stalled || now.duration_since(started) >= MAX_CONFIRMATION_WAIT {
                return Err(self
                    .not_deep_yet(missing, head, until, started, stalled)
                    .await);
            }
            waiting(head, until);
            tokio::time::sleep(BLOCK_POLL_INTERVAL).await;
            let now = session.head().await?;
            if now > head {
                head = now;
                last_block_at = Instant::now();
            }
        }
    }

    /// What the request relies on that block `at` lacks, if anything.
    async fn missing_at(&self, at: u64) -> Result<Option<Missing>, Error> {
        let session = self.session;
        let registry = session.registry()?;
        let block = BlockId::number(at);
        let during = |what: &str| format!("reading the file's {what} at block {at}");
        let relied = self.relied;
        let exists = registry
            .exists(relied.file_id)
            .block(block)
            .call()
            .await
            .map_err(|e| chain_error(&during("registration"), &session.network, e))?;
        if !exists {
            return Ok(Some(Missing::Registration));
        }
        let record = registry
            .getFile(relied.file_id)
            .block(block)
            .call()
            .await
            .map_err(|e| chain_error(&during("record"), &session.network, e))?;
        if record.scheme != relied.scheme || record.capsuleHash != relied.capsule_hash {
            return Ok(Some(Missing::Capsule));
        }
        if relied.access == Some(true) {
            let allowed = registry
                .canAccess(relied.file_id, relied.requester)
                .block(block)
                .call()
                .await
                .map_err(|e| chain_error(&during("access"), &session.network, e))?;
            if !allowed {
                return Ok(Some(Missing::Access));
            }
        }
        Ok(None)
    }

    /// After the holders answered `NOT_CONFIRMED` to the last request: the next one goes
    /// deeper (doubling), or, at the edge of the freshness window, after the `retry_after`
    /// they asked for. An error, naming `who` and what they said, once
    /// [`MAX_SIGNING_ROUNDS`] requests were refused.
    pub(crate) async fn not_confirmed(
        &mut self,
        who: String,
        messages: Vec<String>,
        retry_after_secs: u32,
    ) -> Result<(), Error> {
        let (at_block, head) = self.last.unwrap_or_default();
        if self.rounds >= MAX_SIGNING_ROUNDS {
            return Err(Error::NotConfirmed {
                who,
                rounds: self.rounds,
                at_block,
                head,
                messages,
            });
        }
        let before = self.depth();
        self.extra = self.extra.saturating_mul(2).max(1);
        if self.depth() == before {
            let wait = retry_after_secs.clamp(1, MAX_NOT_CONFIRMED_WAIT_SECS);
            tokio::time::sleep(Duration::from_secs(wait.into())).await;
        }
        tracing::debug!(
            target: "client::keys",
            %who,
            at_block,
            next_depth = self.depth(),
            "NOT_CONFIRMED: signing again deeper"
        );
        Ok(())
    }

    /// The error when the chain did not get deep enough in time.
    async fn not_deep_yet(
        &self,
        missing: Missing,
        head: u64,
        until: u64,
        started: Instant,
        stalled: bool,
    ) -> Error {
        let blocks = until.saturating_sub(head);
        let retry_secs = match stalled {
            true => None,
            false => self
                .seconds_per_block(head)
                .await
                .map(|secs| blocks.saturating_mul(secs).max(1))
                .map(|secs| u32::try_from(secs).unwrap_or(u32::MAX)),
        };
        Error::NotYetConfirmed {
            file_id: self.relied.file_id,
            what: missing.what(),
            holders: self.holders,
            depth: self.depth(),
            head,
            needed: until,
            waited_secs: u32::try_from(started.elapsed().as_secs()).unwrap_or(u32::MAX),
            stalled,
            retry_secs,
        }
    }

    /// The recent block time in whole seconds (at least 1), from the timestamps of the head
    /// and a block some way back.
    async fn seconds_per_block(&self, head: u64) -> Option<u64> {
        let back = head
            .checked_sub(BLOCK_TIME_SAMPLE.min(head))
            .filter(|b| *b < head)?;
        let provider = self.session.provider();
        let time = |n: u64| async move {
            provider
                .get_block_by_number(BlockNumberOrTag::Number(n))
                .await
                .ok()
                .flatten()
                .map(|b| b.header.timestamp)
        };
        let (newest, oldest) = (time(head).await?, time(back).await?);
        let elapsed = newest.checked_sub(oldest)?;
        Some(elapsed.div_ceil(head - back).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_the_deepest_confirmations_and_the_shortest_freshness() {
        let window = BlockWindow::combine([(Some(2), Some(256)), (Some(5), Some(100))], 0);
        assert_eq!(
            window,
            BlockWindow {
                confirmations: 5,
                freshness_blocks: 100
            }
        );
        // Holders that do not say count as the assumed confirmations and the default window.
        let window = BlockWindow::combine([(Some(1), Some(300)), (None, None)], 3);
        assert_eq!(
            window,
            BlockWindow {
                confirmations: 3,
                freshness_blocks: ASSUMED_FRESHNESS_BLOCKS
            }
        );
        let window = BlockWindow::combine([], 4);
        assert_eq!(window.freshness_blocks, ASSUMED_FRESHNESS_BLOCKS);
        assert_eq!(window.confirmations, 0, "no holder, nothing to wait for");
    }

    #[test]
    fn fail_windows_that_do_not_overlap_are_signed_for_freshness() {
        // One holder wants 20 blocks, another accepts at most 10: never sign older than the
        // freshness window (the deep one refuses and is named).
        let window = BlockWindow::combine([(Some(20), Some(256)), (Some(0), Some(10))], 0);
        assert_eq!(
            window,
            BlockWindow {
                confirmations: 10,
                freshness_blocks: 10
            }
        );
    }
}
