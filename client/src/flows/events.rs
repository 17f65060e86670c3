//! Event scans that public RPCs accept.
//!
//! One `eth_getLogs` from the deploy block to the head works on anvil, but public
//! endpoints refuse wide ranges ("block range too large", "exceed maximum block range:
//! 1000", "query returned more than 10000 results", …). [`scan`] walks the range in
//! chunks, halves the chunk whenever the RPC says the range or the answer is too large,
//! retries transient failures with backoff, and reports progress. alloy's
//! `Event::chunked` is not used: it neither halves nor reports progress, and it falls back
//! to one request per block.

use std::future::Future;
use std::time::Duration;

use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use alloy::transports::{RpcError, TransportErrorKind};

use super::Session;
use crate::error::Error;

/// Blocks asked for in one `eth_getLogs` before any refusal (public 0G endpoints and
/// most providers accept this; the scan halves it when one does not).
pub(crate) const DEFAULT_CHUNK_BLOCKS: u64 = 5_000;
/// Hidden knob: the starting chunk size, in blocks (tests force many chunks with it).
pub(crate) const CHUNK_ENV: &str = "ZGVAULT_LOG_CHUNK_BLOCKS";
/// Tries of one chunk on transient failures (connection reset, HTTP 5xx, rate limits).
const ATTEMPTS: u32 = 4;
/// Wait before the first retry; doubled for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest piece of an RPC's error text quoted back (a deserialization error quotes the
/// whole response body).
const MAX_ERROR_TEXT: usize = 300;

/// How a scan walks the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanOptions {
    /// Blocks per request at the start.
    pub(crate) chunk_blocks: u64,
    /// Tries of one chunk on transient failures.
    pub(crate) attempts: u32,
    /// Wait before the first retry.
    pub(crate) backoff: Duration,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            chunk_blocks: DEFAULT_CHUNK_BLOCKS,
            attempts: ATTEMPTS,
            backoff: FIRST_BACKOFF,
        }
    }
}

impl ScanOptions {
    /// The defaults, with the chunk size from `$ZGVAULT_LOG_CHUNK_BLOCKS` when set.
    pub(crate) fn from_env() -> Result<ScanOptions, Error> {
        Self::with_chunk_setting(std::env::var(CHUNK_ENV).ok().as_deref())
    }

    fn with_chunk_setting(value: Option<&str>) -> Result<ScanOptions, Error> {
        let mut opts = ScanOptions::default();
        if let Some(v) = value {
            opts.chunk_blocks =
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::ChunkSetting {
                        name: CHUNK_ENV,
                        value: v.to_owned(),
                        default: DEFAULT_CHUNK_BLOCKS,
                    })?;
        }
        Ok(opts)
    }

    /// The wait before retry number `retry` (1 = the first retry).
    fn backoff_before(&self, retry: u32) -> Duration {
        self.backoff.saturating_mul(
            1u32.checked_shl(retry.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
    }
}

/// What the scan does after a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The range or the answer is too large: halve the chunk.
    TooLarge,
    /// Worth retrying as is, after a pause.
    Transient,
    /// Retrying cannot help.
    Fatal,
}

/// A failed `eth_getLogs`, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError {
    pub(crate) kind: Failure,
    /// What the RPC or transport said (shortened).
    pub(crate) message: String,
}

impl QueryError {
    /// A JSON-RPC error answer: the server understood and refused. Unknown refusals are
    /// fatal.
    pub(crate) fn response(text: &str) -> QueryError {
        Self::classified(text, Failure::Fatal)
    }

    /// No usable answer (connection, HTTP status, garbled body): transient unless the
    /// text says the request was too large.
    pub(crate) fn transport(text: &str) -> QueryError {
        Self::classified(text, Failure::Transient)
    }

    fn classified(text: &str, otherwise: Failure) -> QueryError {
        QueryError {
            kind: classify(text).unwrap_or(otherwise),
            message: shorten(text),
        }
    }

    fn from_rpc(e: &RpcError<TransportErrorKind>) -> QueryError {
        match e {
            RpcError::ErrorResp(p) => {
                let data = p.data.as_ref().map(|d| format!(" {}", d.get()));
                Self::response(&format!(
                    "{} (code {}){}",
                    p.message,
                    p.code,
                    data.unwrap_or_default()
                ))
            }
            RpcError::Transport(_) | RpcError::DeserError { .. } | RpcError::NullResp => {
                Self::transport(&e.to_string())
            }
            other => Self::response(&other.to_string()),
        }
    }
}

