//! The user's account on this device: the encrypted keystore holding their Ethereum key,
//! the config file (which network, which keystore, overrides), and where local state lives.

mod config;
mod keystore;

pub use config::{CONFIG_FILE, Config, config_path, default_manifest, home_dir, state_dir};
pub use keystore::{Passphrase, create_keystore, load_keystore};
pub(crate) use keystore::{open_local, seal_local};
