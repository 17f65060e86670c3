//! The CLI's config file: which network, which keystore. TOML, every field defaulted,
//! unknown keys rejected; flags override it.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use zgvault_proto::RpcUrl;

use crate::error::Error;
use crate::network::{Network, VaultEndpoint};

/// The config file's name inside [`home_dir`].
pub const CONFIG_FILE: &str = "config.toml";
/// The keystore's default name inside [`home_dir`].
const KEYSTORE_FILE: &str = "keystore.json";

/// `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `devnet`, `galileo`, `mainnet`, ... (see `Network::builtin`).
    pub network: String,
    /// The devnet manifest; absent means the default devnet location.
    pub manifest: Option<PathBuf>,
    /// Override the chain RPC URL.
    pub rpc: Option<RpcUrl>,
    /// The encrypted JSON keystore holding the user's Ethereum key.
    pub keystore: PathBuf,
    /// zgvault's contracts on networks without built-in addresses.
    pub file_registry: Option<Address>,
    pub access_pass: Option<Address>,
    pub node_registry: Option<Address>,
    /// The custodial vault's HTTP URL, on networks where the manifest does not name one.
    pub vault_url: Option<String>,
    /// The custodial vault's encryption key (0x + 64 hex), pinned: a vault whose `/v1/info`
    /// reports another key is refused. The devnet manifest pins its own vault's.
    pub vault_key: Option<B256>,
    /// The block the FileRegistry was deployed at, on networks without a built-in one:
    /// `ls` and `revoke` scan events from there instead of from genesis.
    pub registry_deploy_block: Option<u64>,
    /// Blocks below the head to sign access requests at for key nodes or a vault whose
    /// `/v1/info` does not say (libp2p-only or older nodes); those that say are signed for
    /// as they say. Unset: 0, and a `NOT_CONFIRMED` answer makes the client sign deeper.
    pub confirmations: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network: "devnet".to_owned(),
            manifest: None,
            rpc: None,
            keystore: home_dir().join(KEYSTORE_FILE),
            file_registry: None,
            access_pass: None,
            node_registry: None,
            vault_url: None,
            vault_key: None,
            registry_deploy_block: None,
            confirmations: None,
        }
    }
}

impl Config {
    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Config>, Error> {
        let Some(text) = crate::files::read_if_present(path, "read the config file")? else {
            return Ok(None);
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|source| Error::ConfigFile {
                path: path.to_owned(),
                source,
            })
    }

    /// Writes it to `path` (0600).
    pub fn store(&self, path: &Path) -> Result<(), Error> {
        let text = toml::to_string_pretty(self).map_err(|_| Error::Internal {
            what: "serializing the config",
        })?;
        crate::files::write_private(path, text.as_bytes())
    }

    /// The network this config names, with its overrides applied, and the devnet manifest
    /// when it is the devnet ([`default_manifest`] unless `manifest` names one).
    pub fn network(&self) -> Result<(Network, Option<PathBuf>), Error> {
        let (mut net, manifest) = if self.network == "devnet" {
            let path = self.manifest.clone().unwrap_or_else(default_manifest);
            (Network::from_devnet(&path)?, Some(path))
        } else {
            let net = Network::builtin(&self.network).ok_or_else(|| Error::UnknownNetwork {
                name: self.network.clone(),
            })?;
            (net, None)
        };
        if let Some(rpc) = &self.rpc {
            net.rpc_url = rpc.clone();
        }
        net.file_registry = self.file_registry.or(net.file_registry);
        net.access_pass = self.access_pass.or(net.access_pass);
        net.node_registry = self.node_registry.or(net.node_registry);
        net.registry_deploy_block = self.registry_deploy_block.or(net.registry_deploy_block);
        net.confirmations = self.confirmations.or(net.confirmations);
        if let Some(url) = &self.vault_url {
            // Same vault, other URL: keep the devnet's libp2p address only if it is the devnet's.
            let same = net.vault.as_ref().and_then(|v| v.http.as_deref()) == Some(url.as_str());
            if !same {
                // Another vault: the manifest's pinned key is not its key.
                net.vault = Some(VaultEndpoint {
                    http: Some(url.clone()),
                    ..Default::default()
                });
            }
        }
        if let (Some(key), Some(v)) = (self.vault_key, net.vault.as_mut()) {
            v.key = Some(key);
        }
        Ok((net, manifest))
    }
}

/// The devnet's manifest: `$ZGVAULT_DEVNET_DIR/manifest.json`, else
/// `$XDG_STATE_HOME/zgvault/devnet/manifest.json`, else
/// `~/.local/state/zgvault/devnet/manifest.json` (where `zgvault-testnet up` writes it).
pub fn default_manifest() -> PathBuf {
    let dir = std::env::var_os("ZGVAULT_DEVNET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let state = std::env::var_os("XDG_STATE_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state"))
                })?;
            Some(state.join("zgvault/devnet"))
        })
        .unwrap_or_else(|| PathBuf::from("."));
    dir.join("manifest.json")
}

/// `$ZGVAULT_HOME`, else `$XDG_CONFIG_HOME/zgvault`, else `~/.config/zgvault`.
pub fn home_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("ZGVAULT_HOME") {
        return PathBuf::from(h);
    }
    if let Some(c) = std::env::var_os("XDG_CONFIG_HOME") {
        return PathBuf::from(c).join("zgvault");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".config/zgvault"))
        .unwrap_or_else(|| PathBuf::from(".zgvault"))
}

/// The config file's path.
pub fn config_path() -> PathBuf {
    home_dir().join(CONFIG_FILE)
}

/// Where unfinished `put`s are kept: `$ZGVAULT_HOME/state`, else
/// `$XDG_STATE_HOME/zgvault`, else `~/.local/state/zgvault`.
pub fn state_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("ZGVAULT_HOME") {
        return PathBuf::from(h).join("state");
    }
    if let Some(s) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(s).join("zgvault");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".local/state/zgvault"))
        .unwrap_or_else(|| PathBuf::from(".zgvault/state"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_fill_missing_fields_and_unknown_keys_are_rejected() {
        let c: Config = toml::from_str("network = \"galileo\"").unwrap();
        assert_eq!(c.network, "galileo");
        assert!(c.manifest.is_none());
        assert!(toml::from_str::<Config>("netwrk = \"galileo\"").is_err());
    }
}
