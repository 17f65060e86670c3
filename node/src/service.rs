//! [`KeyService`]: the node's request handler, shared by the HTTP API and the libp2p
//! transport. Transports hand it raw bytes and an [`Origin`]; it answers with an encoded
//! `wire::KeyResponse`, never panics, and never runs past [`REQUEST_TIMEOUT`].
//!
//! It only puts the steps together, each in its own module: `admission` (size, signature,
//! times, replay, rate), `gate` (the chain reads → `Admitted`), `release` (what an admitted
//! request gets), `deposits` (deposits and shreds), all over the node's `KeyHolder` (the
//! share store, or the vault's store with its audit around it, `vault`).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256};
use libp2p::identity::Keypair;
use serde::{Deserialize, Serialize};
use zgvault_proto::{
    request::{RequestDomain, Scheme},
    threshold::BlsSecretShare,
    wire::{ErrorCode, ErrorReply, KeyRequest, KeyResponse, decode_request, encode_response},
};

use crate::{
    admission::Admission,
    chain::Chain,
    config::NodeConfig,
    deposits,
    error::{Error, Result},
    gate::Gate,
    holder::ShareHolder,
    keys::NodeKeys,
    limits::ConnectionLimits,
    metrics::Metrics,
    p2p::RequestHandler,
    release,
    reply::{
        ACCESS_REPLAYED, CHAIN_RETRY_AFTER_SECS, DEPOSIT_REPLAYED, SHRED_REPLAYED,
        not_a_share_holder, not_a_vault,
    },
    request::{Origin, RequestLog},
    store::ShareStore,
    util::{lock, unix_now},
    vault::{
        NodeMode, Vault,
        audited::{AuditedVault, audit_decision},
    },
};

/// Longest a request may take end to end (several chain calls, a pairing, a store commit).
/// Past it the requester gets `CHAIN_UNAVAILABLE` and the work is cancelled.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// `/health` reports the chain down if no chain call succeeded for this long.
pub const CHAIN_HEALTHY_WITHIN: Duration = Duration::from_secs(30);

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
            .field("gate", &self.inner.gate)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    mode: NodeMode,
    /// The custodial vault (`mode = "custodial"` only).
    vault: Option<Arc<Vault>>,
    /// What this node holds per file and releases after the gate.
    holder: Holder,
    store: ShareStore,
    keys: NodeKeys,
    /// Shared with `spawn_blocking` for the pairing work.
    bls: Option<Arc<BlsSecretShare>>,
    node_index: Option<u32>,
    admission: Admission,
    gate: Gate,
    metrics: Arc<Metrics>,
    info: Mutex<NodeInfo>,
    /// The HTTP server's connection caps and header timeout (`[limits]`).
    pub(crate) http_limits: ConnectionLimits,
}

