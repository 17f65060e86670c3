//! The user-level flows of the `zgvault` CLI: `put`, `get`, `grant`, `revoke`, `ls`,
//! `info`, `policy`, `status`, `shred`, `custody` (DESIGN §3), composed from sealing, 0G storage, the
//! FileRegistry/AccessPass/NodeRegistry contracts and threshold key recovery.
//!
//! A [`Session`] is one signed-in user on one network for one command: their key, a
//! provider that signs with it, the network's contract addresses and the channel to the key
//! nodes and the vault. Every flow is a function taking it. (The *vault*, in this crate,
//! is always the custodial vault.)

mod at_block;
mod custodial;
mod custody;
mod events;
mod get;
mod lock;
mod manage;
mod pending;
mod put;
mod recover;
mod session;
mod shred;

pub use at_block::{
    ASSUMED_FRESHNESS_BLOCKS, BLOCK_POLL_INTERVAL, MAX_BLOCK_STALL, MAX_CONFIRMATION_WAIT,
    MAX_NOT_CONFIRMED_WAIT_SECS, MAX_SIGNING_ROUNDS, WINDOW_INFO_TIMEOUT,
};
pub use custody::{MoveReport, move_custody};
pub use get::{GetReport, GetStage, InMemory, get, get_in_memory};
pub use lock::LockHolder;
pub(crate) use manage::utc;
pub use manage::{
    BurnedPass, FileSummary, GrantReceipt, KeyNodeStatus, RevokeReceipt, StatusReport,
    StorageNodeStatus, grant, info, list_files, revoke, set_policy, status,
};
pub use pending::{PendingPut, pending_puts};
pub use put::{Custody, Gate, PutOptions, PutReceipt, PutStage, put, put_reader};
pub(crate) use session::{FileAt, chain_error};
pub use session::{KeyNetwork, Session};
pub use shred::{SHRED_NOTE, ShredOutcome, ShredReport, shred};

use crate::account::state_dir;
use crate::files::{create_private_dir, remove_if_present, write_private};

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
