//! Admission: what a request must pass before the node reads the chain for it. The cheap
//! checks of every message (the origin's token bucket, the concurrency cap, the size), then,
//! for a signed message, its signature and times, the replay cache and the signer's token
//! bucket.
//!
//! Every owner- or requester-signed message (access request, deposit, shred) goes through the
//! replay cache right after its signature is verified (`REPLAY`), and only a message not seen
//! before is charged to its signer's token bucket, before any chain call (`RATE_LIMITED`):
//! replays of an answered message cannot drain a signer's bucket. The entry is charged to the
//! message's origin and signer, and each may hold only its share of the cache
//! (`limits.replay_cache_per_origin` / `_per_signer`, then `RATE_LIMITED`), so no origin or
//! signer can fill it with answered messages. Only an answered message stays remembered until
//! it expires; every refusal and a timeout forget it ([`Admission::disarm`]), because nothing
//! was released or changed: the same message may be sent again as is, and a flood of refused
//! messages from fresh signers leaves nothing behind. The price: a captured refused message,
//! replayed, costs its signer a token each time (it is no longer told apart from a new one).

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use alloy_primitives::{Address, B256, keccak256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zgvault_proto::{
    request::{
        CLOCK_SKEW_SECS, MAX_DEPOSIT_AGE_SECS, RequestDomain, SignedAccessRequest, VerifiedRequest,
    },
    wire::{ErrorCode, ErrorReply},
};

use crate::{
    config::LimitsConfig,
    limits::{
        MAX_TRACKED_ORIGINS, MAX_TRACKED_REQUESTERS, RateLimiter, ReplayCache, ReplayLimits,
        ReplayRefusal,
    },
    reply::{BUSY_RETRY_AFTER_SECS, REPLAY_FULL_RETRY_AFTER_SECS},
    request::{Origin, RequestLog},
    util::{lock, unix_now},
};

/// The admission state of one node: its request domain, caps, replay cache and buckets.
#[derive(Debug)]
pub(crate) struct Admission {
    /// What every signature must be bound to (chain id, FileRegistry).
    domain: RequestDomain,
    max_message_bytes: usize,
    /// Caps concurrent requests over all transports; overflow is refused, never queued.
    permits: Arc<Semaphore>,
    replay: Mutex<ReplayCache>,
    rate: Mutex<RateLimiter<Origin>>,
    /// Per signer address, checked after the signature and before any chain call.
    requester_rate: Mutex<RateLimiter<Address>>,
}

impl Admission {
    pub(crate) fn new(domain: RequestDomain, limits: &LimitsConfig) -> Self {
        Self {
            domain,
            max_message_bytes: limits.max_message_bytes,
            permits: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            replay: Mutex::new(ReplayCache::new(ReplayLimits {
                capacity: limits.replay_cache_size,
                per_origin: limits.replay_cache_per_origin,
                per_signer: limits.replay_cache_per_signer,
            })),
            rate: Mutex::new(RateLimiter::new(
                limits.rate_per_sec,
                limits.rate_burst,
                MAX_TRACKED_ORIGINS,
            )),
            requester_rate: Mutex::new(RateLimiter::per_minute(
                limits.requester_rate_per_min,
                limits.requester_burst,
                MAX_TRACKED_REQUESTERS,
            )),
        }
    }

    /// The domain signatures are checked against.
    pub(crate) fn domain(&self) -> &RequestDomain {
        &self.domain
    }

    /// The cheap checks before any work: the origin's rate, the concurrency cap, the size.
    /// The permit is held until the request is answered.
    pub(crate) fn admit(
        &self,
        origin: &Origin,
        len: usize,
    ) -> Result<OwnedSemaphorePermit, ErrorReply> {
        lock(&self.rate)
            .check(origin, Instant::now())
            .map_err(|wait| {
                ErrorReply::new(
                    ErrorCode::RateLimited,
                    format!(
                        "too many requests from {}: wait {wait} s and retry",
                        origin.id
                    ),
                    wait,
                )
            })?;
        let permit = Arc::clone(&self.permits).try_acquire_owned().map_err(|_| {
            ErrorReply::new(
                ErrorCode::RateLimited,
                "the node is at its limit of concurrent requests: retry in a second or ask \
                     other nodes",
                BUSY_RETRY_AFTER_SECS,
            )
        })?;
        if len > self.max_message_bytes {
            return Err(ErrorReply::new(
                ErrorCode::TooLarge,
                format!(
                    "request is {len} bytes, the limit is {}: send one wire::Request per message",
                    self.max_message_bytes
                ),
                0,
            ));
        }
        Ok(permit)
    }

    /// An access request's signature and times; fills the log. Nothing is charged yet: the
    /// caller refuses a request for the other kind of node first, for free.
    pub(crate) fn verify_access(
        &self,
        request: &SignedAccessRequest,
        log: &mut RequestLog,
    ) -> Result<VerifiedRequest, ErrorReply> {
        log.hash = Some(request.hash());
        log.file_id = Some(request.request().file.file_id);
        let verified = request
            .verify(&self.domain, unix_now())
            .map_err(|e| ErrorReply::from_error(&e))?;
        log.requester = Some(verified.requester);
        Ok(verified)
    }

    /// The prelude every owner-signed message (deposit, key deposit, shred) shares: fills
    /// the log, takes the verification's outcome, then the replay cache and the signer's
    /// bucket ([`Admission::charge`]). Returns the signer.
    pub(crate) fn owner_message(
        &self,
        hash: B256,
        file_id: B256,
        issued_at: u64,
        verified: zgvault_proto::Result<Address>,
        log: &mut RequestLog,
        replay_message: &'static str,
    ) -> Result<Address, ErrorReply> {
        log.hash = Some(hash);
        log.file_id = Some(file_id);
        let signer = verified.map_err(|e| ErrorReply::from_error(&e))?;
        log.requester = Some(signer);
        self.charge(
            hash,
            owner_message_replay_until(issued_at),
            signer,
            log,
            replay_message,
        )?;
        Ok(signer)
    }

    /// The replay cache first, then the signer's token bucket: a replayed message is refused
    /// (`REPLAY`) before it can cost its signer a token, so a captured answered message
    /// replayed in a loop cannot lock the signer out (it still costs the origin's bucket).
    /// The entry is charged to the request's origin and signer, each of which may hold only
    /// its share of the cache (`RATE_LIMITED` beyond it). It is kept until `until` only if
    /// the message is answered: every refusal forgets it again ([`Admission::disarm`]).
    pub(crate) fn charge(
        &self,
        hash: B256,
        until: u64,
        signer: Address,
        log: &RequestLog,
        replay_message: &'static str,
    ) -> Result<(), ErrorReply> {
        // Keyed by the signer too: a stranger signing the same (predictable) fields, e.g. a
        // shred's, must not occupy the owner's entry and get the owner's message refused.
        let key = replay_key(hash, signer);
        let (inserted, limits) = {
            let mut cache = lock(&self.replay);
            let inserted = cache.insert(key, until, &log.origin, signer, unix_now());
            (inserted, cache.limits())
        };
        let busy = |what: String| {
            Err(ErrorReply::new(
                ErrorCode::RateLimited,
                format!("{what}: retry in {REPLAY_FULL_RETRY_AFTER_SECS} s or ask other nodes"),
                REPLAY_FULL_RETRY_AFTER_SECS,
            ))
        };
        match inserted {
            Ok(()) => {}
            Err(ReplayRefusal::Seen) => {
                return Err(ErrorReply::new(ErrorCode::Replay, replay_message, 0));
            }
            Err(ReplayRefusal::SignerFull) => {
                return busy(format!(
                    "{signer} already has {} requests this node must remember until they \
                     expire (its limit per signer)",
                    limits.per_signer
                ));
            }
            Err(ReplayRefusal::OriginFull) => {
                return busy(format!(
                    "requests from {} already hold {} entries of this node's replay cache (its \
                     limit per origin)",
                    log.origin.id, limits.per_origin
                ));
            }
            Err(ReplayRefusal::Full) => {
                return busy("the node's replay cache is full".to_owned());
            }
        }
        *lock(&log.armed) = Some(key);
        self.check_requester(signer)
    }

    /// Forgets the replay-cache entry this request made, if any.
    pub(crate) fn disarm(&self, log: &RequestLog) {
        self.forget(&log.armed);
    }

    /// Forgets the entry `armed` holds, if any (a refusal, a timeout, a failed task).
    pub(crate) fn forget(&self, armed: &Mutex<Option<B256>>) {
        if let Some(hash) = lock(armed).take() {
            lock(&self.replay).forget(&hash);
        }
    }

    /// Entries in the replay cache (`/metrics`).
    pub(crate) fn replay_entries(&self) -> usize {
        lock(&self.replay).len()
    }

    /// Per-signer token bucket, checked after the signature and before any chain call.
    fn check_requester(&self, signer: Address) -> Result<(), ErrorReply> {
        lock(&self.requester_rate)
            .check(&signer, Instant::now())
            .map_err(|wait| {
                ErrorReply::new(
                    ErrorCode::RateLimited,
                    format!("too many requests signed by {signer}: wait {wait} s and retry"),
                    wait,
                )
            })
    }
}

/// Until when an owner-signed message (deposit, shred) is remembered by the replay cache:
/// past it, its signature has expired.
fn owner_message_replay_until(issued_at: u64) -> u64 {
    issued_at
        .saturating_add(MAX_DEPOSIT_AGE_SECS)
        .saturating_add(CLOCK_SKEW_SECS)
}

/// The replay cache's key of a message: its signing hash and its (recovered) signer.
fn replay_key(hash: B256, signer: Address) -> B256 {
    let mut bytes = [0u8; 52];
    bytes[..32].copy_from_slice(hash.as_slice());
    bytes[32..].copy_from_slice(signer.as_slice());
    keccak256(bytes)
}
