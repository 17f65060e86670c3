//! A loopback anvil and the node's binary as child processes (`zgvault-devsupport`).
//! `ZGVAULT_ANVIL` overrides where anvil is. A missing anvil fails the test (CI installs it
//! with scripts/setup): a skipped chain test would pass without checking anything.

use std::process::Command;

pub use zgvault_devsupport::{Anvil, LineChild as Proc};

/// A fresh anvil on a free port (chain id 31337, the default dev accounts). Panics, saying
/// what to do, when anvil is not installed or does not start.
pub fn start_anvil() -> Anvil {
    Anvil::start_default().unwrap_or_else(|e| panic!("{e}"))
}

/// Starts the node's binary (`command`) with its stdout read line by line.
pub fn spawn(command: &mut Command) -> Proc {
    Proc::spawn("zgvault-node", command).unwrap_or_else(|e| panic!("{e}"))
}
