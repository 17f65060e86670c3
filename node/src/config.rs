//! The node's configuration: TOML with a default for every key (unknown keys refused), then
//! environment variables `ZGVAULT_NODE_*`, then command-line overrides, in that order.
//!
//! Every override names a TOML key in dotted form (`chain.rpc_url`); its environment variable
//! is `ZGVAULT_NODE_` followed by the key in upper case with dots as underscores
//! (`ZGVAULT_NODE_CHAIN_RPC_URL`). The table of keys is [`CONFIG_KEYS`].

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    str::FromStr,
};

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};
use zgvault_proto::RpcUrl;
use zgvault_proto::wire::MAX_MESSAGE_BYTES;

use crate::error::{Error, Result};
pub use crate::vault_config::{
    DEFAULT_AUDIT_LOG, DEFAULT_FILE_KEK, DEFAULT_KEY_LABEL, DEFAULT_TOKEN_LABEL,
    FILE_PASSPHRASE_ENV, FileKekConfig, KekBackend, KekConfig, NodeMode, PKCS11_PIN_ENV,
    Pkcs11KekConfig, VaultConfig,
};

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "ZGVAULT_NODE_";
/// Default data folder (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "zgvault-node-data";
/// Default HTTP listen address: loopback only, so a fresh node exposes nothing.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:0";
/// Default libp2p listen address.
pub const DEFAULT_P2P_LISTEN: &str = "/ip4/127.0.0.1/tcp/0";
/// Default chain RPC endpoint (a local anvil).
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";
/// Default chain id (anvil's).
pub const DEFAULT_CHAIN_ID: u64 = 31337;
/// Default freshness window: `atBlock` may be at most this many blocks behind the head.
/// 256 blocks is also how far back `BLOCKHASH` reaches, and most RPCs keep that much state.
pub const DEFAULT_FRESHNESS_BLOCKS: u64 = 256;
/// Default confirmations (0 suits the devnet; use more on chains that reorganise).
pub const DEFAULT_CONFIRMATIONS: u64 = 0;
/// Default cap on requests handled at once; more are refused with `RATE_LIMITED`.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;
/// Default sustained requests per second per origin (peer id or IP).
pub const DEFAULT_RATE_PER_SEC: u32 = 50;
/// Default burst per origin.
pub const DEFAULT_RATE_BURST: u32 = 100;
/// Default replay-cache capacity. Only requests in flight and requests that were answered
/// are remembered (a refused one is forgotten), an access request at most 330 s (lifetime +
/// skew), so this allows about 300 answered requests per second before the node refuses new
/// ones.
pub const DEFAULT_REPLAY_CACHE_SIZE: usize = 100_000;
/// Default share of the replay cache one origin (IP or peer id) may hold: a tenth, so that
/// no single origin can fill it with answered requests. That is about 30 answered requests a
/// second sustained from one origin (10 000 over an access request's 330 s), below the 50 a
/// second its default rate admits; a node behind a reverse proxy (one origin for every
/// client) should raise it towards `replay_cache_size`.
pub const DEFAULT_REPLAY_CACHE_PER_ORIGIN: usize = 10_000;
/// Default share of the replay cache one signer address may hold. The signer's default
/// bucket (30, then 120 a minute) lets through about 690 requests in an access request's
/// 330 s, so an honest signer stays below it; with a raised bucket, or owner messages
/// remembered 630 s, no signer can hold more than 1 % of the default cache.
pub const DEFAULT_REPLAY_CACHE_PER_SIGNER: usize = 1_000;
/// Default sustained requests per minute per signer address (after signature verification).
pub const DEFAULT_REQUESTER_RATE_PER_MIN: u32 = 120;
/// Default burst per signer address.
pub const DEFAULT_REQUESTER_BURST: u32 = 30;
/// Default cap on HTTP connections open at once. A connection beyond it is closed at once,
/// never queued, so a full server recovers as soon as connections end. Each connection
/// costs a file descriptor and hyper's buffers; 1024 fits the usual `ulimit -n`.
pub const DEFAULT_HTTP_MAX_CONNECTIONS: usize = 1024;
/// Default cap on HTTP connections open at once from one client address (an IPv4 address, or
/// an IPv6 /64). A connection beyond it is closed at once. Browsers open at most 6 per host
/// and the CLI one per node, so 32 leaves room for a few users behind one NAT while a single
/// address can hold only 1/32 of the default connection cap.
pub const DEFAULT_HTTP_MAX_CONNECTIONS_PER_IP: usize = 32;
/// Default time a client has to send a request's complete header, counted from when the
/// connection opens or its previous answer was sent: a connection that stays silent (idle
/// keep-alive) or sends a header slowly is closed after it. Real clients send a header in
/// one packet, so 10 s only ever cuts idle or stalling connections.
pub const DEFAULT_HTTP_HEADER_TIMEOUT_SECS: u64 = 10;

