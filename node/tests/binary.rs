//! The `zgvault-node` binary against a real anvil: the share-holder (`node_binary`) and the
//! custodial vault with SoftHSM2 (`vault_binary`).
//!
//! One test binary for these (each is a module in `binary/`): fewer binaries to link.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod common;
mod softhsm_common;

#[path = "binary/node_binary.rs"]
mod node_binary;
#[path = "binary/vault_binary.rs"]
mod vault_binary;
