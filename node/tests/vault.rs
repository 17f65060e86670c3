//! The custodial vault with a file KEK: its key store (`custody_vault`), its audit log
//! (`custody_audit`), the admin socket (`vault_admin`), the custodial handlers
//! (`vault_handler`) and replays (`vault_replay`).
//!
//! One test binary for these (each is a module in `vault/`): fewer binaries to link.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod common;

#[path = "vault/custody_audit.rs"]
mod custody_audit;
#[path = "vault/custody_vault.rs"]
mod custody_vault;
#[path = "vault/vault_admin.rs"]
mod vault_admin;
#[path = "vault/vault_handler.rs"]
mod vault_handler;
#[path = "vault/vault_replay.rs"]
mod vault_replay;