/// The node's key holder: a share-holder's shares, or the vault's keys with its audit.
#[derive(Clone, Debug)]
enum Holder {
    Shares(ShareHolder),
    Vault(AuditedVault),
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
        let holder = match &vault {
            Some(vault) => Holder::Vault(AuditedVault(Arc::clone(vault))),
            None => Holder::Shares(ShareHolder::new(store.clone(), node_index)),
        };
        let metrics = Arc::new(Metrics::default());
        let domain = RequestDomain::new(config.chain.chain_id, config.chain.file_registry);
        Ok(Self {
            inner: Arc::new(Inner {
                mode,
                vault,
                holder,
                store,
                keys,
                bls: bls.map(Arc::new),
                node_index,
                admission: Admission::new(domain, &config.limits),
                gate: Gate::new(chain, &config.chain, Arc::clone(&metrics)),
                metrics,
                info: Mutex::new(info),
                http_limits: ConnectionLimits::from_config(&config.limits),
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
        let response = match self.inner.admission.admit(&origin, request.len()) {
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
                self.inner.admission.forget(&armed);
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
                self.inner.admission.forget(&armed);
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
        log.kind = match &request {
            KeyRequest::Access(_) => "access",
            KeyRequest::Deposit(_) => "deposit",
            KeyRequest::KeyDeposit(_) => "key_deposit",
            KeyRequest::Shred(_) => "shred",
        };
        let response = self.answer(&request, log).await;
        // A refusal leaves nothing behind: nothing was released or changed, so a replay of
        // the message gains nothing, and a flood of refused messages from fresh signers must
        // not occupy the replay cache. The same signed message may be sent again.
        if response.is_err() {
            self.inner.admission.disarm(log);
        }
        let Some(vault) = &self.inner.vault else {
            return response;
        };
        let audited = audit_decision(vault, &request, log, response).await;
        if audited.is_err() {
            // The audit line could not be written: the request may be retried as is.
            self.inner.admission.disarm(log);
        }
        audited
    }

    /// Admission, then the gate and the release (access), or the store change (deposits,
    /// shreds), by message and mode.
    async fn answer(
        &self,
        request: &KeyRequest,
        log: &mut RequestLog,
    ) -> Result<KeyResponse, ErrorReply> {
        let inner = &self.inner;
        let admission = &inner.admission;
        // An owner-signed message (deposit, key deposit, shred): signature, replay, signer's
        // bucket; the signer.
        macro_rules! owner_signer {
            ($message:expr, $fields:expr, $replayed:expr) => {
                admission.owner_message(
                    $message.hash(),
                    $fields.file.file_id,
                    $fields.issued_at,
                    $message.verify(admission.domain(), unix_now()),
                    log,
                    $replayed,
                )?
            };
        }
        match request {
            KeyRequest::Access(access) => {
                let verified = admission.verify_access(access, log)?;
                // A request for the other kind of node costs the signer nothing here.
                match (inner.mode, access.request().scheme) {
                    (NodeMode::Threshold, Scheme::Custodial) => return Err(not_a_vault()),
                    (NodeMode::Custodial, Scheme::Bls | Scheme::Shamir) => {
                        return Err(not_a_share_holder());
                    }
                    _ => {}
                }
                admission.charge(
                    verified.hash,
                    verified.replay_until,
                    verified.requester,
                    log,
                    ACCESS_REPLAYED,
                )?;
                let admitted = inner.gate.admit(access, verified.requester).await?;
                match (access.request().scheme, &inner.holder) {
                    (Scheme::Bls, _) => {
                        release::bls(inner.bls.as_ref(), inner.node_index, access, &admitted).await
                    }
                    (Scheme::Shamir, Holder::Shares(shares)) => {
                        release::shamir(shares, inner.node_index, access, &admitted).await
                    }
                    (Scheme::Custodial, Holder::Vault(vault)) => {
                        release::custodial(
                            vault,
                            inner.keys.encryption.public_key(),
                            access,
                            &admitted,
                        )
                        .await
                    }
                    // Refused above, before anything was charged.
                    (Scheme::Shamir, Holder::Vault(_)) => Err(not_a_share_holder()),
                    (Scheme::Custodial, Holder::Shares(_)) => Err(not_a_vault()),
                }
            }
            KeyRequest::Deposit(deposit) => {
                let signer = owner_signer!(deposit, deposit.deposit(), DEPOSIT_REPLAYED);
                let Holder::Shares(shares) = &inner.holder else {
                    return Err(not_a_share_holder());
                };
                deposits::share_deposit(
                    &inner.gate,
                    &inner.keys,
                    shares,
                    inner.node_index,
                    deposit,
                    signer,
                    log,
                )
                .await
            }
            KeyRequest::KeyDeposit(deposit) => {
                let signer = owner_signer!(deposit, deposit.deposit(), DEPOSIT_REPLAYED);
                let Holder::Vault(vault) = &inner.holder else {
                    return Err(not_a_vault());
                };
                deposits::key_deposit(&inner.gate, &inner.keys, vault, deposit, signer, log).await
            }
            KeyRequest::Shred(shred) => {
                let signer = owner_signer!(shred, shred.shred(), SHRED_REPLAYED);
                match &inner.holder {
                    Holder::Shares(shares) => {
                        deposits::shred(&inner.gate, &inner.keys, shares, shred, signer, log).await
                    }
                    Holder::Vault(vault) => {
                        deposits::shred(&inner.gate, &inner.keys, vault, shred, signer, log).await
                    }
                }
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
        Arc::clone(self.inner.gate.chain())
    }

    /// Asks the chain for its head, updating the health state. Returns whether it answered.
    pub async fn refresh_chain(&self) -> bool {
        self.inner.gate.head().await.is_ok()
    }

    /// The node's health: the chain answered recently and the store is readable; custodial:
    /// the KEK probe (cached for `HEALTH_CACHE_TTL`) and the audit log. Blocking (see
    /// [`KeyService::health_blocking`]).
    pub fn health(&self) -> Health {
        let ago = self
            .inner
            .gate
            .last_ok()
            .map(|last| unix_now().saturating_sub(last));
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
        let replay = self.inner.admission.replay_entries();
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

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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

impl RequestHandler for KeyService {
    fn handle_request(
        &self,
        origin: Origin,
        request: Vec<u8>,
    ) -> impl Future<Output = Vec<u8>> + Send {
        let service = self.clone();
        async move { service.handle(origin, &request).await }
    }
}
