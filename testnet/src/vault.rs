//! The devnet's custodial vault: one `zgvault-node` in `mode = "custodial"`, its KEK in a
//! SoftHSM2 token made for this devnet (its own `softhsm2.conf` and token folder in the
//! state directory, `SOFTHSM2_CONF` set for that child only, the user PIN in a 0600 file)
//! or, on machines without SoftHSM2, in a passphrase-sealed key file. Once it answers, its
//! encryption key is registered in the NodeRegistry by the devnet's admin (the deployer), so
//! clients can check the key the vault reports against the chain.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256};
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use serde::{Deserialize, Serialize};
use zgvault_contracts::NodeRegistry;
use zgvault_node::{KekConfig, NodeConfig, VaultConfig};

use crate::error::{Error, Result};
use crate::keynodes::{NODE_CONFIG_FILE, find_zgvault_node};
use crate::process::{READY_TIMEOUT, Spawned};

/// The vault's name among the devnet's processes (and its folder in the state directory).
pub const VAULT_NAME: &str = "vault";
/// Label of the devnet vault's SoftHSM2 token.
pub const VAULT_TOKEN_LABEL: &str = "zgvault-devnet";
/// The SoftHSM2 config the vault's child process gets as `SOFTHSM2_CONF`.
pub const SOFTHSM_CONF_FILE: &str = "softhsm2.conf";
/// Where the user PIN is kept (mode 0600, in the vault's data folder).
pub const PIN_FILE: &str = "hsm.pin";
/// Where the file KEK's passphrase is kept (mode 0600, in the vault's data folder).
pub const PASSPHRASE_FILE: &str = "kek.pass";
/// Environment variable naming `softhsm2-util`, when it is not on `PATH`.
pub const SOFTHSM_UTIL_ENV: &str = "ZGVAULT_SOFTHSM2_UTIL";
/// Environment variable naming the SoftHSM2 PKCS#11 module, when not at the Debian path.
pub const SOFTHSM_MODULE_ENV: &str = "ZGVAULT_SOFTHSM2_MODULE";

/// Where the devnet vault keeps its key-encryption key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaultKek {
    /// A non-extractable AES key in a SoftHSM2 token (PKCS#11), like an HSM in production.
    #[default]
    Softhsm,
    /// A passphrase-sealed key file (for machines without SoftHSM2).
    File,
}

impl FromStr for VaultKek {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "softhsm" | "pkcs11" => Ok(VaultKek::Softhsm),
            "file" => Ok(VaultKek::File),
            other => Err(format!("{other:?} is not a vault KEK: use softhsm or file")),
        }
    }
}

/// The custodial vault of a running devnet, as recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VaultInfo {
    /// Its HTTP API, e.g. `http://127.0.0.1:41234`.
    pub http: String,
    pub peer_id: String,
    pub p2p: Vec<String>,
    /// Its X25519 encryption key: custodial capsules name it, deposits are sealed to it.
    pub encryption_key: B256,
    pub kek: VaultKek,
    pub data_dir: PathBuf,
}

/// What the vault needs from the rest of the devnet.
#[derive(Debug)]
pub(crate) struct VaultSetup<'a> {
    pub state_dir: &'a Path,
    pub rpc_url: &'a str,
    pub chain_id: u64,
    pub file_registry: Address,
    pub node_registry: Address,
    /// The NodeRegistry admin, who registers the vault's key.
    pub admin: PrivateKeySigner,
    pub kek: VaultKek,
    /// The vault's `chain.confirmations` (the key nodes' too).
    pub confirmations: u64,
    pub detached: bool,
}

/// Creates the vault's KEK (token or key file), writes its config, starts it and registers
/// its encryption key in the NodeRegistry; the process joins `children` as [`VAULT_NAME`].
pub(crate) async fn start_vault(
    setup: VaultSetup<'_>,
    children: &mut Vec<(String, Spawned)>,
) -> Result<VaultInfo> {
    let data_dir = setup.state_dir.join(VAULT_NAME);
    // A new chain means new files: keys from an earlier devnet would be meaningless here.
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir).map_err(|e| Error::io(&data_dir, e))?;
    }
    create_private_dir(&data_dir)?;
    let kek = match setup.kek {
        VaultKek::Softhsm => {
            let module = softhsm_module()?;
            init_token(&data_dir)?;
            KekConfig::pkcs11(
                module,
                VAULT_TOKEN_LABEL,
                zgvault_node::DEFAULT_KEY_LABEL,
                Some(PathBuf::from(PIN_FILE)),
            )
        }
        VaultKek::File => {
            write_secret(&data_dir.join(PASSPHRASE_FILE), &random_hex()?)?;
            KekConfig::file(
                zgvault_node::DEFAULT_FILE_KEK,
                Some(PathBuf::from(PASSPHRASE_FILE)),
            )
        }
    };
    let mut config = NodeConfig {
        data_dir: data_dir.clone(),
        ..NodeConfig::default()
    }
    .custodial(VaultConfig::new(kek));
    config.chain.rpc_url = crate::devnet::parse_url(setup.rpc_url)?;
    config.chain.chain_id = setup.chain_id;
    config.chain.file_registry = setup.file_registry;
    config.chain.node_registry = setup.node_registry;
    config.chain.confirmations = setup.confirmations;
    let config_path = data_dir.join(NODE_CONFIG_FILE);
    let toml = toml::to_string(&config).map_err(|e| Error::Internal {
        what: "writing the vault's config",
        message: e.to_string(),
    })?;
    std::fs::write(&config_path, toml).map_err(|e| Error::io(&config_path, e))?;

    let (proc, url) = start_vault_process(setup.state_dir, &data_dir, setup.detached)?;
    children.push((VAULT_NAME.to_owned(), proc));
    let info = crate::keynodes::node_info(&reqwest::Client::new(), &url).await?;
    register_vault(
        setup.rpc_url,
        setup.node_registry,
        setup.admin,
        info.encryption_key,
        &url,
    )
    .await?;
    Ok(VaultInfo {
        http: url,
        peer_id: info.peer_id,
        p2p: info.listen_addrs,
        encryption_key: info.encryption_key,
        kek: setup.kek,
        data_dir,
    })
}

