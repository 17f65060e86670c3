//! [`KeyService`]: the node's request handler, shared by the HTTP API and the libp2p
//! transport. Transports hand it raw bytes and an [`Origin`]; it answers with an encoded
//! `wire::KeyResponse`, never panics, and never runs past [`REQUEST_TIMEOUT`].
//!
//! The gate itself (what is checked, in which order) is in `gate.rs`.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, B256, keccak256};
use futures::future::BoxFuture;
use libp2p::identity::Keypair;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use zgvault_proto::{
    request::RequestDomain,
    threshold::BlsSecretShare,
    wire::{ErrorCode, ErrorReply, KeyRequest, KeyResponse, decode_request, encode_response},
};

use crate::{
    chain::{CHAIN_CALL_TIMEOUT, Chain},
    config::NodeConfig,
    error::{Error, Result},
    http::ConnectionLimits,
    keys::NodeKeys,
    limits::{
        MAX_TRACKED_ORIGINS, MAX_TRACKED_REQUESTERS, RateLimiter, ReplayCache, ReplayLimits,
        ReplayRefusal,
    },
    metrics::Metrics,
    store::ShareStore,
    vault::{NodeMode, Vault},
};

/// Longest a request may take end to end (several chain calls, a pairing, a store commit).
/// Past it the requester gets `CHAIN_UNAVAILABLE` and the work is cancelled.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// `retry_after_secs` sent with `CHAIN_UNAVAILABLE`.
pub const CHAIN_RETRY_AFTER_SECS: u32 = 5;
/// `retry_after_secs` sent when the node is at its concurrency limit.
pub const BUSY_RETRY_AFTER_SECS: u32 = 1;
/// `retry_after_secs` sent when the replay cache, or the share of it the request's origin or
/// signer may hold, is full.
pub const REPLAY_FULL_RETRY_AFTER_SECS: u32 = 30;
/// `/health` reports the chain down if no chain call succeeded for this long.
pub const CHAIN_HEALTHY_WITHIN: Duration = Duration::from_secs(30);

/// Who sent a request: for per-origin rate limits and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `"http"` or `"p2p"`.
    pub transport: &'static str,
    /// The peer id or IP address.
    pub id: String,
}

/// What a node tells the world about itself (`GET /v1/info`, `zgvault-node info`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `threshold` (a share-holder) or `custodial` (the vault).
    #[serde(default)]
    pub mode: NodeMode,
    /// This node's index in the current key set, if it holds a share or has one configured.
    pub node_index: Option<u32>,
    /// The X25519 public key that Shamir deposits and custodial key deposits are sealed to
    /// (32 bytes, 0x-hex); a custodial capsule names the vault by it.
    pub encryption_key: B256,
    /// The operator's Ethereum address, if configured.
    pub operator: Option<Address>,
    /// The libp2p peer id (base58).
    pub peer_id: String,
    /// The bound HTTP address, once listening.
    pub http_addr: Option<SocketAddr>,
    /// libp2p listen multiaddrs, once listening.
    pub listen_addrs: Vec<String>,
    /// The chain the node gates on.
    pub chain_id: u64,
    /// The FileRegistry it reads.
    pub file_registry: Address,
    /// How many blocks below its head an access request's `atBlock` must be at least
    /// (`chain.confirmations`): clients sign at `head - confirmations` or older.
    pub confirmations: u64,
    /// How many blocks below its head `atBlock` may be at most (`chain.freshness_blocks`).
    pub freshness_blocks: u64,
    /// `zgvault-node` version.
    pub version: String,
}

/// The answer of `/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Both the chain and the store are fine.
    pub ok: bool,
    /// A chain call succeeded within [`CHAIN_HEALTHY_WITHIN`].
    pub chain_ok: bool,
    /// Seconds since the last successful chain call (`None`: never).
    pub last_chain_ok_secs_ago: Option<u64>,
    /// The share store answered a read.
    pub store_ok: bool,
    /// Custodial mode: the KEK sealed and opened a probe (`None` in threshold mode).
    #[serde(default)]
    pub kek_ok: Option<bool>,
    /// Custodial mode: the audit log is writable (`None` in threshold mode).
    #[serde(default)]
    pub audit_ok: Option<bool>,
    /// What is wrong, for the operator.
    pub reasons: Vec<String>,
}

