#![doc = include_str!("../README.md")]

mod admission;
mod chain;
mod config;
pub mod custody;
mod db;
mod deposits;
mod error;
mod gate;
mod genesis;
mod holder;
mod http;
mod keys;
mod limits;
mod metrics;
mod node;
pub mod p2p;
mod release;
mod reply;
mod request;
mod service;
mod store;
mod util;
mod vault;
mod vault_config;

pub use chain::{ACCESS_CALL_GAS, AlloyChain, CHAIN_CALL_TIMEOUT, Chain, FileRecord};
pub use config::{
    CONFIG_KEYS, ChainConfig, DEFAULT_CHAIN_ID, DEFAULT_CONFIRMATIONS, DEFAULT_DATA_DIR,
    DEFAULT_FRESHNESS_BLOCKS, DEFAULT_HTTP_HEADER_TIMEOUT_SECS, DEFAULT_HTTP_LISTEN,
    DEFAULT_HTTP_MAX_CONNECTIONS, DEFAULT_HTTP_MAX_CONNECTIONS_PER_IP,
    DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_P2P_LISTEN, DEFAULT_RATE_BURST, DEFAULT_RATE_PER_SEC,
    DEFAULT_REPLAY_CACHE_PER_ORIGIN, DEFAULT_REPLAY_CACHE_PER_SIGNER, DEFAULT_REPLAY_CACHE_SIZE,
    DEFAULT_REQUESTER_BURST, DEFAULT_REQUESTER_RATE_PER_MIN, DEFAULT_RPC_URL, ENV_PREFIX,
    HttpConfig, LimitsConfig, NodeConfig, P2pConfig, SECRET_ENV_VARS,
};
pub use config::{
    DEFAULT_AUDIT_LOG, DEFAULT_FILE_KEK, DEFAULT_KEY_LABEL, DEFAULT_TOKEN_LABEL,
    FILE_PASSPHRASE_ENV, FileKekConfig, KekBackend, KekConfig, NodeMode, PKCS11_PIN_ENV,
    Pkcs11KekConfig, VaultConfig,
};
pub use error::{Error, KekFileProblem, Result};
pub use genesis::{GenesisShare, import_genesis_share};
pub use http::{ACCEPT_ERROR_BACKOFF, HTTP_ROUTES, PROTOBUF_CONTENT_TYPE, http_status, serve_http};
pub use keys::{
    ENCRYPTION_KEY_FILE, IDENTITY_KEY_FILE, NodeKeys, STORE_KEY_FILE, STORE_KEY_LEN, StoreKey,
};
pub use limits::{MAX_TRACKED_ORIGINS, MAX_TRACKED_REQUESTERS};
pub use metrics::LATENCY_BUCKETS_SECS;
pub use node::{
    ADMIN_LISTENING_LINE, HEALTH_POLL_INTERVAL, HTTP_LISTENING_LINE, MAX_BOOTSTRAP_PEERS,
    P2P_LISTENING_LINE, REGISTRY_REFRESH_INTERVAL, STARTUP_CHAIN_ATTEMPTS, STARTUP_CHAIN_RETRY,
    offline_info, run,
};
pub use reply::{
    BUSY_RETRY_AFTER_SECS, CHAIN_RETRY_AFTER_SECS, NOT_CONFIRMED_RETRY_AFTER_SECS,
    REPLAY_FULL_RETRY_AFTER_SECS,
};
pub use request::Origin;
pub use service::{CHAIN_HEALTHY_WITHIN, Health, KeyService, NodeInfo, REQUEST_TIMEOUT};
pub use store::{DepositOutcome, STORE_FILE, ShareStore, ShredOutcome, StoredDeposit};
pub use vault::{
    HEALTH_CACHE_TTL, REFUSAL_AUDIT_BURST, REFUSAL_AUDIT_LINES_PER_SEC, RotationOutcome, Vault,
    VaultStatus,
    admin::{
        ADMIN_ROUTES, ADMIN_SOCKET, RanAt, admin_socket_path, rotate as vault_rotate,
        status as vault_status,
    },
    audit::{
        AnchorSource, AuditVerification, new_log as vault_audit_new_log,
        verify as vault_audit_verify,
    },
};
