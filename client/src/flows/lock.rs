//! One process at a time per piece of pending state: an advisory lock (`flock`) on a file in
//! `<state>/locks/`, holding the holder's pid for the message the next one prints. The
//! kernel drops the lock when its process dies, so a crash never leaves a stale lock; the
//! file itself stays (deleting it would let two processes lock two different files).

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use super::{create_private_dir, state_dir};
use crate::error::Error;

/// The process holding a lock, as far as its lock file says: its pid, if readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockHolder(pub Option<u32>);

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(pid) => write!(f, "pid {pid}"),
            None => f.write_str("its lock file does not say which process"),
        }
    }
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: File,
}

/// Takes the lock `name` (e.g. `put-<hash>`) in `<state>/locks/` or says who holds it.
/// `what` names the work for the message ("put of this file").
pub(crate) fn lock(name: &str, what: &str) -> Result<StateLock, Error> {
    lock_in(&state_dir().join("locks"), name, what)
}

fn lock_in(dir: &std::path::Path, name: &str, what: &str) -> Result<StateLock, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    create_private_dir(dir)?;
    let path: PathBuf = dir.join(format!("{name}.lock"));
    let io = |action: &'static str, e| Error::Io {
        action,
        path: path.clone(),
        source: e,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io("open the lock file", e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(Error::Locked {
                what: what.to_owned(),
                pid: LockHolder(text.trim().parse().ok()),
                path,
            });
        }
        Err(TryLockError::Error(e)) => return Err(io("lock", e)),
    }
    file.set_len(0).map_err(|e| io("write", e))?;
    file.rewind().map_err(|e| io("write", e))?;
    write!(file, "{}", std::process::id()).map_err(|e| io("write", e))?;
    file.flush().map_err(|e| io("write", e))?;
    Ok(StateLock { _file: file })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fail_second_holder_is_refused_with_the_first_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_in(dir.path(), "put-x", "put of x").unwrap();
        let err = lock_in(dir.path(), "put-x", "put of x").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("another put of x is running")
                && text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        // Another name is another lock.
        let other = lock_in(dir.path(), "put-y", "put of y").unwrap();
        drop(first);
        let again = lock_in(dir.path(), "put-x", "put of x").unwrap();
        drop((again, other));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("put-x.lock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