/// The whole configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// What the node serves: `threshold` (BLS/Shamir share-holder, the default) or
    /// `custodial` (the vault: K under a KEK, see `[vault]`).
    pub mode: NodeMode,
    /// Folder for keys (mode 0600) and the share store. Created (mode 0700) if missing.
    pub data_dir: PathBuf,
    /// This node's 0-based index in the key set. Optional: when a BLS share is stored its
    /// index is used, and a different value here refuses to start.
    pub node_index: Option<u32>,
    /// The operator's Ethereum address, as registered in the NodeRegistry (shown in `info`).
    pub operator: Option<Address>,
    /// **Devnet only**: a dealer-made BLS share to import once into the store (JSON, see
    /// `GenesisShare`). The file may be deleted after the first start.
    pub genesis_share: Option<PathBuf>,
    /// HTTP API.
    pub http: HttpConfig,
    /// libp2p transport.
    pub p2p: P2pConfig,
    /// Chain access and the gate's block rules.
    pub chain: ChainConfig,
    /// Limits against abuse.
    pub limits: LimitsConfig,
    /// The custodial vault (read only when `mode = "custodial"`).
    pub vault: VaultConfig,
    /// The file this config was read from (not a key: set by [`NodeConfig::read`]). The
    /// vault re-reads it when a rotation names a PKCS#11 module it did not start with.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

/// `[http]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address; port 0 picks a free port (the bound address is printed on stdout).
    pub listen: SocketAddr,
}

/// `[p2p]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pConfig {
    /// Start the libp2p transport.
    pub enabled: bool,
    /// Multiaddrs to listen on.
    pub listen: Vec<String>,
    /// Extra bootstrap peers (`/ip4/…/tcp/…/p2p/<peer id>`), in addition to the NodeRegistry.
    pub bootstrap: Vec<String>,
}

/// `[chain]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// The node's own JSON-RPC endpoint (http or https; shown redacted: it may hold an API
    /// key).
    pub rpc_url: RpcUrl,
    /// Expected `eth_chainId`; the node refuses to start on a different chain.
    pub chain_id: u64,
    /// FileRegistry address: the gate, and the EIP-712 verifying contract.
    pub file_registry: Address,
    /// NodeRegistry address (network membership, bootstrap peers).
    pub node_registry: Address,
    /// Largest accepted `head - atBlock`.
    pub freshness_blocks: u64,
    /// Smallest accepted `head - atBlock`.
    pub confirmations: u64,
}

