//! The node's mode and the custodial vault's `[vault]` section: which KEK seals K at rest,
//! where the audit log goes, and older KEKs still needed during or after a rotation.
//!
//! Secrets (the HSM PIN, the key-file passphrase) are never in the TOML: each comes from a
//! file readable only by its owner (`pin_file`, `passphrase_file`, mode 0600) or, when no
//! file is named, from the environment ([`PKCS11_PIN_ENV`], [`FILE_PASSPHRASE_ENV`]).
//! Relative paths are relative to `data_dir`.

use std::{fmt, path::PathBuf, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::custody::DEFAULT_SOFTHSM_MODULE;
use crate::error::{Error, Result};

/// Environment variable with the PKCS#11 user PIN, read when `pin_file` is not set.
pub const PKCS11_PIN_ENV: &str = "ZGVAULT_NODE_VAULT_PKCS11_PIN";
/// Environment variable with the file KEK's passphrase, read when `passphrase_file` is not set.
pub const FILE_PASSPHRASE_ENV: &str = "ZGVAULT_NODE_VAULT_FILE_PASSPHRASE";
/// Default audit log file name (in `data_dir`).
pub const DEFAULT_AUDIT_LOG: &str = "audit.jsonl";
/// Default file KEK path (in `data_dir`).
pub const DEFAULT_FILE_KEK: &str = "kek.json";
/// Default PKCS#11 token label.
pub const DEFAULT_TOKEN_LABEL: &str = "zgvault";
/// Default label of the KEK object in the token.
pub const DEFAULT_KEY_LABEL: &str = "zgvault-kek-1";

/// What a node serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeMode {
    /// A BLS/Shamir share-holder of the threshold network (the default).
    #[default]
    Threshold,
    /// The custodial vault: holds K under a KEK and releases it after the gate.
    Custodial,
}

impl FromStr for NodeMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "threshold" => Ok(Self::Threshold),
            "custodial" => Ok(Self::Custodial),
            _ => Err(()),
        }
    }
}

impl fmt::Display for NodeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Threshold => "threshold",
            Self::Custodial => "custodial",
        })
    }
}

/// Where a KEK lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KekBackend {
    /// A non-extractable AES-256 key in a PKCS#11 token (an HSM; SoftHSM2 on the devnet).
    #[default]
    Pkcs11,
    /// A key in a passphrase-sealed file (scrypt), for deployments without an HSM.
    File,
}

impl FromStr for KekBackend {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pkcs11" => Ok(Self::Pkcs11),
            "file" => Ok(Self::File),
            _ => Err(()),
        }
    }
}

/// `[vault]`: the custodial vault (read only when `mode = "custodial"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// Backend of the current KEK (new deposits are sealed under it): `pkcs11` or `file`.
    pub kek: KekBackend,
    /// The hash-chained audit log (relative to `data_dir`).
    pub audit_log: PathBuf,
    /// `[vault.pkcs11]`: the token and key when `kek = "pkcs11"`.
    pub pkcs11: Pkcs11KekConfig,
    /// `[vault.file]`: the key file when `kek = "file"`.
    pub file: FileKekConfig,
    /// `[[vault.previous]]`: older KEKs still loaded so records not yet re-wrapped open.
    /// Drop one once `zgvault-node vault status` shows it holds no record.
    pub previous: Vec<KekConfig>,
}

/// One KEK: its backend and that backend's settings (the other backend's are ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KekConfig {
    /// `pkcs11` or `file`.
    pub kek: KekBackend,
    /// The token and key when `kek = "pkcs11"`.
    pub pkcs11: Pkcs11KekConfig,
    /// The key file when `kek = "file"`.
    pub file: FileKekConfig,
}

/// `[vault.pkcs11]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pkcs11KekConfig {
    /// The PKCS#11 module (`.so`), e.g. SoftHSM2's.
    pub module: PathBuf,
    /// Label of an initialised token.
    pub token_label: String,
    /// Label of the AES key in the token; created (non-extractable) if absent.
    pub key_label: String,
    /// File with the user PIN (mode 0600, relative to `data_dir`); when unset, the PIN is
    /// read from `ZGVAULT_NODE_VAULT_PKCS11_PIN`.
    pub pin_file: Option<PathBuf>,
}

/// `[vault.file]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileKekConfig {
    /// The KEK file (JSON, mode 0600, relative to `data_dir`); created on first start.
    pub path: PathBuf,
    /// File with the passphrase (mode 0600, relative to `data_dir`); when unset, read from
    /// `ZGVAULT_NODE_VAULT_FILE_PASSPHRASE`.
    pub passphrase_file: Option<PathBuf>,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self::new(KekConfig::default())
    }
}

impl Default for Pkcs11KekConfig {
    fn default() -> Self {
        Self {
            module: PathBuf::from(DEFAULT_SOFTHSM_MODULE),
            token_label: DEFAULT_TOKEN_LABEL.to_owned(),
            key_label: DEFAULT_KEY_LABEL.to_owned(),
            pin_file: None,
        }
    }
}

impl Default for FileKekConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from(DEFAULT_FILE_KEK),
            passphrase_file: None,
        }
    }
}

impl KekConfig {
    /// A KEK in a PKCS#11 token (`module`, token and key labels, PIN file).
    pub fn pkcs11(
        module: impl Into<PathBuf>,
        token_label: &str,
        key_label: &str,
        pin_file: Option<PathBuf>,
    ) -> Self {
        Self {
            kek: KekBackend::Pkcs11,
            pkcs11: Pkcs11KekConfig {
                module: module.into(),
                token_label: token_label.to_owned(),
                key_label: key_label.to_owned(),
                pin_file,
            },
            file: FileKekConfig::default(),
        }
    }