/// The node's request handler, shared by the HTTP API and the libp2p transport.
#[derive(Clone)]
pub struct KeyService {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService")
            .field("node_index", &self.inner.node_index)
            .field("chain", &self.inner.chain)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) domain: RequestDomain,
    pub(crate) mode: NodeMode,
    /// The custodial vault (`mode = "custodial"` only).
    pub(crate) vault: Option<Arc<Vault>>,
    pub(crate) chain: Arc<dyn Chain>,
    pub(crate) store: ShareStore,
    pub(crate) keys: NodeKeys,
    /// Shared with `spawn_blocking` for the pairing work.
    pub(crate) bls: Option<Arc<BlsSecretShare>>,
    pub(crate) node_index: Option<u32>,
    pub(crate) freshness_blocks: u64,
    pub(crate) confirmations: u64,
    max_message_bytes: usize,
    /// Caps concurrent requests over all transports; overflow is refused, never queued.
    permits: Arc<Semaphore>,
    pub(crate) replay: Mutex<ReplayCache>,
    rate: Mutex<RateLimiter<Origin>>,
    /// Per signer address, checked after the signature and before any chain call.
    requester_rate: Mutex<RateLimiter<Address>>,
    pub(crate) metrics: Metrics,
    info: Mutex<NodeInfo>,
    /// Unix seconds of the last successful chain call (0 = never), for `/health`.
    chain_ok_at: AtomicU64,
    /// The HTTP server's connection caps and header timeout (`[limits]`).
    pub(crate) http_limits: ConnectionLimits,
}

impl KeyService {
    /// Builds a threshold share-holder service from the node's config, keys, store and
    /// chain. The node index is the stored BLS share's; a configured `node_index` that
    /// differs is an error.
    pub fn new(
        config: &NodeConfig,
        keys: NodeKeys,
        store: ShareStore,
        chain: Arc<dyn Chain>,
    ) -> Result<Self> {
        Self::build(config, keys, store, chain, None)
    }

    /// Builds the custodial vault's service: `vault` holds K (see [`Vault::open`]); the node's
    /// encryption key is the vault key custodial capsules name.
    pub fn custodial(
        config: &NodeConfig,
        keys: NodeKeys,
        store: ShareStore,
        chain: Arc<dyn Chain>,
        vault: Arc<Vault>,
    ) -> Result<Self> {
        Self::build(config, keys, store, chain, Some(vault))
    }