/// `[limits]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests handled at once (HTTP and libp2p together).
    pub max_concurrent_requests: usize,
    /// Sustained requests per second per origin.
    pub rate_per_sec: u32,
    /// Burst per origin.
    pub rate_burst: u32,
    /// Largest request in bytes; at most `wire::MAX_MESSAGE_BYTES`.
    pub max_message_bytes: usize,
    /// Request hashes remembered for replay protection (requests in flight and answered
    /// ones; a refused request is forgotten).
    pub replay_cache_size: usize,
    /// Most of those one origin (IP for HTTP, peer id for p2p) may hold at once; further
    /// requests from it get `RATE_LIMITED` until some expire. At most `replay_cache_size`.
    pub replay_cache_per_origin: usize,
    /// Most of those one signer address may hold at once (same policy). At most
    /// `replay_cache_size`.
    pub replay_cache_per_signer: usize,
    /// Sustained requests per minute per signer address (checked after the signature,
    /// before any chain call; all modes).
    pub requester_rate_per_min: u32,
    /// Burst per signer address.
    pub requester_burst: u32,
    /// HTTP connections open at once; a connection beyond it is closed at once.
    pub http_max_connections: usize,
    /// HTTP connections open at once from one address (IPv4, or IPv6 /64); a connection
    /// beyond it is closed at once. At most `http_max_connections`.
    pub http_max_connections_per_ip: usize,
    /// Seconds a client has to send a complete request header after connecting or after its
    /// previous answer (the keep-alive idle time); then the connection is closed.
    pub http_header_timeout_secs: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            mode: NodeMode::Threshold,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            node_index: None,
            operator: None,
            genesis_share: None,
            http: HttpConfig::default(),
            p2p: P2pConfig::default(),
            chain: ChainConfig::default(),
            limits: LimitsConfig::default(),
            vault: VaultConfig::default(),
            config_file: None,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: vec![DEFAULT_P2P_LISTEN.to_owned()],
            bootstrap: Vec::new(),
        }
    }
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            rpc_url: RpcUrl::parse(DEFAULT_RPC_URL).expect("the default RPC URL parses"),
            chain_id: DEFAULT_CHAIN_ID,
            file_registry: Address::ZERO,
            node_registry: Address::ZERO,
            freshness_blocks: DEFAULT_FRESHNESS_BLOCKS,
            confirmations: DEFAULT_CONFIRMATIONS,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            rate_per_sec: DEFAULT_RATE_PER_SEC,
            rate_burst: DEFAULT_RATE_BURST,
            max_message_bytes: MAX_MESSAGE_BYTES,
            replay_cache_size: DEFAULT_REPLAY_CACHE_SIZE,
            replay_cache_per_origin: DEFAULT_REPLAY_CACHE_PER_ORIGIN,
            replay_cache_per_signer: DEFAULT_REPLAY_CACHE_PER_SIGNER,
            requester_rate_per_min: DEFAULT_REQUESTER_RATE_PER_MIN,
            requester_burst: DEFAULT_REQUESTER_BURST,
            http_max_connections: DEFAULT_HTTP_MAX_CONNECTIONS,
            http_max_connections_per_ip: DEFAULT_HTTP_MAX_CONNECTIONS_PER_IP,
            http_header_timeout_secs: DEFAULT_HTTP_HEADER_TIMEOUT_SECS,
        }
    }
}

/// Every key that can be overridden from the environment or the command line.
pub const CONFIG_KEYS: &[&str] = &[
    "mode",
    "data_dir",
    "node_index",
    "operator",
    "genesis_share",
    "http.listen",
    "p2p.enabled",
    "p2p.listen",
    "p2p.bootstrap",
    "chain.rpc_url",
    "chain.chain_id",
    "chain.file_registry",
    "chain.node_registry",
    "chain.freshness_blocks",
    "chain.confirmations",
    "limits.max_concurrent_requests",
    "limits.rate_per_sec",
    "limits.rate_burst",
    "limits.max_message_bytes",
    "limits.replay_cache_size",
    "limits.replay_cache_per_origin",
    "limits.replay_cache_per_signer",
    "limits.requester_rate_per_min",
    "limits.requester_burst",
    "limits.http_max_connections",
    "limits.http_max_connections_per_ip",
    "limits.http_header_timeout_secs",
    "vault.kek",
    "vault.audit_log",
    "vault.pkcs11.module",
    "vault.pkcs11.token_label",
    "vault.pkcs11.key_label",
    "vault.pkcs11.pin_file",
    "vault.file.path",
    "vault.file.passphrase_file",
];

/// Environment variables under [`ENV_PREFIX`] that carry secrets rather than config keys:
/// read by the vault at start (and for a rotation), never written to a config file.
pub const SECRET_ENV_VARS: &[&str] = &[PKCS11_PIN_ENV, FILE_PASSPHRASE_ENV];

impl NodeConfig {
    /// This config in custodial mode with `vault` as its `[vault]` section (for launchers:
    /// `NodeConfig { data_dir, .. }.custodial(VaultConfig::new(KekConfig::pkcs11(..)))`).
    #[must_use]
    pub fn custodial(mut self, vault: VaultConfig) -> Self {
        self.mode = NodeMode::Custodial;
        self.vault = vault;
        self
    }

