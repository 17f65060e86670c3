#![doc = include_str!("../README.md")]

mod anvil;
mod deploy;
mod error;
mod tools;

pub use anvil::{
    ANVIL_ENV, ANVIL_READY_MARKER, Anvil, AnvilArgs, DEFAULT_ANVIL_CHAIN_ID, LineChild,
    READY_TIMEOUT, find_anvil,
};
pub use deploy::{
    Contracts, DEFAULT_BLOCKS_PER_EPOCH, DEFAULT_PRICE_PER_SECTOR, DeployConfig, Deployed,
    deploy_all, parse_url,
};
pub use error::{Error, Result};
pub use tools::{find_tool, is_executable};
