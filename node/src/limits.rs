//! Bounded bookkeeping against abuse: the replay cache and the token-bucket rate limiters
//! (per origin before decoding, per signer address after the signature). Both refuse new
//! work when full rather than forget state that still protects the node; the replay cache
//! also bounds what one origin and one signer may hold of it.

use std::{
    collections::{BTreeSet, HashMap},
    hash::Hash,
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256};

use crate::{config::LimitsConfig, request::Origin};

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
    /// The signer already holds its share of the cache (`per_signer` live entries).
    SignerFull,
    /// The origin already holds its share of the cache (`per_origin` live entries).
    OriginFull,
    /// The cache is full of unexpired hashes; forgetting one would re-open a replay window.
    Full,
}

/// How many live entries the replay cache holds: in all, per origin, per signer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplayLimits {
    pub(crate) capacity: usize,
    pub(crate) per_origin: usize,
    pub(crate) per_signer: usize,
}

/// Request hashes remembered until their `replay_until` time, each charged to the origin it
/// came from and the address that signed it. Only requests in flight and requests that were
/// answered stay (the service forgets a refused one), so a flood of refused requests leaves
/// nothing behind; the per-origin and per-signer shares keep one origin or one signer from
/// filling the cache with answered ones.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    limits: ReplayLimits,
    entries: HashMap<B256, Entry>,
    by_expiry: BTreeSet<(u64, B256)>,
    /// Live entries per origin and per signer; only keys with at least one entry, so both
    /// tables are bounded by the capacity.
    origins: HashMap<Origin, usize>,
    signers: HashMap<Address, usize>,
}

#[derive(Debug)]
struct Entry {
    until: u64,
    origin: Origin,
    signer: Address,
}

impl ReplayCache {
    /// A cache with `limits`; the shares are capped at the capacity.
    pub(crate) fn new(limits: ReplayLimits) -> Self {
        Self {
            limits: ReplayLimits {
                capacity: limits.capacity,
                per_origin: limits.per_origin.min(limits.capacity),
                per_signer: limits.per_signer.min(limits.capacity),
            },
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
            origins: HashMap::new(),
            signers: HashMap::new(),
        }
    }

    /// Remembers `hash` (signed by `signer`, sent from `origin`) until `until` (Unix seconds),
    /// unless it is already known, or its signer, its origin or the whole cache is at its
    /// limit. Entries whose time has passed (`until <= now`) are dropped first: a request
    /// that old is refused as expired anyway. A known hash is `Seen` whatever the limits, so
    /// a replay is always told apart from a busy node.
    pub(crate) fn insert(
        &mut self,
        hash: B256,
        until: u64,
        origin: &Origin,
        signer: Address,
        now: u64,
    ) -> Result<(), ReplayRefusal> {
        while let Some(&(expiry, old)) = self.by_expiry.first() {
            if expiry > now {
                break;
            }
            self.forget(&old);
        }
        if self.entries.contains_key(&hash) {
            return Err(ReplayRefusal::Seen);
        }
        if self.signers.get(&signer).copied().unwrap_or(0) >= self.limits.per_signer {
            return Err(ReplayRefusal::SignerFull);
        }
        if self.origins.get(origin).copied().unwrap_or(0) >= self.limits.per_origin {
            return Err(ReplayRefusal::OriginFull);
        }
        if self.entries.len() >= self.limits.capacity {
            return Err(ReplayRefusal::Full);
        }
        *self.signers.entry(signer).or_insert(0) += 1;
        *self.origins.entry(origin.clone()).or_insert(0) += 1;
        self.by_expiry.insert((until, hash));
        self.entries.insert(
            hash,
            Entry {
                until,
                origin: origin.clone(),
                signer,
            },
        );
        Ok(())
    }

    /// Forgets `hash`: used when a request was refused (nothing released, so a replay of it
    /// gains nothing) or cut short, so the requester may send the same request again.
    pub(crate) fn forget(&mut self, hash: &B256) {
        let Some(entry) = self.entries.remove(hash) else {
            return;
        };
        self.by_expiry.remove(&(entry.until, *hash));
        release(&mut self.signers, &entry.signer);
        release(&mut self.origins, &entry.origin);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The shares in force (after capping at the capacity), for refusal messages.
    pub(crate) fn limits(&self) -> ReplayLimits {
        self.limits
    }
}

/// One entry fewer for `key`; the key goes when it holds none.
fn release<K: Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = counts.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(key);
        }
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

/// The HTTP server's limits on connections, from `[limits]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// Connections open at once (`limits.http_max_connections`).
    pub(crate) max_connections: usize,
    /// Connections open at once from one address (`limits.http_max_connections_per_ip`).
    pub(crate) max_per_address: usize,
    /// Time to send a complete request header, from the connection's start or its previous
    /// answer (`limits.http_header_timeout_secs`).
    pub(crate) header_timeout: Duration,
}