    /// Parses a TOML document (missing keys take their defaults). Does not validate.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|source| Error::ConfigParse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// The TOML text of this config (e.g. for the devnet launcher to write node configs).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|_| Error::Internal {
            what: "config TOML serialisation",
        })
    }

    /// Reads the config file at `path`, or the defaults when `path` is `None`.
    pub fn read(path: Option<&Path>) -> Result<Self> {
        match path {
            None => Ok(Self::default()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
                let mut config = Self::from_toml(&text, path)?;
                config.config_file = Some(path.to_owned());
                Ok(config)
            }
        }
    }

    /// The full layering: file (or defaults), then `env` (pass `std::env::vars()`), then
    /// `overrides` (`(key, value)` from flags), then [`NodeConfig::validate`].
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(String, String)],
    ) -> Result<Self> {
        let mut config = Self::read(path)?;
        config.apply_env(env)?;
        for (key, value) in overrides {
            config.set(key, value)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Applies every `ZGVAULT_NODE_*` variable of `env`. An unknown `ZGVAULT_NODE_*` variable
    /// is an error, like an unknown TOML key: a typo must not be silently ignored.
    pub fn apply_env(&mut self, env: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if SECRET_ENV_VARS.contains(&name.as_str()) {
                continue;
            }
            let key = CONFIG_KEYS
                .iter()
                .find(|key| key.replace('.', "_").eq_ignore_ascii_case(rest))
                .ok_or_else(|| Error::ConfigValue {
                    key: name.clone(),
                    value: value.clone(),
                    reason: "unknown ZGVAULT_NODE_* variable (see CONFIG_KEYS in node/README.md)",
                })?;
            self.set(key, &value)?;
        }
        Ok(())
    }

    /// Sets one key (dotted TOML name) from its string form.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let v = value.trim();
        match key {
            "mode" => self.mode = parse(key, v, "threshold or custodial")?,
            "data_dir" => self.data_dir = PathBuf::from(v),
            "node_index" => self.node_index = optional(key, v, "a node index (u32)")?,
            "operator" => self.operator = optional(key, v, "a 0x-prefixed 20-byte address")?,
            "genesis_share" => {
                self.genesis_share = (!v.is_empty()).then(|| PathBuf::from(v));
            }
            "http.listen" => self.http.listen = parse(key, v, "an address like 127.0.0.1:8080")?,
            "p2p.enabled" => self.p2p.enabled = parse(key, v, "true or false")?,
            "p2p.listen" => self.p2p.listen = list(v),
            "p2p.bootstrap" => self.p2p.bootstrap = list(v),
            "chain.rpc_url" => {
                // The value is not repeated in the error: it may hold an API key.
                self.chain.rpc_url =
                    v.parse()
                        .map_err(|e: zgvault_proto::Error| Error::ConfigValue {
                            key: key.to_owned(),
                            value: e.to_string(),
                            reason: "must be an http:// or https:// URL",
                        })?;
            }
            "chain.chain_id" => self.chain.chain_id = parse(key, v, "a chain id (u64)")?,
            "chain.file_registry" => {
                self.chain.file_registry = parse(key, v, "a 0x-prefixed 20-byte address")?;
            }
            "chain.node_registry" => {
                self.chain.node_registry = parse(key, v, "a 0x-prefixed 20-byte address")?;
            }
            "chain.freshness_blocks" => {
                self.chain.freshness_blocks = parse(key, v, "a block count (u64)")?;
            }
            "chain.confirmations" => {
                self.chain.confirmations = parse(key, v, "a block count (u64)")?;
            }
            "limits.max_concurrent_requests" => {
                self.limits.max_concurrent_requests = parse(key, v, "a count")?;
            }
            "limits.rate_per_sec" => self.limits.rate_per_sec = parse(key, v, "a count")?,
            "limits.rate_burst" => self.limits.rate_burst = parse(key, v, "a count")?,
            "limits.max_message_bytes" => {
                self.limits.max_message_bytes = parse(key, v, "a byte count")?;
            }
            "limits.replay_cache_size" => {
                self.limits.replay_cache_size = parse(key, v, "a count")?;
            }
            "limits.replay_cache_per_origin" => {
                self.limits.replay_cache_per_origin = parse(key, v, "a count")?;
            }
            "limits.replay_cache_per_signer" => {
                self.limits.replay_cache_per_signer = parse(key, v, "a count")?;
            }
            "limits.requester_rate_per_min" => {
                self.limits.requester_rate_per_min = parse(key, v, "a count")?;
            }
            "limits.requester_burst" => self.limits.requester_burst = parse(key, v, "a count")?,
            "limits.http_max_connections" => {
                self.limits.http_max_connections = parse(key, v, "a count")?;
            }
            "limits.http_max_connections_per_ip" => {
                self.limits.http_max_connections_per_ip = parse(key, v, "a count")?;
            }
            "limits.http_header_timeout_secs" => {
                self.limits.http_header_timeout_secs = parse(key, v, "a number of seconds")?;
            }
            "vault.kek" => self.vault.kek = parse(key, v, "pkcs11 or file")?,
            "vault.audit_log" => self.vault.audit_log = PathBuf::from(v),
            "vault.pkcs11.module" => self.vault.pkcs11.module = PathBuf::from(v),
            "vault.pkcs11.token_label" => self.vault.pkcs11.token_label = v.to_owned(),
            "vault.pkcs11.key_label" => self.vault.pkcs11.key_label = v.to_owned(),
            "vault.pkcs11.pin_file" => {
                self.vault.pkcs11.pin_file = (!v.is_empty()).then(|| PathBuf::from(v));
            }
            "vault.file.path" => self.vault.file.path = PathBuf::from(v),
            "vault.file.passphrase_file" => {
                self.vault.file.passphrase_file = (!v.is_empty()).then(|| PathBuf::from(v));
            }
            _ => {
                return Err(Error::ConfigValue {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    reason: "unknown config key (see CONFIG_KEYS in node/README.md)",
                });
            }
        }
        Ok(())
    }

    /// Checks the values that parse but cannot work.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, value: String, reason: &'static str| {
            Err(Error::ConfigValue {
                key: key.to_owned(),
                value,
                reason,
            })
        };
        if self.chain.freshness_blocks == 0 {
            return bad("chain.freshness_blocks", "0".into(), "must be at least 1");
        }
        if self.chain.confirmations > self.chain.freshness_blocks {
            return bad(
                "chain.confirmations",
                self.chain.confirmations.to_string(),
                "must not exceed chain.freshness_blocks, or no block would be accepted",
            );
        }
        let limits = &self.limits;
        if limits.max_concurrent_requests == 0 {
            return bad(
                "limits.max_concurrent_requests",
                "0".into(),
                "must be at least 1",
            );
        }
        if limits.rate_per_sec == 0 || limits.rate_burst == 0 {
            return bad(
                "limits.rate_per_sec",
                format!("{}/{}", limits.rate_per_sec, limits.rate_burst),
                "rate_per_sec and rate_burst must be at least 1",
            );
        }
        if limits.max_message_bytes == 0 || limits.max_message_bytes > MAX_MESSAGE_BYTES {
            return bad(
                "limits.max_message_bytes",
                limits.max_message_bytes.to_string(),
                "must be between 1 and wire::MAX_MESSAGE_BYTES (65536)",
            );
        }
        if limits.replay_cache_size == 0 {
            return bad("limits.replay_cache_size", "0".into(), "must be at least 1");
        }
        for (key, share) in [
            (
                "limits.replay_cache_per_origin",
                limits.replay_cache_per_origin,
            ),
            (
                "limits.replay_cache_per_signer",
                limits.replay_cache_per_signer,
            ),
        ] {
            if share == 0 || share > limits.replay_cache_size {
                return bad(
                    key,
                    share.to_string(),
                    "must be between 1 and limits.replay_cache_size (lower it with the cache, or \
                     raise the cache)",
                );
            }
        }
        if limits.requester_rate_per_min == 0 || limits.requester_burst == 0 {
            return bad(
                "limits.requester_rate_per_min",
                format!(
                    "{}/{}",
                    limits.requester_rate_per_min, limits.requester_burst
                ),
                "requester_rate_per_min and requester_burst must be at least 1",
            );
        }
        if limits.http_max_connections == 0 {
            return bad(
                "limits.http_max_connections",
                "0".into(),
                "must be at least 1",
            );
        }
        if limits.http_max_connections_per_ip == 0
            || limits.http_max_connections_per_ip > limits.http_max_connections
        {
            return bad(
                "limits.http_max_connections_per_ip",
                limits.http_max_connections_per_ip.to_string(),
                "must be between 1 and limits.http_max_connections",
            );
        }
        if limits.http_header_timeout_secs == 0 {
            return bad(
                "limits.http_header_timeout_secs",
                "0".into(),
                "must be at least 1 (seconds)",
            );
        }
        if self.mode == NodeMode::Custodial {
            self.vault.validate()?;
        }
        Ok(())
    }

    /// Checks what `run` needs beyond [`NodeConfig::validate`]: the registry must be set.
    pub(crate) fn validate_for_run(&self) -> Result<()> {
        self.validate()?;
        if self.chain.file_registry == Address::ZERO {
            return Err(Error::ConfigValue {
                key: "chain.file_registry".into(),
                value: self.chain.file_registry.to_string(),
                reason: "set it to the deployed FileRegistry address",
            });
        }
        Ok(())
    }
}

