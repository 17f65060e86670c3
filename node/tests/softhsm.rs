//! The vault with a real SoftHSM2 token (installed by scripts/setup): the token KEK
//! (`kek_softhsm`), a token outage (`kek_softhsm_outage`), rotation into and out of the token
//! (`custody_softhsm_rotation`), and the keyed audit log through the binary (`audit_keyed`,
//! `audit_rewrite`). Each scenario runs in a child process of this binary with its own
//! SOFTHSM2_CONF (`softhsm_common`).
//!
//! One test binary for these (each is a module in `softhsm/`): fewer binaries to link.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod common;
mod softhsm_common;

#[path = "softhsm/audit_keyed.rs"]
mod audit_keyed;
#[path = "softhsm/audit_rewrite.rs"]
mod audit_rewrite;
#[path = "softhsm/custody_softhsm_rotation.rs"]
mod custody_softhsm_rotation;
#[path = "softhsm/kek_softhsm.rs"]
mod kek_softhsm;
#[path = "softhsm/kek_softhsm_outage.rs"]
mod kek_softhsm_outage;