    fn build(
        config: &NodeConfig,
        keys: NodeKeys,
        store: ShareStore,
        chain: Arc<dyn Chain>,
        vault: Option<Arc<Vault>>,
    ) -> Result<Self> {
        let mode = if vault.is_some() {
            NodeMode::Custodial
        } else {
            NodeMode::Threshold
        };
        let bls = store.bls_share()?;
        let node_index = match (&bls, config.node_index) {
            (Some(share), Some(configured)) if share.node_index() != configured => {
                return Err(Error::ConfigValue {
                    key: "node_index".into(),
                    value: configured.to_string(),
                    reason: "differs from the index of the stored BLS share; remove node_index \
                             or fix it",
                });
            }
            (Some(share), _) => Some(share.node_index()),
            (None, configured) => configured,
        };
        let info = NodeInfo {
            mode,
            node_index,
            encryption_key: B256::from(*keys.encryption_public().as_bytes()),
            operator: config.operator,
            peer_id: keys.peer_id().to_string(),
            http_addr: None,
            listen_addrs: Vec::new(),
            chain_id: config.chain.chain_id,
            file_registry: config.chain.file_registry,
            confirmations: config.chain.confirmations,
            freshness_blocks: config.chain.freshness_blocks,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let limits = &config.limits;
        Ok(Self {
            inner: Arc::new(Inner {
                domain: RequestDomain::new(config.chain.chain_id, config.chain.file_registry),
                mode,
                vault,
                chain,
                store,
                keys,
                bls: bls.map(Arc::new),
                node_index,
                freshness_blocks: config.chain.freshness_blocks,
                confirmations: config.chain.confirmations,
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
                metrics: Metrics::default(),
                info: Mutex::new(info),
                chain_ok_at: AtomicU64::new(0),
                http_limits: ConnectionLimits::from_config(limits),
            }),
        })
    }

    /// Handles one encoded `wire::KeyRequest` and returns an encoded `wire::KeyResponse`
    /// (an `ErrorReply` for any failure: never panics, never hangs past its timeouts).
    pub async fn handle(&self, origin: Origin, request: &[u8]) -> Vec<u8> {
        encode_response(&self.respond(origin, request).await)
    }

    /// [`KeyService::handle`] before encoding, for transports that map the outcome (e.g. to
    /// an HTTP status).
    pub async fn respond(&self, origin: Origin, request: &[u8]) -> KeyResponse {
        let started = Instant::now();
        let metrics = &self.inner.metrics;
        let _in_flight = metrics.start();
        let mut log = RequestLog::new(origin.clone());
        let response = match self.admit(&origin, request) {
            Err(reply) => KeyResponse::Error(reply),
            Ok(permit) => {
                let (response, filled) = self
                    .run_isolated(origin.clone(), request.to_vec(), permit)
                    .await;
                log = filled;
                response
            }
        };
        let outcome = outcome_label(&response);
        let latency = started.elapsed();
        metrics.record(outcome, latency);
        let latency_ms = latency.as_secs_f64() * 1e3;
        let message = match &response {
            KeyResponse::Error(reply) => reply.message.as_str(),
            _ => "",
        };
        macro_rules! log_request {
            ($level:ident) => {
                tracing::$level!(
                    target: "zgvault::node::request",
                    transport = origin.transport,
                    origin = %origin.id,
                    kind = log.kind,
                    request_hash = ?log.hash,
                    file_id = ?log.file_id,
                    requester = ?log.requester,
                    outcome,
                    latency_ms,
                    message,
                    "request handled"
                )
            };
        }
        // A flood is refused cheaply; logging each refusal at info would make the log the
        // bottleneck, so those go to debug (the metrics still count them).
        if outcome == ErrorCode::RateLimited.as_str_name() {
            log_request!(debug);
        } else {
            log_request!(info);
        }
        response
    }

    /// The cheap checks before any work: the origin's rate, the concurrency cap, the size.
    fn admit(
        &self,
        origin: &Origin,
        request: &[u8],
    ) -> Result<tokio::sync::OwnedSemaphorePermit, ErrorReply> {
        lock(&self.inner.rate)
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
        let permit = Arc::clone(&self.inner.permits)
            .try_acquire_owned()
            .map_err(|_| {
                ErrorReply::new(
                    ErrorCode::RateLimited,
                    "the node is at its limit of concurrent requests: retry in a second or ask \
                     other nodes",
                    BUSY_RETRY_AFTER_SECS,
                )
            })?;
        if request.len() > self.inner.max_message_bytes {
            return Err(ErrorReply::new(
                ErrorCode::TooLarge,
                format!(
                    "request is {} bytes, the limit is {}: send one wire::Request per message",
                    request.len(),
                    self.inner.max_message_bytes
                ),
                0,
            ));
        }
        Ok(permit)
    }

    /// Runs the request on its own task, so that a panic anywhere below becomes an
    /// `INTERNAL` reply instead of taking down the transport, and so that the timeout and
    /// the caller going away both cancel the work.
    async fn run_isolated(
        &self,
        origin: Origin,
        request: Vec<u8>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> (KeyResponse, RequestLog) {
        let service = self.clone();
        let mut log = RequestLog::new(origin.clone());
        let armed = Arc::clone(&log.armed);
        let task = tokio::spawn(async move {
            let _permit = permit;
            let response = match service.dispatch(&request, &mut log).await {
                Ok(response) => response,
                Err(reply) => KeyResponse::Error(reply),
            };
            (response, log)
        });
        let _abort = AbortOnDrop(task.abort_handle());
        match tokio::time::timeout(REQUEST_TIMEOUT, task).await {
            Ok(Ok(done)) => done,
            Ok(Err(join)) => {
                tracing::error!(target: "zgvault::node", error = %join, "request task failed");
                if let Some(hash) = lock(&armed).take() {
                    lock(&self.inner.replay).forget(&hash);
                }
                (
                    KeyResponse::Error(ErrorReply::new(
                        ErrorCode::Internal,
                        "the node failed on this request: retry or ask other nodes",
                        0,
                    )),
                    RequestLog::new(origin),
                )
            }
            Err(_) => {
                // Cancelled mid-way: the same signed message may be sent again.
                if let Some(hash) = lock(&armed).take() {
                    lock(&self.inner.replay).forget(&hash);
                }
                (
                    KeyResponse::Error(ErrorReply::new(
                        ErrorCode::ChainUnavailable,
                        format!(
                            "the node did not finish within {} s (chain too slow): retry later or \
                         ask other nodes",
                            REQUEST_TIMEOUT.as_secs()
                        ),
                        CHAIN_RETRY_AFTER_SECS,
                    )),
                    RequestLog::new(origin),
                )
            }
        }
    }

    async fn dispatch(
        &self,
        bytes: &[u8],
        log: &mut RequestLog,
    ) -> Result<KeyResponse, ErrorReply> {
        let request = decode_request(bytes).map_err(|e| {
            let mut reply = ErrorReply::from_error(&e);
            reply.message = format!("{}: send a zgvault.v1.Request (protobuf)", reply.message);
            reply
        })?;
        let response = match &request {
            KeyRequest::Access(access) => {
                log.kind = "access";
                self.access(access, log).await
            }
            KeyRequest::Deposit(deposit) => {
                log.kind = "deposit";
                self.deposit(deposit, log).await
            }
            KeyRequest::KeyDeposit(deposit) => {
                log.kind = "key_deposit";
                self.key_deposit(deposit, log).await
            }
            KeyRequest::Shred(shred) => {
                log.kind = "shred";
                self.shred(shred, log).await
            }
        };
        // A refusal leaves nothing behind: nothing was released or changed, so a replay of
        // the message gains nothing, and a flood of refused messages from fresh signers must
        // not occupy the replay cache. The same signed message may be sent again.
        if response.is_err() {
            self.disarm(log);
        }
        match &self.inner.vault {
            Some(vault) => self.audited(vault, &request, log, response).await,
            None => response,
        }
    }

    /// The prelude every owner-signed message (deposit, key deposit, shred) shares: fills
    /// the log, takes the verification's outcome, then the replay cache and the signer's
    /// bucket ([`KeyService::admit_signed`]). Returns the signer.
    pub(crate) fn admit_owner_message(
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
        self.admit_signed(
            hash,
            crate::gate::owner_message_replay_until(issued_at),
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
    /// the message is answered: every refusal forgets it again ([`KeyService::disarm`]).
    pub(crate) fn admit_signed(
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
            let mut cache = lock(&self.inner.replay);
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
        if let Some(hash) = lock(&log.armed).take() {
            lock(&self.inner.replay).forget(&hash);
        }
    }

    /// Per-signer token bucket, checked after the signature and before any chain call.
    pub(crate) fn check_requester(&self, signer: Address) -> Result<(), ErrorReply> {
        lock(&self.inner.requester_rate)
            .check(&signer, Instant::now())
            .map_err(|wait| {
                ErrorReply::new(
                    ErrorCode::RateLimited,
                    format!("too many requests signed by {signer}: wait {wait} s and retry"),
                    wait,
                )
            })
    }

    /// Runs one chain call under [`CHAIN_CALL_TIMEOUT`]. Any failure becomes
    /// `CHAIN_UNAVAILABLE`: the gate fails closed.
    pub(crate) async fn chain_call<T>(
        &self,
        call: &'static str,
        future: BoxFuture<'_, Result<T>>,
    ) -> Result<T, ErrorReply> {
        let outcome = tokio::time::timeout(CHAIN_CALL_TIMEOUT, future).await;
        match outcome {
            Ok(Ok(value)) => {
                self.inner.chain_ok_at.store(unix_now(), Ordering::Relaxed);
                Ok(value)
            }
            Ok(Err(error)) => {
                self.inner.metrics.chain_error(call);
                tracing::warn!(target: "zgvault::node::chain", call, %error, "chain call failed");
                Err(chain_unavailable(call))
            }
            Err(_) => {
                self.inner.metrics.chain_error(call);
                tracing::warn!(target: "zgvault::node::chain", call, timeout_secs = CHAIN_CALL_TIMEOUT.as_secs(), "chain call timed out");
                Err(chain_unavailable(call))
            }
        }
    }

    /// The node's public description (index, keys, addresses).
    pub fn info(&self) -> NodeInfo {
        lock(&self.inner.info).clone()
    }

    /// Records the bound HTTP address (shown in [`NodeInfo`]).
    pub fn set_http_addr(&self, addr: SocketAddr) {
        lock(&self.inner.info).http_addr = Some(addr);
    }

    /// Records a libp2p listen multiaddr (shown in [`NodeInfo`]); called by the p2p layer.
    pub fn add_listen_addr(&self, multiaddr: String) {
        let mut info = lock(&self.inner.info);
        if !info.listen_addrs.contains(&multiaddr) {
            info.listen_addrs.push(multiaddr);
        }
    }

    /// The libp2p identity (for the p2p transport).
    pub fn identity(&self) -> Keypair {
        self.inner.keys.identity.clone()
    }

    /// The chain this service reads (e.g. for NodeRegistry lookups by the p2p layer).
    pub fn chain(&self) -> Arc<dyn Chain> {
        Arc::clone(&self.inner.chain)
    }

    /// Asks the chain for its head, updating the health state. Returns whether it answered.
    pub async fn refresh_chain(&self) -> bool {
        let chain = Arc::clone(&self.inner.chain);
        self.chain_call("eth_blockNumber", chain.head())
            .await
            .is_ok()
    }

    /// The node's health: the chain answered recently and the store is readable; custodial:
    /// the KEK probe (cached for `HEALTH_CACHE_TTL`) and the audit log. Blocking (see
    /// [`KeyService::health_blocking`]).
    pub fn health(&self) -> Health {
        let last = self.inner.chain_ok_at.load(Ordering::Relaxed);
        let ago = (last != 0).then(|| unix_now().saturating_sub(last));
        let chain_ok = ago.is_some_and(|ago| ago <= CHAIN_HEALTHY_WITHIN.as_secs());
        let store = self.inner.store.check();
        let mut reasons = Vec::new();
        let (kek_ok, audit_ok) = match &self.inner.vault {
            None => (None, None),
            Some(vault) => {
                let (kek, audit) = vault.check();
                if let Err(e) = &kek {
                    reasons.push(format!("the vault's KEK cannot be used: {e}"));
                }
                if let Err(e) = &audit {
                    reasons.push(format!("the audit log cannot be written: {e}"));
                }
                (Some(kek.is_ok()), Some(audit.is_ok()))
            }
        };
        match ago {
            None => reasons.push("the chain RPC has not answered yet: check chain.rpc_url".into()),
            Some(ago) if !chain_ok => reasons.push(format!(
                "no successful chain call for {ago} s: check chain.rpc_url"
            )),
            Some(_) => {}
        }
        if let Err(e) = &store {
            reasons.push(format!("share store unreadable: {e}"));
        }
        Health {
            ok: chain_ok && store.is_ok() && kek_ok != Some(false) && audit_ok != Some(false),
            chain_ok,
            last_chain_ok_secs_ago: ago,
            store_ok: store.is_ok(),
            kek_ok,
            audit_ok,
            reasons,
        }
    }

    /// [`KeyService::health`] off the async workers (it may probe the HSM).
    pub async fn health_blocking(&self) -> Health {
        let service = self.clone();
        tokio::task::spawn_blocking(move || service.health())
            .await
            .unwrap_or_else(|_| Health {
                ok: false,
                chain_ok: false,
                last_chain_ok_secs_ago: None,
                store_ok: false,
                kek_ok: None,
                audit_ok: None,
                reasons: vec!["the health check task failed: see the node's log".into()],
            })
    }

    /// [`KeyService::metrics_text`] off the async workers (it may scan the vault store).
    pub async fn metrics_blocking(&self) -> String {
        let service = self.clone();
        tokio::task::spawn_blocking(move || service.metrics_text())
            .await
            .unwrap_or_default()
    }

    /// Prometheus text exposition of the node's metrics.
    pub fn metrics_text(&self) -> String {
        let replay = lock(&self.inner.replay).len();
        let deposits = self.inner.store.deposit_count().ok();
        let mut text = self.inner.metrics.render(replay, deposits);
        if let Some(vault) = &self.inner.vault {
            crate::metrics::render_vault(&mut text, vault);
        }
        text
    }

    /// The node's mode.
    pub fn mode(&self) -> NodeMode {
        self.inner.mode
    }

    /// The custodial vault, in custodial mode (for the admin socket).
    pub fn vault(&self) -> Option<Arc<Vault>> {
        self.inner.vault.clone()
    }
}

/// What the log line of a request shows; filled as the request is understood.
#[derive(Debug)]
pub(crate) struct RequestLog {
    /// Where the request came from (its replay-cache entry is charged to it).
    pub(crate) origin: Origin,
    pub(crate) kind: &'static str,
    pub(crate) hash: Option<B256>,
    pub(crate) file_id: Option<B256>,
    pub(crate) requester: Option<Address>,
    /// The hash this request put in the replay cache (forgotten again on a refusal or a
    /// timeout). Shared with [`KeyService::run_isolated`] for the timeout.
    pub(crate) armed: Arc<Mutex<Option<B256>>>,
    /// The audit line of this decision was already written (in the blocking step of a store
    /// change, right after its commit).
    pub(crate) audited: bool,
}

impl RequestLog {
    pub(crate) fn new(origin: Origin) -> Self {
        Self {
            origin,
            kind: "",
            hash: None,
            file_id: None,
            requester: None,
            armed: Arc::default(),
            audited: false,
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn chain_unavailable(call: &'static str) -> ErrorReply {
    ErrorReply::new(
        ErrorCode::ChainUnavailable,
        format!(
            "this node cannot read the chain right now ({call} failed): retry in \
             {CHAIN_RETRY_AFTER_SECS} s or rely on the other nodes"
        ),
        CHAIN_RETRY_AFTER_SECS,
    )
}

/// The metrics label of a response.
fn outcome_label(response: &KeyResponse) -> &'static str {
    match response {
        KeyResponse::Partial(_) => "partial",
        KeyResponse::Share(_) => "share",
        KeyResponse::DepositAck(_) => "deposit_ack",
        KeyResponse::Key(_) => "key",
        KeyResponse::ShredAck(_) => "shred_ack",
        KeyResponse::Error(reply) => reply.code.as_str_name(),
    }
}

/// The replay cache's key of a message: its signing hash and its (recovered) signer.
fn replay_key(hash: B256, signer: Address) -> B256 {
    let mut bytes = [0u8; 52];
    bytes[..32].copy_from_slice(hash.as_slice());
    bytes[32..].copy_from_slice(signer.as_slice());
    keccak256(bytes)
}

/// Seconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A poisoned lock means a panic elsewhere mid-update of plain bookkeeping (a cache, a rate
/// table); the data is still consistent enough to keep serving, so take it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
