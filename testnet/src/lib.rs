#![doc = include_str!("../README.md")]

mod devnet;
mod error;
mod keynodes;
mod manifest;
mod process;
mod storage;
mod vault;
pub mod zgs;

pub use devnet::{
    ACCOUNT_BALANCE_ETH, CONFIRMATIONS_BLOCK_TIME_SECS, DEFAULT_CHAIN_ID, DEFAULT_NODE_ACCOUNTS,
    Devnet, DevnetConfig, Down, MAX_NODE_ACCOUNTS, PEOPLE, STATE_DIR_ENV, Status, Up,
    default_state_dir, down, signer_of, status, up,
};
pub use error::{Error, Result};
pub use keynodes::{
    DEFAULT_THRESHOLD, GENESIS_EPOCH, GENESIS_SHARE_FILE, KeyNetworkInfo, KeyNodeInfo,
    NODE_CONFIG_FILE, find_zgvault, find_zgvault_node,
};
pub use manifest::{Account, Contracts, MANIFEST_FILE, MANIFEST_VERSION, Manifest, Process};
pub use process::find_tool;
pub use storage::{
    DEFAULT_STORAGE_NODES, MAX_STORAGE_NODES, StorageInfo, StorageLayout, StorageNodeInfo,
    StorageNodeOptions, find_zgs_dev,
};
pub use vault::{
    PASSPHRASE_FILE, PIN_FILE, SOFTHSM_CONF_FILE, SOFTHSM_MODULE_ENV, SOFTHSM_UTIL_ENV, VAULT_NAME,
    VAULT_TOKEN_LABEL, VaultInfo, VaultKek,
};
pub use zgvault_devsupport::{
    DEFAULT_BLOCKS_PER_EPOCH, DEFAULT_PRICE_PER_SECTOR, DeployConfig, Deployed, deploy_all,
};
