//! [`KeyHolder`]: what a node keeps for a file and releases after the gate, whatever it is: a
//! share-holder's Shamir share ([`ShareHolder`], over the share store) or the vault's K
//! (`custody::VaultStore`; the vault wraps it in its audit, `vault::AuditedVault`). Every
//! method blocks (a redb commit is an fsync, a KEK may be an HSM round trip): call them off
//! the async workers.

use alloy_primitives::{Address, B256};
use zgvault_proto::FileKey;

use crate::{
    custody::{VaultEntry, VaultStore},
    error::Result,
    store::{DepositOutcome, ShareStore, ShredOutcome, StoredDeposit},
};

/// What a holder has for a file.
#[derive(Debug)]
pub(crate) enum Held<T> {
    /// The record, opened.
    Present(T),
    /// Nothing: the owner shredded it here by a shred signed at `at`.
    Shredded {
        /// The tombstone's `issuedAt`.
        at: u64,
    },
    /// Nothing was ever deposited here (or it was deleted without a shred).
    Absent,
}

/// One owner-signed store change (a deposit or a shred), as its audit line records it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Change {
    pub(crate) file_id: B256,
    /// The owner who signed it.
    pub(crate) signer: Address,
    /// The signed message's hash.
    pub(crate) request_hash: B256,
    /// When the owner signed it: a deposit is refused at or before the file's tombstone, a
    /// shred keeps a deposit signed after it.
    pub(crate) issued_at: u64,
}

impl Change {
    pub(crate) fn new(file_id: B256, signer: Address, request_hash: B256, issued_at: u64) -> Self {
        Self {
            file_id,
            signer,
            request_hash,
            issued_at,
        }
    }
}

/// Keeps one kind of secret per file: fetch it, store a deposit unless the file was shredded
/// since it was signed, shred it. Cheap to clone (handles over one database).
pub(crate) trait KeyHolder: Clone + Send + Sync + 'static {
    /// What a deposit stores.
    type Deposit: Send + 'static;
    /// What [`KeyHolder::fetch`] returns.
    type Stored: Send + 'static;

    /// The record of `file_id`, or why there is none.
    fn fetch(&self, file_id: B256) -> Result<Held<Self::Stored>>;

    /// Stores `deposit` durably (the commit is on disk when this returns), unless the owner
    /// shredded the file at or after `change.issued_at`: checked in the transaction that
    /// would store it, so a racing shred cannot lose.
    fn put_unless_shredded(
        &self,
        change: &Change,
        deposit: Self::Deposit,
    ) -> Result<DepositOutcome>;

    /// The owner's shred: deletes the record unless it was deposited after
    /// `change.issued_at`, and raises the file's tombstone, in one transaction.
    fn shred(&self, change: &Change) -> Result<ShredOutcome>;

    /// Whether this holder writes the audit line of each change it makes itself (right after
    /// its commit), so the request's decision must not be audited again.
    fn audits_changes(&self) -> bool {
        false
    }
}

/// A share-holder's Shamir shares: the share store, at this node's index.
#[derive(Clone, Debug)]
pub(crate) struct ShareHolder {
    store: ShareStore,
    /// This node's index in the key set; `None`: the node holds no shares.
    node_index: Option<u32>,
}

impl ShareHolder {
    pub(crate) fn new(store: ShareStore, node_index: Option<u32>) -> Self {
        Self { store, node_index }
    }
}

impl KeyHolder for ShareHolder {
    type Deposit = StoredDeposit;
    type Stored = StoredDeposit;

    fn fetch(&self, file_id: B256) -> Result<Held<StoredDeposit>> {
        let stored = match self.node_index {
            Some(index) => self.store.deposit(file_id, index)?,
            None => None,
        };
        held(stored, || self.store.shredded_at(file_id))
    }

    fn put_unless_shredded(
        &self,
        change: &Change,
        deposit: StoredDeposit,
    ) -> Result<DepositOutcome> {
        self.store.put_deposit_unless_shredded(
            change.file_id,
            &deposit.share,
            &deposit.commitments,
            change.issued_at,
        )
    }

    fn shred(&self, change: &Change) -> Result<ShredOutcome> {
        match self.node_index {
            Some(index) => self.store.shred(change.file_id, index, change.issued_at),
            // No index: no share can be held, but the tombstone still counts.
            None => self.store.shred_unheld(change.file_id, change.issued_at),
        }
    }
}

/// The vault's K per file, sealed under its KEK (without the audit: `vault::AuditedVault`).
impl KeyHolder for VaultStore {
    type Deposit = FileKey;
    type Stored = VaultEntry;

    fn fetch(&self, file_id: B256) -> Result<Held<VaultEntry>> {
        held(self.entry(file_id)?, || self.shredded_at(file_id))
    }

    fn put_unless_shredded(&self, change: &Change, key: FileKey) -> Result<DepositOutcome> {
        VaultStore::put_unless_shredded(self, change.file_id, &key, change.signer, change.issued_at)
    }

    fn shred(&self, change: &Change) -> Result<ShredOutcome> {
        VaultStore::shred(self, change.file_id, change.issued_at)
    }
}

/// `Present` when `stored`, else `Shredded` or `Absent` by the tombstone.
fn held<T>(stored: Option<T>, tombstone: impl FnOnce() -> Result<Option<u64>>) -> Result<Held<T>> {
    Ok(match stored {
        Some(stored) => Held::Present(stored),
        None => match tombstone()? {
            Some(at) => Held::Shredded { at },
            None => Held::Absent,
        },
    })
}