impl ConnectionLimits {
    pub(crate) fn from_config(limits: &LimitsConfig) -> Self {
        Self {
            max_connections: limits.http_max_connections,
            max_per_address: limits.http_max_connections_per_ip,
            header_timeout: Duration::from_secs(limits.http_header_timeout_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::request::Origin;

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

    fn origin(id: &str) -> Origin {
        Origin {
            transport: "http",
            id: id.into(),
        }
    }

    fn limits(capacity: usize, per_origin: usize, per_signer: usize) -> ReplayLimits {
        ReplayLimits {
            capacity,
            per_origin,
            per_signer,
        }
    }

    #[test]
    fn replay_cache_refuses_seen_and_when_full() {
        let mut cache = ReplayCache::new(limits(2, 2, 2));
        let (a, b, c) = (
            B256::repeat_byte(1),
            B256::repeat_byte(2),
            B256::repeat_byte(3),
        );
        let (o, s) = (origin("o"), Address::repeat_byte(9));
        let other = origin("p");
        cache.insert(a, 100, &o, s, 10).unwrap();
        assert_eq!(cache.insert(a, 100, &o, s, 11), Err(ReplayRefusal::Seen));
        cache
            .insert(b, 50, &other, Address::repeat_byte(8), 11)
            .unwrap();
        assert_eq!(
            cache.insert(c, 100, &origin("q"), Address::repeat_byte(7), 12),
            Err(ReplayRefusal::Full),
            "no eviction of live entries"
        );
        // Once b's time has passed, it makes room.
        cache
            .insert(c, 100, &origin("q"), Address::repeat_byte(7), 50)
            .unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.insert(a, 100, &o, s, 60), Err(ReplayRefusal::Seen));
        cache.forget(&a);
        cache.insert(a, 100, &o, s, 60).unwrap();
    }

    #[test]
    fn a_signer_at_its_share_is_refused_and_other_signers_are_not() {
        let mut cache = ReplayCache::new(limits(100, 100, 2));
        let (o, busy, other) = (
            origin("o"),
            Address::repeat_byte(1),
            Address::repeat_byte(2),
        );
        cache
            .insert(B256::repeat_byte(1), 100, &o, busy, 0)
            .unwrap();
        cache
            .insert(B256::repeat_byte(2), 100, &o, busy, 0)
            .unwrap();
        assert_eq!(
            cache.insert(B256::repeat_byte(3), 100, &origin("elsewhere"), busy, 0),
            Err(ReplayRefusal::SignerFull),
            "the share follows the signer to any origin"
        );
        cache
            .insert(B256::repeat_byte(4), 100, &o, other, 0)
            .unwrap();
        // A replay is still told apart from a busy signer.
        assert_eq!(
            cache.insert(B256::repeat_byte(1), 100, &o, busy, 0),
            Err(ReplayRefusal::Seen)
        );
        // Forgetting one of its entries gives the signer room again.
        cache.forget(&B256::repeat_byte(2));
        cache
            .insert(B256::repeat_byte(3), 100, &o, busy, 0)
            .unwrap();
    }

    #[test]
    fn an_origin_at_its_share_is_refused_and_other_origins_are_not() {
        let mut cache = ReplayCache::new(limits(100, 2, 100));
        let (a, b) = (origin("a"), origin("b"));
        cache
            .insert(B256::repeat_byte(1), 100, &a, Address::repeat_byte(1), 0)
            .unwrap();
        cache
            .insert(B256::repeat_byte(2), 30, &a, Address::repeat_byte(2), 0)
            .unwrap();
        assert_eq!(
            cache.insert(B256::repeat_byte(3), 100, &a, Address::repeat_byte(3), 0),
            Err(ReplayRefusal::OriginFull),
            "fresh signers from one origin share its limit"
        );
        cache
            .insert(B256::repeat_byte(3), 100, &b, Address::repeat_byte(3), 0)
            .unwrap();
        // An expired entry gives the origin room again.
        cache
            .insert(B256::repeat_byte(4), 100, &a, Address::repeat_byte(4), 30)
            .unwrap();
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.origins.get(&a), Some(&2));
    }

    #[test]
    fn shares_are_capped_at_the_capacity_and_released_entries_leave_no_counters() {
        let mut cache = ReplayCache::new(limits(3, 10, 10));
        assert_eq!(cache.limits(), limits(3, 3, 3));
        let o = origin("o");
        for i in 1..=3 {
            cache
                .insert(B256::repeat_byte(i), 100, &o, Address::repeat_byte(i), 0)
                .unwrap();
        }
        for i in 1..=3 {
            cache.forget(&B256::repeat_byte(i));
        }
        cache.forget(&B256::repeat_byte(1));
        assert_eq!(cache.len(), 0);
        assert!(cache.origins.is_empty() && cache.signers.is_empty());
        assert!(cache.by_expiry.is_empty());
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