    /// A KEK in a passphrase-sealed file.
    pub fn file(path: impl Into<PathBuf>, passphrase_file: Option<PathBuf>) -> Self {
        Self {
            kek: KekBackend::File,
            pkcs11: Pkcs11KekConfig::default(),
            file: FileKekConfig {
                path: path.into(),
                passphrase_file,
            },
        }
    }

    /// A short, secret-free description (`pkcs11 token/key` or `file PATH`), for logs.
    pub fn describe(&self) -> String {
        match self.kek {
            KekBackend::Pkcs11 => format!(
                "pkcs11 token {:?} key {:?}",
                self.pkcs11.token_label, self.pkcs11.key_label
            ),
            KekBackend::File => format!("file {}", self.file.path.display()),
        }
    }

    fn validate(&self, key: &str) -> Result<()> {
        let bad = |field: &str, reason: &'static str| {
            Err(Error::ConfigMissing {
                key: format!("{key}.{field}"),
                reason,
            })
        };
        match self.kek {
            KekBackend::Pkcs11 => {
                if self.pkcs11.module.as_os_str().is_empty() {
                    return bad("pkcs11.module", "set the PKCS#11 module path (.so)");
                }
                if self.pkcs11.token_label.is_empty() {
                    return bad("pkcs11.token_label", "set the token's label");
                }
                if self.pkcs11.key_label.is_empty() {
                    return bad("pkcs11.key_label", "set the KEK's label in the token");
                }
            }
            KekBackend::File => {
                if self.file.path.as_os_str().is_empty() {
                    return bad("file.path", "set the KEK file's path");
                }
            }
        }
        Ok(())
    }
}

impl VaultConfig {
    /// A vault whose current KEK is `current`, with no previous KEK and the default audit log.
    pub fn new(current: KekConfig) -> Self {
        Self {
            kek: current.kek,
            audit_log: PathBuf::from(DEFAULT_AUDIT_LOG),
            pkcs11: current.pkcs11,
            file: current.file,
            previous: Vec::new(),
        }
    }

    /// The current KEK's settings.
    pub fn current(&self) -> KekConfig {
        KekConfig {
            kek: self.kek,
            pkcs11: self.pkcs11.clone(),
            file: self.file.clone(),
        }
    }

    /// Makes `next` the current KEK and keeps the old one under `previous` (what an operator
    /// writes in the config before `zgvault-node vault rotate`).
    pub fn rotate_to(&mut self, next: KekConfig) {
        let old = self.current();
        if !self.previous.contains(&old) {
            self.previous.push(old);
        }
        self.previous.retain(|k| k != &next);
        self.kek = next.kek;
        self.pkcs11 = next.pkcs11;
        self.file = next.file;
    }

    /// Checks the values that parse but cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.audit_log.as_os_str().is_empty() {
            return Err(Error::ConfigMissing {
                key: "vault.audit_log".into(),
                reason: "set the audit log's path",
            });
        }
        self.current().validate("vault")?;
        for previous in &self.previous {
            previous.validate("vault.previous")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use super::*;
    use crate::config::NodeConfig;

    #[test]
    fn custodial_config_round_trips_and_parses_from_toml() {
        let text = r#"
            mode = "custodial"
            [vault]
            kek = "pkcs11"
            audit_log = "audit.log"
            [vault.pkcs11]
            module = "/usr/lib/softhsm/libsofthsm2.so"
            token_label = "zgvault"
            key_label = "zgvault-kek-2"
            pin_file = "hsm.pin"
            [[vault.previous]]
            kek = "file"
            [vault.previous.file]
            path = "kek.json"
            passphrase_file = "kek.pass"
            [limits]
            requester_rate_per_min = 60
            requester_burst = 5
        "#;
        let config = NodeConfig::from_toml(text, Path::new("x.toml")).unwrap();
        assert_eq!(config.mode, NodeMode::Custodial);
        assert_eq!(config.vault.pkcs11.key_label, "zgvault-kek-2");
        assert_eq!(config.vault.previous.len(), 1);
        assert_eq!(config.vault.previous[0].kek, KekBackend::File);
        assert_eq!(config.limits.requester_burst, 5);
        config.validate().unwrap();
        let again = NodeConfig::from_toml(&config.to_toml().unwrap(), Path::new("y")).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn rotate_to_moves_the_current_kek_to_previous() {
        let mut vault = VaultConfig::new(KekConfig::file("kek.json", Some("kek.pass".into())));
        let hsm = KekConfig::pkcs11(DEFAULT_SOFTHSM_MODULE, "t", "k", Some("pin".into()));
        vault.rotate_to(hsm.clone());
        assert_eq!(vault.current(), hsm);
        assert_eq!(
            vault.previous,
            vec![KekConfig::file("kek.json", Some("kek.pass".into()))]
        );
        vault.rotate_to(hsm.clone());
        assert_eq!(
            vault.previous.len(),
            1,
            "rotating to the same KEK adds nothing"
        );
    }

    #[test]
    fn fail_bad_vault_values() {
        let mut config = NodeConfig {
            mode: NodeMode::Custodial,
            ..NodeConfig::default()
        };
        config.vault.pkcs11.token_label.clear();
        assert!(config.validate().is_err());
        config.mode = NodeMode::Threshold;
        assert!(config.validate().is_ok(), "vault ignored in threshold mode");
        assert!(config.set("mode", "vault").is_err());
        assert!(config.set("vault.kek", "tpm").is_err());
        config.set("vault.kek", "file").unwrap();
        config.set("mode", "custodial").unwrap();
        config.validate().unwrap();
        let env = [(PKCS11_PIN_ENV.to_owned(), "1234".to_owned())];
        assert!(
            NodeConfig::load(None, env, &[]).is_ok(),
            "the secret variables are not config keys and not refused"
        );
    }
}