fn parse<T: FromStr>(key: &str, value: &str, reason: &'static str) -> Result<T> {
    value.parse().map_err(|_| Error::ConfigValue {
        key: key.to_owned(),
        value: value.to_owned(),
        reason,
    })
}

/// Empty means "unset".
fn optional<T: FromStr>(key: &str, value: &str, reason: &'static str) -> Result<Option<T>> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse(key, value, reason).map(Some)
    }
}

/// Comma-separated list; empty means an empty list.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config = NodeConfig::from_toml("", Path::new("x.toml")).unwrap();
        assert_eq!(config, NodeConfig::default());
        assert_eq!(config.http.listen.to_string(), DEFAULT_HTTP_LISTEN);
        assert_eq!(config.limits.max_message_bytes, MAX_MESSAGE_BYTES);
        config.validate().unwrap();
    }

    #[test]
    fn file_values_are_read() {
        let text = r#"
            data_dir = "/var/lib/zg"
            node_index = 3
            [http]
            listen = "0.0.0.0:8080"
            [chain]
            rpc_url = "http://10.0.0.1:8545"
            chain_id = 16602
            file_registry = "0x0101010101010101010101010101010101010101"
            confirmations = 2
        "#;
        let config = NodeConfig::from_toml(text, Path::new("x.toml")).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/zg"));
        assert_eq!(config.node_index, Some(3));
        assert_eq!(config.http.listen.port(), 8080);
        assert_eq!(config.chain.chain_id, 16602);
        assert_eq!(config.chain.file_registry, Address::repeat_byte(1));
        assert_eq!(config.chain.confirmations, 2);
        assert_eq!(config.chain.freshness_blocks, DEFAULT_FRESHNESS_BLOCKS);
        config.validate_for_run().unwrap();
    }

    #[test]
    fn to_toml_round_trips() {
        let mut config = NodeConfig {
            node_index: Some(2),
            operator: Some(Address::repeat_byte(3)),
            genesis_share: Some(PathBuf::from("/tmp/g.json")),
            ..NodeConfig::default()
        };
        config.chain.file_registry = Address::repeat_byte(1);
        config.p2p.bootstrap = vec!["/ip4/127.0.0.1/tcp/1/p2p/x".into()];
        let text = config.to_toml().unwrap();
        assert_eq!(
            NodeConfig::from_toml(&text, Path::new("x.toml")).unwrap(),
            config
        );
        let text = NodeConfig::default().to_toml().unwrap();
        assert_eq!(
            NodeConfig::from_toml(&text, Path::new("x.toml")).unwrap(),
            NodeConfig::default()
        );
    }

    #[test]
    fn fail_unknown_keys() {
        for text in ["colour = 1", "[chain]\nrpc = \"x\"", "[nope]\n"] {
            let err = NodeConfig::from_toml(text, Path::new("x.toml")).unwrap_err();
            assert!(matches!(err, Error::ConfigParse { .. }), "{text}: {err}");
        }
    }

    #[test]
    fn env_then_flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "[chain]\nchain_id = 1\nconfirmations = 1\n").unwrap();
        let env = [
            ("ZGVAULT_NODE_CHAIN_CHAIN_ID".to_owned(), "2".to_owned()),
            (
                "ZGVAULT_NODE_HTTP_LISTEN".to_owned(),
                "127.0.0.1:9000".to_owned(),
            ),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let flags = [("chain.chain_id".to_owned(), "3".to_owned())];
        let config = NodeConfig::load(Some(&path), env, &flags).unwrap();
        assert_eq!(config.chain.chain_id, 3, "flag beats env beats file");
        assert_eq!(config.chain.confirmations, 1, "file value kept");
        assert_eq!(config.http.listen.port(), 9000, "env applied");
    }

    #[test]
    fn fail_unknown_env_variable_and_bad_values() {
        let env = [("ZGVAULT_NODE_CHAIN_RCP_URL".to_owned(), "x".to_owned())];
        assert!(NodeConfig::load(None, env, &[]).is_err());
        let mut config = NodeConfig::default();
        assert!(config.set("chain.chain_id", "many").is_err());
        assert!(config.set("limits.max_message_bytes", "70000").is_ok());
        assert!(config.validate().is_err(), "above wire::MAX_MESSAGE_BYTES");
        let mut config = NodeConfig::default();
        config.chain.confirmations = 300;
        assert!(config.validate().is_err());
        for (key, value) in [
            ("limits.http_max_connections", "0"),
            ("limits.http_max_connections_per_ip", "0"),
            ("limits.http_max_connections_per_ip", "1025"),
            ("limits.http_header_timeout_secs", "0"),
        ] {
            let mut config = NodeConfig::default();
            config.set(key, value).unwrap();
            assert!(
                matches!(config.validate(), Err(Error::ConfigValue { key: k, .. }) if k == key),
                "{key} = {value} accepted"
            );
        }
        assert!(
            NodeConfig::default().validate_for_run().is_err(),
            "registry unset"
        );
    }

    #[test]
    fn replay_cache_shares_are_read_and_checked() {
        let text = "[limits]\nreplay_cache_size = 50\nreplay_cache_per_origin = 20\n\
                    replay_cache_per_signer = 5\n";
        let config = NodeConfig::from_toml(text, Path::new("x.toml")).unwrap();
        assert_eq!(config.limits.replay_cache_per_origin, 20);
        assert_eq!(config.limits.replay_cache_per_signer, 5);
        config.validate().unwrap();
        let err = NodeConfig::from_toml("[limits]\nreplay_cache_per_ip = 1\n", Path::new("x.toml"))
            .unwrap_err();
        assert!(matches!(err, Error::ConfigParse { .. }), "{err}");
        for (key, value) in [
            ("limits.replay_cache_per_origin", "0"),
            ("limits.replay_cache_per_signer", "0"),
            ("limits.replay_cache_per_origin", "51"),
            ("limits.replay_cache_per_signer", "51"),
        ] {
            let mut bad = config.clone();
            bad.set(key, value).unwrap();
            let err = bad.validate().unwrap_err();
            assert!(
                matches!(&err, Error::ConfigValue { key: k, .. } if k == key),
                "{key} = {value}: {err}"
            );
        }
        // A smaller cache with the default shares is refused, saying what to lower.
        let mut small = NodeConfig::default();
        small.limits.replay_cache_size = DEFAULT_REPLAY_CACHE_PER_ORIGIN - 1;
        assert!(small.validate().is_err());
    }

    #[test]
    fn lists_and_optionals() {
        let mut config = NodeConfig::default();
        config
            .set("p2p.listen", "/ip4/0.0.0.0/tcp/1, /ip4/0.0.0.0/tcp/2")
            .unwrap();
        assert_eq!(config.p2p.listen.len(), 2);
        config.set("node_index", "4").unwrap();
        assert_eq!(config.node_index, Some(4));
        config.set("node_index", "").unwrap();
        assert_eq!(config.node_index, None);
        for key in CONFIG_KEYS {
            assert!(
                !matches!(config.clone().set(key, ""), Err(Error::ConfigValue { reason, .. }) if reason.starts_with("unknown")),
                "{key} listed but not settable"
            );
        }
    }
}
