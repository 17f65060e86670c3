//! The two redb transaction helpers both stores use (share store, vault store): errors
//! name the file, and writes keep redb's default `Immediate` durability (fsync on commit).

use std::path::Path;

use redb::ReadableDatabase;

use crate::error::{Error, Result};

/// Runs `f` in a read transaction.
pub(crate) fn read<T>(
    db: &redb::Database,
    path: &Path,
    f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
) -> Result<T> {
    let txn = db
        .begin_read()
        .map_err(|e| Error::store(path, "begin read", e))?;
    f(&txn).map_err(|e| Error::store(path, "read", e))
}

/// Runs `f` in a write transaction and commits it; returns once the commit is durable.
pub(crate) fn write(
    db: &redb::Database,
    path: &Path,
    what: &'static str,
    f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
) -> Result<()> {
    let txn = db.begin_write().map_err(|e| Error::store(path, what, e))?;
    // The default durability is `Immediate` (fsync on commit); nothing here lowers it.
    f(&txn).map_err(|e| Error::store(path, what, e))?;
    txn.commit().map_err(|e| Error::store(path, what, e))
}