/// Recognises the texts public RPCs send for an over-wide range or an over-full answer,
/// and for rate limits and outages. `None`: nothing recognised.
pub(crate) fn classify(text: &str) -> Option<Failure> {
    let t = text.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    // Rate limits first: their texts say "limit" and "exceeded" too.
    if has(&[
        "rate limit",
        "rate-limit",
        "ratelimit",
        "too many requests",
        "request rate",
        "requests per second",
        "capacity exceeded",
        "http error 429",
    ]) {
        return Some(Failure::Transient);
    }
    let range = t.contains("range")
        && has(&[
            "limit", "exceed", "too ", "max", "bigger", "larger", "wide", "greater",
        ]);
    let results = (t.contains("result") || t.contains("logs"))
        && has(&["more than", "too many", "exceed", "limit"]);
    if range
        || results
        || has(&[
            "response size",
            "response is too big",
            "blocks distance",
            "block distance",
            "too many blocks",
            "query timeout",
            "query timed out",
            "limit exceeded",
            "payload too large",
            "http error 413",
        ])
    {
        return Some(Failure::TooLarge);
    }
    if has(&[
        "timeout",
        "timed out",
        "temporarily",
        "try again",
        "unavailable",
        "busy",
        "connection",
        "http error 5",
    ]) {
        return Some(Failure::Transient);
    }
    None
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR_TEXT {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_ERROR_TEXT).collect();
    short.push('…');
    short
}

/// Why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// Even a single block was refused as too large.
    OneBlockTooLarge { block: u64, message: String },
    /// A chunk kept failing transiently.
    GaveUp {
        from: u64,
        to: u64,
        attempts: u32,
        message: String,
    },
    /// The RPC refused the request for another reason.
    Refused { from: u64, to: u64, message: String },
}

impl ScanError {
    /// The user-facing error: what was being read, at which RPC, and what to do.
    pub(crate) fn into_error(self, what: &str, rpc: &str) -> Error {
        let (during, message) = match self {
            ScanError::OneBlockTooLarge { block, message } => (
                format!("reading {what} (block {block}) at {rpc}"),
                format!(
                    "the RPC refuses eth_getLogs even for one block ({message}); use an RPC \
                     endpoint without this limit (`--rpc URL`, or `rpc = \"URL\"` in \
                     config.toml)"
                ),
            ),
            ScanError::GaveUp {
                from,
                to,
                attempts,
                message,
            } => (
                format!("reading {what} (blocks {from}..={to}) at {rpc}"),
                format!(
                    "{attempts} tries failed, the last with: {message}; retry later, or use \
                     another RPC endpoint (`--rpc URL`)"
                ),
            ),
            ScanError::Refused { from, to, message } => (
                format!("reading {what} (blocks {from}..={to}) at {rpc}"),
                format!(
                    "{message}; if this RPC limits eth_getLogs in a way zgvault does not \
                     recognise, set {CHUNK_ENV} to a smaller block count (default \
                     {DEFAULT_CHUNK_BLOCKS}) or use another RPC endpoint (`--rpc URL`)"
                ),
            ),
        };
        Error::Chain { during, message }
    }
}

