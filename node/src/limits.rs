//! Bounded bookkeeping against abuse: the replay cache and the token-bucket rate limiters
//! (per origin before decoding, per signer address after the signature). Both refuse new
//! work when full rather than forget state that still protects the node.

use std::{
    collections::{BTreeSet, HashMap},
    hash::Hash,
    time::Instant,
};

use alloy_primitives::B256;

/// Most origins (peer ids or IPs) the rate limiter tracks at once. Idle origins are dropped
/// when the table is full; if none is idle, new origins are refused until some are.
pub const MAX_TRACKED_ORIGINS: usize = 10_000;
/// Most signer addresses the per-requester limiter tracks at once (same policy).
pub const MAX_TRACKED_REQUESTERS: usize = 100_000;

/// Why the replay cache refused a request hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplayRefusal {
    /// The hash is remembered: a replay (or a concurrent duplicate).
    Seen,
    /// The cache is full of unexpired hashes; forgetting one would re-open a replay window.
    Full,
}

/// Request hashes remembered until their `replay_until` time.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    capacity: usize,
    until: HashMap<B256, u64>,
    by_expiry: BTreeSet<(u64, B256)>,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            until: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Remembers `hash` until `until` (Unix seconds), unless it is already known or the cache
    /// is full. Entries whose time has passed (`until <= now`) are dropped first: a request
    /// that old is refused as expired anyway.
    pub(crate) fn insert(&mut self, hash: B256, until: u64, now: u64) -> Result<(), ReplayRefusal> {
        while let Some(&(expiry, old)) = self.by_expiry.first() {
            if expiry > now {
                break;
            }
            self.by_expiry.pop_first();
            self.until.remove(&old);
        }
        if self.until.contains_key(&hash) {
            return Err(ReplayRefusal::Seen);
        }
        if self.until.len() >= self.capacity {
            return Err(ReplayRefusal::Full);
        }
        self.until.insert(hash, until);
        self.by_expiry.insert((until, hash));
        Ok(())
    }

    /// Forgets `hash`: used when a request failed for a transient reason (chain down, node
    /// busy) before anything was released, so the requester may retry the same request.
    pub(crate) fn forget(&mut self, hash: &B256) {
        if let Some(until) = self.until.remove(hash) {
            self.by_expiry.remove(&(until, *hash));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }
}

/// Token buckets, one per key (an origin, a signer address): `burst` requests at once,
/// refilled at `rate` per second.
#[derive(Debug)]
pub(crate) struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    max_origins: usize,
    buckets: HashMap<K, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant, rate: f64, burst: f64) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
    }
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub(crate) fn new(rate_per_sec: u32, burst: u32, max_origins: usize) -> Self {
        Self {
            rate: f64::from(rate_per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            max_origins,
            buckets: HashMap::new(),
        }
    }

    /// A limiter refilled at `rate_per_min` per minute.
    pub(crate) fn per_minute(rate_per_min: u32, burst: u32, max_keys: usize) -> Self {
        Self {
            rate: f64::from(rate_per_min.max(1)) / 60.0,
            burst: f64::from(burst.max(1)),
            max_origins: max_keys,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `origin`. On refusal returns the seconds to wait (at least 1).
    pub(crate) fn check(&mut self, origin: &K, now: Instant) -> Result<(), u32> {
        let (rate, burst) = (self.rate, self.burst);
        if !self.buckets.contains_key(origin) && self.buckets.len() >= self.max_origins {
            // Drop the idle origins (full buckets): forgetting them changes nothing.
            self.buckets.retain(|_, bucket| {
                bucket.refill(now, rate, burst);
                bucket.tokens < burst
            });
            if self.buckets.len() >= self.max_origins {
                return Err(1);
            }
        }
        let bucket = self.buckets.entry(origin.clone()).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        bucket.refill(now, rate, burst);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            // Seconds until the next whole token, rounded up; at least 1, and bounded
            // because rate >= 1/60 token/s.
            let wait = ((1.0 - bucket.tokens) / rate).ceil().clamp(1.0, 60.0);
            // Clamped to 1..=60 above, so the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err(wait as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::service::Origin;

    #[test]
    fn per_minute_limiter_says_how_long_to_wait() {
        let mut limiter = RateLimiter::per_minute(6, 2, 10);
        let t0 = Instant::now();
        limiter.check(&1u8, t0).unwrap();
        limiter.check(&1u8, t0).unwrap();
        assert_eq!(limiter.check(&1u8, t0), Err(10), "one token per 10 s");
        limiter.check(&2u8, t0).unwrap();
        limiter.check(&1u8, t0 + Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn replay_cache_refuses_seen_and_when_full() {
        let mut cache = ReplayCache::new(2);
        let (a, b, c) = (
            B256::repeat_byte(1),
            B256::repeat_byte(2),
            B256::repeat_byte(3),
        );
        cache.insert(a, 100, 10).unwrap();
        assert_eq!(cache.insert(a, 100, 11), Err(ReplayRefusal::Seen));
        cache.insert(b, 50, 11).unwrap();
        assert_eq!(
            cache.insert(c, 100, 12),
            Err(ReplayRefusal::Full),
            "no eviction of live entries"
        );
        // Once b's time has passed, it makes room.
        cache.insert(c, 100, 50).unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.insert(a, 100, 60), Err(ReplayRefusal::Seen));
        cache.forget(&a);
        cache.insert(a, 100, 60).unwrap();
    }

    #[test]
    fn rate_limiter_allows_burst_then_refills() {
        let origin = Origin {
            transport: "http",
            id: "10.0.0.1".into(),
        };
        let mut limiter = RateLimiter::new(2, 3, 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check(&origin, t0).unwrap();
        }
        assert!(limiter.check(&origin, t0).is_err());
        limiter
            .check(&origin, t0 + Duration::from_millis(600))
            .unwrap();
        let other = Origin {
            transport: "p2p",
            id: "peer".into(),
        };
        limiter.check(&other, t0).unwrap();
    }

    #[test]
    fn rate_limiter_bounds_its_table() {
        let mut limiter = RateLimiter::new(1, 1, 2);
        let t0 = Instant::now();
        let origin = |i: u32| Origin {
            transport: "http",
            id: i.to_string(),
        };
        limiter.check(&origin(1), t0).unwrap();
        limiter.check(&origin(2), t0).unwrap();
        assert!(
            limiter.check(&origin(3), t0).is_err(),
            "table full of busy origins"
        );
        // After a refill both are idle and can be forgotten.
        limiter
            .check(&origin(3), t0 + Duration::from_secs(5))
            .unwrap();
    }
}