/// Lists the vault's `encryption_key` in the NodeRegistry (`registerVault`), as the
/// registry's admin does for a production vault. The URL is a hint: a restarted devnet vault
/// keeps its key but gets a new port, and clients check the key, not the URL.
async fn register_vault(
    rpc_url: &str,
    node_registry: Address,
    admin: PrivateKeySigner,
    encryption_key: B256,
    url: &str,
) -> Result<()> {
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(admin))
        .connect_http(crate::devnet::parse_url(rpc_url)?.expose().clone());
    let receipt = NodeRegistry::new(node_registry, &provider)
        .registerVault(encryption_key, url.to_owned())
        .send()
        .await
        .map_err(|e| Error::chain(rpc_url, "NodeRegistry.registerVault", e))?
        .get_receipt()
        .await
        .map_err(|e| Error::chain(rpc_url, "NodeRegistry.registerVault receipt", e))?;
    if !receipt.status() {
        return Err(Error::chain(
            rpc_url,
            "NodeRegistry.registerVault",
            "the transaction reverted",
        ));
    }
    Ok(())
}

/// Starts (or restarts) the vault whose config is in `data_dir`; returns its HTTP URL.
/// A SoftHSM2 vault gets `SOFTHSM2_CONF` pointing at its own token folder.
pub(crate) fn start_vault_process(
    state_dir: &Path,
    data_dir: &Path,
    detached: bool,
) -> Result<(Spawned, String)> {
    let bin = find_zgvault_node()?;
    let log = state_dir.join(format!("{VAULT_NAME}.log"));
    let args = vec![
        "run".to_owned(),
        "--config".to_owned(),
        data_dir.join(NODE_CONFIG_FILE).display().to_string(),
    ];
    let conf = data_dir.join(SOFTHSM_CONF_FILE);
    let envs: Vec<(&str, &std::ffi::OsStr)> = if conf.exists() {
        vec![("SOFTHSM2_CONF", conf.as_os_str())]
    } else {
        Vec::new()
    };
    let mut proc = Spawned::start_with_env("zgvault-node", &bin, &args, &envs, &log, detached)?;
    let addr = proc.wait_for_line(zgvault_node::HTTP_LISTENING_LINE, READY_TIMEOUT)?;
    Ok((proc, format!("http://{}", addr.trim())))
}

/// The SoftHSM2 module: `$ZGVAULT_SOFTHSM2_MODULE`, else the Debian path.
fn softhsm_module() -> Result<PathBuf> {
    let module = std::env::var_os(SOFTHSM_MODULE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(zgvault_node::custody::DEFAULT_SOFTHSM_MODULE));
    if !module.is_file() {
        return Err(Error::SoftHsm {
            problem: format!(
                "the PKCS#11 module {} is missing (or set {SOFTHSM_MODULE_ENV})",
                module.display()
            ),
        });
    }
    Ok(module)
}

/// Makes a token folder and config in `data_dir` and initialises a token in it with a
/// random user PIN (written to [`PIN_FILE`], 0600) and a random SO PIN (not kept: the
/// devnet never needs it).
fn init_token(data_dir: &Path) -> Result<()> {
    let util = find_softhsm_util()?;
    let tokens = data_dir.join("tokens");
    create_private_dir(&tokens)?;
    let conf = data_dir.join(SOFTHSM_CONF_FILE);
    let text = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        tokens.display()
    );
    std::fs::write(&conf, text).map_err(|e| Error::io(&conf, e))?;
    let pin = random_hex()?;
    let so_pin = random_hex()?;
    write_secret(&data_dir.join(PIN_FILE), &pin)?;
    let out = Command::new(&util)
        .args(["--init-token", "--free", "--label", VAULT_TOKEN_LABEL])
        .args(["--pin", &pin, "--so-pin", &so_pin])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .map_err(|source| zgvault_devsupport::Error::Spawn {
            tool: "softhsm2-util",
            path: util.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::SoftHsm {
            problem: format!(
                "softhsm2-util could not create the token ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// `softhsm2-util`: `$ZGVAULT_SOFTHSM2_UTIL`, else `PATH`.
fn find_softhsm_util() -> Result<PathBuf> {
    crate::process::find_tool("softhsm2-util", SOFTHSM_UTIL_ENV).map_err(|_| Error::SoftHsm {
        problem: format!("softhsm2-util is not installed (or set {SOFTHSM_UTIL_ENV})"),
    })
}

/// 16 random bytes from the OS, hex: half of a fresh secp256k1 key (alloy draws it from
/// the OS generator), so no extra dependency is needed for a devnet PIN.
fn random_hex() -> Result<String> {
    let key = alloy::signers::local::PrivateKeySigner::random().to_bytes();
    let half = key.get(..16).ok_or(Error::Internal {
        what: "making a token PIN",
        message: "a signer key shorter than 16 bytes".into(),
    })?;
    Ok(hex::encode(half))
}

fn write_secret(path: &Path, secret: &str) -> Result<()> {
    crate::manifest::write_private(path, secret.as_bytes())
}

/// Creates `dir` (and missing parents) with mode 0700: node data folders must not be open
/// to group or others.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))
}
