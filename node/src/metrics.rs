//! Prometheus metrics, kept in atomics and written by hand in the text exposition format
//! (version 0.0.4): few enough series that a metrics crate would add more than it saves.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

/// Upper bounds (seconds) of the request-latency histogram buckets. The interesting range is
/// 1–50 ms (gate + one pairing); the tail shows chain trouble.
pub const LATENCY_BUCKETS_SECS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The node's counters and gauges.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Requests by outcome label (`partial`, `share`, `deposit_ack`, or an `ErrorCode` name).
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
    /// Chain call failures by call name.
    chain_errors: Mutex<BTreeMap<&'static str, u64>>,
    buckets: [AtomicU64; LATENCY_BUCKETS_SECS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    in_flight: AtomicI64,
}

/// Decrements the in-flight gauge when dropped, so every exit path (including a cancelled
/// future) is counted.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub(crate) fn record(&self, outcome: &'static str, latency: Duration) {
        bump(&self.outcomes, outcome);
        let secs = latency.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS_SECS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub(crate) fn chain_error(&self, call: &'static str) {
        bump(&self.chain_errors, call);
    }

    /// The exposition text. `replay_cache_size` and `deposits` are sampled by the caller.
    pub(crate) fn render(&self, replay_cache_size: usize, deposits: Option<u64>) -> String {
        let mut out = String::new();
        // `write!` to a String cannot fail; the results are ignored for that reason.
        let _ = writeln!(
            out,
            "# HELP zgvault_node_requests_total Requests handled, by outcome."
        );
        let _ = writeln!(out, "# TYPE zgvault_node_requests_total counter");
        for (outcome, count) in lock(&self.outcomes).iter() {
            let _ = writeln!(
                out,
                "zgvault_node_requests_total{{outcome=\"{outcome}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP zgvault_node_request_duration_seconds Time to answer a request."
        );
        let _ = writeln!(
            out,
            "# TYPE zgvault_node_request_duration_seconds histogram"
        );
        for (bound, bucket) in LATENCY_BUCKETS_SECS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "zgvault_node_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "zgvault_node_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        // Micros to seconds for display only; precision loss above 2^52 µs is irrelevant.
        #[allow(clippy::cast_precision_loss)]
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "zgvault_node_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "zgvault_node_request_duration_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP zgvault_node_requests_in_flight Requests being handled."
        );
        let _ = writeln!(out, "# TYPE zgvault_node_requests_in_flight gauge");
        let _ = writeln!(
            out,
            "zgvault_node_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP zgvault_node_replay_cache_entries Request hashes remembered against replay."
        );
        let _ = writeln!(out, "# TYPE zgvault_node_replay_cache_entries gauge");
        let _ = writeln!(out, "zgvault_node_replay_cache_entries {replay_cache_size}");
        let _ = writeln!(
            out,
            "# HELP zgvault_node_chain_errors_total Failed chain calls, by call."
        );
        let _ = writeln!(out, "# TYPE zgvault_node_chain_errors_total counter");
        for (call, count) in lock(&self.chain_errors).iter() {
            let _ = writeln!(
                out,
                "zgvault_node_chain_errors_total{{call=\"{call}\"}} {count}"
            );
        }
        if let Some(deposits) = deposits {
            let _ = writeln!(
                out,
                "# HELP zgvault_node_shamir_deposits Shamir shares held."
            );
            let _ = writeln!(out, "# TYPE zgvault_node_shamir_deposits gauge");
            let _ = writeln!(out, "zgvault_node_shamir_deposits {deposits}");
        }
        out
    }
}

/// The vault's families: records per KEK (a full scan of the key table per scrape: fine for
/// up to ~10⁵ records) and the audit log's length.
pub(crate) fn render_vault(out: &mut String, vault: &crate::vault::Vault) {
    if let Some(counts) = vault.records_by_kek_cached() {
        let _ = writeln!(
            out,
            "# HELP zgvault_node_vault_records File keys held by the vault, by KEK id."
        );
        let _ = writeln!(out, "# TYPE zgvault_node_vault_records gauge");
        for (kek, count) in counts {
            let kek = kek.replace(['\\', '"', '\n'], "_");
            let _ = writeln!(out, "zgvault_node_vault_records{{kek=\"{kek}\"}} {count}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP zgvault_node_audit_lines Lines in the vault's audit log."
    );
    let _ = writeln!(out, "# TYPE zgvault_node_audit_lines gauge");
    let _ = writeln!(
        out,
        "zgvault_node_audit_lines {}",
        vault.audit().head().lines
    );
    let _ = writeln!(
        out,
        "# HELP zgvault_node_audit_refusals_unrecorded_total Refusals not written to the audit log one by one (over the refusal-line rate)."
    );
    let _ = writeln!(
        out,
        "# TYPE zgvault_node_audit_refusals_unrecorded_total counter"
    );
    let _ = writeln!(
        out,
        "zgvault_node_audit_refusals_unrecorded_total {}",
        vault.refusals_unrecorded()
    );
    let _ = writeln!(
        out,
        "# HELP zgvault_node_vault_kek_probes_total KEK seal/open probes run for /health (at most one per 5 s)."
    );
    let _ = writeln!(out, "# TYPE zgvault_node_vault_kek_probes_total counter");
    let _ = writeln!(
        out,
        "zgvault_node_vault_kek_probes_total {}",
        vault.kek_probes()
    );
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    *lock(map).entry(key).or_insert(0) += 1;
}

/// A poisoned metrics lock only means a panic elsewhere mid-update; the counts are still
/// usable, so take them rather than propagate the panic.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_every_family() {
        let metrics = Metrics::default();
        {
            let _guard = metrics.start();
            metrics.record("partial", Duration::from_millis(3));
            metrics.record("ACCESS_DENIED", Duration::from_millis(30));
            metrics.chain_error("eth_blockNumber");
        }
        let text = metrics.render(7, Some(2));
        assert!(text.contains("zgvault_node_requests_total{outcome=\"partial\"} 1"));
        assert!(text.contains("zgvault_node_request_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("zgvault_node_request_duration_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("zgvault_node_request_duration_seconds_count 2"));
        assert!(text.contains("zgvault_node_requests_in_flight 0"));
        assert!(text.contains("zgvault_node_replay_cache_entries 7"));
        assert!(text.contains("zgvault_node_chain_errors_total{call=\"eth_blockNumber\"} 1"));
        assert!(text.contains("zgvault_node_shamir_deposits 2"));
    }
}