/// Collects `query(from, to)` over the inclusive block range `first..=last` in chunks
/// (see the module docs), in block order. A halved chunk is kept for the rest of the
/// scan: an endpoint's limit does not change between requests. `progress(done, total)`
/// counts blocks; it is called only when the range spans more than one chunk.
pub(crate) async fn scan<T, F, Fut>(
    first: u64,
    last: u64,
    opts: &ScanOptions,
    mut query: F,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<T>, ScanError>
where
    F: FnMut(u64, u64) -> Fut,
    Fut: Future<Output = Result<Vec<T>, QueryError>>,
{
    let mut out = Vec::new();
    if first > last {
        return Ok(out);
    }
    let total = (last - first).saturating_add(1);
    let mut chunk = opts.chunk_blocks.max(1);
    let show = total > chunk;
    if show {
        progress(0, total);
    }
    let mut start = first;
    let mut retries = 0u32;
    loop {
        let end = start.saturating_add(chunk - 1).min(last);
        match query(start, end).await {
            Ok(mut logs) => {
                out.append(&mut logs);
                retries = 0;
                if show {
                    progress((end - first).saturating_add(1), total);
                }
                if end >= last {
                    return Ok(out);
                }
                start = end + 1;
            }
            Err(e) => match e.kind {
                Failure::TooLarge if end > start => {
                    let span = end - start + 1;
                    chunk = span / 2;
                    tracing::debug!(start, end, chunk, error = %e.message, "eth_getLogs range halved");
                }
                Failure::TooLarge => {
                    return Err(ScanError::OneBlockTooLarge {
                        block: start,
                        message: e.message,
                    });
                }
                Failure::Transient if retries + 1 < opts.attempts => {
                    retries += 1;
                    tracing::debug!(start, end, retries, error = %e.message, "eth_getLogs retried");
                    tokio::time::sleep(opts.backoff_before(retries)).await;
                }
                Failure::Transient => {
                    return Err(ScanError::GaveUp {
                        from: start,
                        to: end,
                        attempts: opts.attempts.max(1),
                        message: e.message,
                    });
                }
                Failure::Fatal => {
                    return Err(ScanError::Refused {
                        from: start,
                        to: end,
                        message: e.message,
                    });
                }
            },
        }
    }
}

/// Every `E` log matching `filter` from the vault's first block to the head, decoded, in
/// chain order. `what` names the event in errors ("FileRegistered events").
pub(crate) async fn scan_events<E: SolEvent>(
    session: &Session,
    filter: Filter,
    what: &str,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<(E, Log)>, Error> {
    let opts = ScanOptions::from_env()?;
    let head = session.head().await?;
    let provider = session.provider();
    let rpc = session.network.rpc_url.to_string();
    let logs = scan(
        session.first_block(),
        head,
        &opts,
        |from, to| {
            let f = filter.clone().from_block(from).to_block(to);
            async move {
                provider
                    .get_logs(&f)
                    .await
                    .map_err(|e| QueryError::from_rpc(&e))
            }
        },
        progress,
    )
    .await
    .map_err(|e| e.into_error(what, &rpc))?;
    logs.into_iter()
        .map(|log| {
            let ev = E::decode_log(&log.inner).map_err(|e| Error::Chain {
                during: format!("decoding {what} from {rpc}"),
                message: match log.block_number {
                    Some(block) => {
                        format!(
                            "a log in block {block} does not decode as {}: {e}",
                            E::SIGNATURE
                        )
                    }
                    None => format!("a pending log does not decode as {}: {e}", E::SIGNATURE),
                },
            })?;
            Ok((ev.data, log))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use super::*;

    /// A fake RPC over blocks `0..=last` where block `b` holds `logs_at(b)` logs (each log
    /// is its block number), refusing what a public endpoint would refuse.
    struct FakeRpc {
        /// Widest range answered; wider ones get `range_error`.
        max_range: u64,
        range_error: &'static str,
        /// Most logs in one answer; more get a result-count error.
        max_results: usize,
        logs_at: fn(u64) -> usize,
        /// Transient failures still to hand out before answering.
        flaky: Mutex<u32>,
        /// Every request, in order.
        calls: Mutex<Vec<(u64, u64)>>,
    }

    impl FakeRpc {
        fn new(max_range: u64) -> Self {
            FakeRpc {
                max_range,
                range_error: "exceed maximum block range: 1000",
                max_results: usize::MAX,
                logs_at: |b| usize::from(b % 7 == 0),
                flaky: Mutex::new(0),
                calls: Mutex::new(Vec::new()),
            }
        }

        async fn get_logs(&self, from: u64, to: u64) -> Result<Vec<u64>, QueryError> {
            self.calls.lock().unwrap().push((from, to));
            {
                let mut flaky = self.flaky.lock().unwrap();
                if *flaky > 0 {
                    *flaky -= 1;
                    return Err(QueryError::transport(
                        "error sending request for url (http://rpc/): connection reset by peer",
                    ));
                }
            }
            if to - from + 1 > self.max_range {
                return Err(QueryError::response(self.range_error));
            }
            let logs: Vec<u64> = (from..=to)
                .flat_map(|b| std::iter::repeat_n(b, (self.logs_at)(b)))
                .collect();
            if logs.len() > self.max_results {
                return Err(QueryError::response(
                    "query returned more than 10000 results (code -32005)",
                ));
            }
            Ok(logs)
        }

        fn calls(&self) -> Vec<(u64, u64)> {
            self.calls.lock().unwrap().clone()
        }
    }

    fn expected(first: u64, last: u64, logs_at: fn(u64) -> usize) -> Vec<u64> {
        (first..=last)
            .flat_map(|b| std::iter::repeat_n(b, logs_at(b)))
            .collect()
    }

    fn quick(chunk_blocks: u64) -> ScanOptions {
        ScanOptions {
            chunk_blocks,
            attempts: 3,
            backoff: Duration::ZERO,
        }
    }

    async fn run(
        rpc: &FakeRpc,
        first: u64,
        last: u64,
        opts: ScanOptions,
    ) -> Result<Vec<u64>, ScanError> {
        scan(first, last, &opts, |a, b| rpc.get_logs(a, b), &|_, _| {}).await
    }

    #[tokio::test]
    async fn walks_the_range_in_chunks_in_order() {
        let rpc = FakeRpc::new(u64::MAX);
        let got = run(&rpc, 0, 12_345, quick(5_000)).await.unwrap();
        assert_eq!(got, expected(0, 12_345, rpc.logs_at));
        assert_eq!(rpc.calls(), [(0, 4_999), (5_000, 9_999), (10_000, 12_345)]);
    }

    #[tokio::test]
    async fn empty_and_single_block_ranges() {
        let rpc = FakeRpc::new(u64::MAX);
        assert!(run(&rpc, 10, 9, quick(5)).await.unwrap().is_empty());
        assert!(rpc.calls().is_empty(), "an empty range asks nothing");
        assert_eq!(run(&rpc, 14, 14, quick(5)).await.unwrap(), [14]);
        assert_eq!(rpc.calls(), [(14, 14)]);
    }

    #[tokio::test]
    async fn halves_until_the_rpc_accepts_and_stays_there() {
        let rpc = FakeRpc::new(1_000);
        let got = run(&rpc, 100, 20_099, quick(5_000)).await.unwrap();
        assert_eq!(got, expected(100, 20_099, rpc.logs_at));
        let calls = rpc.calls();
        // 5000 → 2500 → 1250 → 625, then 625 for the rest: no further refusals.
        assert_eq!(
            &calls[..4],
            [(100, 5_099), (100, 2_599), (100, 1_349), (100, 724)]
        );
        assert!(calls[3..].iter().all(|(a, b)| b - a < 625), "{calls:?}");
        // Every block asked for exactly once among the answered requests, in order.
        let answered: Vec<_> = calls[3..].to_vec();
        assert_eq!(answered.first().unwrap().0, 100);
        assert_eq!(answered.last().unwrap().1, 20_099);
        assert!(answered.windows(2).all(|w| w[1].0 == w[0].1 + 1));
    }

    #[tokio::test]
    async fn halves_on_too_many_results_too() {
        let mut rpc = FakeRpc::new(u64::MAX);
        rpc.max_results = 50;
        rpc.logs_at = |_| 1;
        let got = run(&rpc, 0, 999, quick(400)).await.unwrap();
        assert_eq!(got, expected(0, 999, rpc.logs_at));
        assert!(rpc.calls().iter().any(|(a, b)| b - a < 50));
    }

    #[tokio::test]
    async fn one_block_too_large_is_a_clear_error() {
        let mut rpc = FakeRpc::new(u64::MAX);
        rpc.max_results = 3;
        rpc.logs_at = |b| if b == 37 { 9 } else { 0 };
        let err = run(&rpc, 0, 99, quick(64)).await.unwrap_err();
        assert_eq!(
            err,
            ScanError::OneBlockTooLarge {
                block: 37,
                message: "query returned more than 10000 results (code -32005)".into()
            }
        );
        let text = err
            .into_error("FileRegistered events", "https://evmrpc.example")
            .to_string();
        assert!(text.contains("https://evmrpc.example"), "{text}");
        assert!(
            text.contains("block 37") && text.contains("--rpc URL"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn transient_failures_are_retried_then_given_up() {
        let rpc = FakeRpc::new(u64::MAX);
        *rpc.flaky.lock().unwrap() = 2;
        let got = run(&rpc, 0, 99, quick(50)).await.unwrap();
        assert_eq!(got, expected(0, 99, rpc.logs_at));
        assert_eq!(rpc.calls(), [(0, 49), (0, 49), (0, 49), (50, 99)]);

        let rpc = FakeRpc::new(u64::MAX);
        *rpc.flaky.lock().unwrap() = 3;
        let err = run(&rpc, 0, 99, quick(50)).await.unwrap_err();
        assert!(
            matches!(
                err,
                ScanError::GaveUp {
                    from: 0,
                    to: 49,
                    attempts: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(rpc.calls().len(), 3);
        let text = err
            .into_error("PassMinted events", "http://rpc")
            .to_string();
        assert!(
            text.contains("3 tries") && text.contains("retry later"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn unknown_refusals_stop_at_once() {
        let mut rpc = FakeRpc::new(10);
        rpc.range_error = "invalid argument 0: hex string without 0x prefix";
        let err = run(&rpc, 0, 99, quick(50)).await.unwrap_err();
        assert!(
            matches!(
                err,
                ScanError::Refused {
                    from: 0,
                    to: 49,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(rpc.calls().len(), 1);
        assert!(err.into_error("x", "y").to_string().contains(CHUNK_ENV));
    }

    #[tokio::test]
    async fn progress_counts_blocks_only_for_multi_chunk_scans() {
        let rpc = FakeRpc::new(u64::MAX);
        let seen = Mutex::new(Vec::new());
        let record = |done, total| seen.lock().unwrap().push((done, total));
        scan(10, 259, &quick(100), |a, b| rpc.get_logs(a, b), &record)
            .await
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [(0, 250), (100, 250), (200, 250), (250, 250)]
        );
        seen.lock().unwrap().clear();
        scan(10, 59, &quick(100), |a, b| rpc.get_logs(a, b), &record)
            .await
            .unwrap();
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn public_rpc_messages_are_recognised() {
        let too_large = [
            "exceed maximum block range: 1000",
            "block range too large",
            "query returned more than 10000 results",
            "range 1000000 exceeds limit of 10000",
            "block range is bigger than maxBlockRange",
            "block range is larger than max block range, block range = 5120, max block range = 5000",
            "eth_getLogs is limited to a 10,000 range",
            "Log response size exceeded. Please reduce query block range.",
            "invalid params (code -32602) {\"payload\":\"range 9009594 is bigger than range limit 2000\"}",
            "maximum [from, to] blocks distance: 10000",
            "query timeout exceeded",
            "limit exceeded",
            "HTTP error 413 with body: {\"message\":\"payload too large\"}",
        ];
        for t in too_large {
            assert_eq!(classify(t), Some(Failure::TooLarge), "{t}");
        }
        let transient = [
            "daily request count exceeded, request rate limited",
            "Too Many Requests",
            "HTTP error 429 with body: slow down",
            "HTTP error 503 with body: <html>",
            "error sending request for url: connection refused",
            "operation timed out",
        ];
        for t in transient {
            assert_eq!(classify(t), Some(Failure::Transient), "{t}");
        }
        assert_eq!(
            classify("invalid argument 0: hex string without 0x prefix"),
            None
        );
        assert_eq!(classify("execution reverted"), None);
    }

    #[test]
    fn chunk_size_setting() {
        assert_eq!(
            ScanOptions::with_chunk_setting(None).unwrap().chunk_blocks,
            DEFAULT_CHUNK_BLOCKS
        );
        assert_eq!(
            ScanOptions::with_chunk_setting(Some(" 3 "))
                .unwrap()
                .chunk_blocks,
            3
        );
        for bad in ["0", "-1", "lots", ""] {
            let err = ScanOptions::with_chunk_setting(Some(bad)).unwrap_err();
            assert!(err.to_string().contains(CHUNK_ENV), "{err}");
        }
    }

    #[test]
    fn backoff_doubles() {
        let opts = ScanOptions::default();
        assert_eq!(opts.backoff_before(1), FIRST_BACKOFF);
        assert_eq!(opts.backoff_before(2), FIRST_BACKOFF * 2);
        assert_eq!(opts.backoff_before(3), FIRST_BACKOFF * 4);
        assert!(opts.backoff_before(40) >= opts.backoff_before(3));
    }

    #[test]
    fn long_error_texts_are_shortened() {
        let e = QueryError::transport(&"x".repeat(10_000));
        assert!(e.message.chars().count() <= MAX_ERROR_TEXT + 1);
    }
}
