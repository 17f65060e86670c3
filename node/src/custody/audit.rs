//! The vault's audit log: one JSON line per decision (release, deposit, shred, KEK
//! rotation), hash-chained, never a secret.
//!
//! ```json
//! {"seq":1,"time_ms":1764000000000,"action":"release","requester":"0x…","file_id":"0x…",
//!  "decision":"refused","code":"ACCESS_DENIED","request_hash":"0x…",
//!  "prev":"<hex SHA-256 of line 0, or 64 zeros>"}
//! ```
//!
//! `action` is `release`, `deposit`, `shred` or `rotate` (lines written before actions
//! existed have none and read as `release`); a `rotate` line has the zero address and zero
//! hashes, and a `note` naming the KEKs and the records re-wrapped.
//!
//! `prev` is the SHA-256 of the previous line's bytes (without its newline): editing, removing
//! or inserting a line breaks the chain at the next line, and `seq` numbers every line.
//! [`verify_chain`] checks a whole file. A final line without its newline is a torn append
//! (a crash mid-write) and is reported as such ([`Error::AuditTornTail`]), not as tampering.
//!
//! What a chain alone cannot show: a log cut at a line boundary, or a forged last line. Ship
//! [`AuditLog::head`] (line count and last hash) off the host (metrics, a second log) and
//! compare it with what [`verify_chain`] returns.
//!
//! Durability: each line is written with one `write` and `fsync`ed before
//! [`AuditLog::append`] returns, so a decision is on disk before its answer is sent.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Read, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// File name of the audit log in the vault's data dir.
pub const AUDIT_FILE: &str = "audit.jsonl";
/// Longest line written or accepted (bytes, without the newline). A line is about 330 bytes.
pub const MAX_AUDIT_LINE: usize = 1024;
/// Longest refusal code (the wire's upper-case codes, e.g. `ACCESS_DENIED`).
const MAX_CODE_LEN: usize = 48;
/// Mode of the log file.
const AUDIT_FILE_MODE: u32 = 0o600;
/// `prev` of the first line.
const GENESIS_PREV: [u8; 32] = [0; 32];

/// The outcome of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditDecision {
    /// Done: K released (wrapped to the requester's ephemeral key), a key stored, a shred
    /// carried out, or a rotation finished, depending on the line's action. Written as
    /// `"allowed"`.
    Allowed,
    /// Refused, with the wire error code (`ACCESS_DENIED`, `RATE_LIMITED`, …).
    Refused {
        /// Upper-case code: `A-Z`, `0-9`, `_`, at most 48 characters.
        code: String,
    },
}

/// What was asked of the vault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditAction {
    /// An access request: release K to the requester.
    #[default]
    Release,
    /// A key deposit by the file owner.
    Deposit,
    /// A shred by the file owner.
    Shred,
    /// A KEK rotation by the operator.
    Rotate,
}

impl AuditAction {
    /// The JSON name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Deposit => "deposit",
            Self::Shred => "shred",
            Self::Rotate => "rotate",
        }
    }
}

/// Longest `note` on an audit line.
pub const MAX_AUDIT_NOTE: usize = 256;

/// One decision to record. Holds no secret by construction: addresses and hashes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// What was asked.
    pub action: AuditAction,
    /// Who asked (the request's signer).
    pub requester: Address,
    /// Which file.
    pub file_id: B256,
    /// What was decided.
    pub decision: AuditDecision,
    /// The signed request's hash (ties the line to the request and the replay cache).
    pub request_hash: B256,
    /// Free text without secrets (KEK ids for a rotation), at most [`MAX_AUDIT_NOTE`] bytes.
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    seq: u64,
    time_ms: u64,
    #[serde(default)]
    action: AuditAction,
    requester: Address,
    file_id: B256,
    decision: String,
    code: Option<String>,
    request_hash: B256,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    prev: String,
}

struct State {
    file: File,
    lines: usize,
    last: [u8; 32],
    /// `(device, inode)` of the file opened: an append checks the path still names it.
    identity: (u64, u64),
}

/// An open audit log, appended to from any thread.
pub struct AuditLog {
    path: PathBuf,
    state: Mutex<State>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log at `path` (created 0600 if absent), verifying the existing chain so that
    /// new lines continue it. A broken chain or a torn last line is an error: the operator
    /// moves the file aside (it is evidence) and starts a new one.
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(AUDIT_FILE_MODE)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
        let identity = (meta.dev(), meta.ino());
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(AUDIT_FILE_MODE))
                .map_err(|e| Error::io("chmod", path, e))?;
        }
        let (lines, last) = walk(path, &file)?;
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new(State {
                file,
                lines,
                last,
                identity,
            }),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines written so far and the SHA-256 of the last one (zeros when empty): export it
    /// off the host so that a cut or a forged last line is detectable.
    pub fn head(&self) -> (usize, [u8; 32]) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.lines, state.last)
    }

    /// Appends one decision and `fsync`s it. Returns the line's sequence number (1-based).
    /// Refuses ([`Error::AuditLogReplaced`]) when the path no longer names the file opened
    /// (deleted or moved away under the running vault): lines written to an unlinked file
    /// would be lost, so the caller must not go on as if they were recorded.
    pub fn append(&self, record: &AuditRecord) -> Result<u64> {
        let (decision, code) = match &record.decision {
            AuditDecision::Allowed => ("allowed", None),
            AuditDecision::Refused { code } => {
                if code.is_empty()
                    || code.len() > MAX_CODE_LEN
                    || !code
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(Error::Internal {
                        what: "audit refusal code must be an upper-case wire code",
                    });
                }
                ("refused", Some(code.clone()))
            }
        };
        if record
            .note
            .as_ref()
            .is_some_and(|n| n.len() > MAX_AUDIT_NOTE)
        {
            return Err(Error::Internal {
                what: "audit note longer than MAX_AUDIT_NOTE",
            });
        }
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let same = std::fs::metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == state.identity);
        if !same {
            return Err(Error::AuditLogReplaced {
                path: self.path.clone(),
            });
        }
        let line = Line {
            seq: state.lines as u64 + 1,
            time_ms,
            action: record.action,
            requester: record.requester,
            file_id: record.file_id,
            decision: decision.to_owned(),
            code,
            request_hash: record.request_hash,
            note: record.note.clone(),
            prev: hex::encode(state.last),
        };
        let mut bytes = serde_json::to_vec(&line).map_err(|_| Error::Internal {
            what: "audit line JSON",
        })?;
        if bytes.len() > MAX_AUDIT_LINE {
            return Err(Error::Internal {
                what: "audit line longer than MAX_AUDIT_LINE",
            });
        }
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        bytes.push(b'\n');
        // One write per line (O_APPEND): a crash leaves at most one torn line at the end.
        state
            .file
            .write_all(&bytes)
            .and_then(|()| state.file.sync_data())
            .map_err(|e| Error::io("append to", &self.path, e))?;
        state.lines += 1;
        state.last = hash;
        Ok(line.seq)
    }
}

/// Checks the whole chain of the log at `path`; returns its number of lines.
pub fn verify_chain(path: &Path) -> Result<usize> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    walk(path, &file).map(|(lines, _)| lines)
}

fn walk(path: &Path, file: &File) -> Result<(usize, [u8; 32])> {
    let mut reader = BufReader::new(file);
    let mut last = GENESIS_PREV;
    let mut lines = 0usize;
    let mut buf = Vec::with_capacity(MAX_AUDIT_LINE + 1);
    loop {
        buf.clear();
        let line_no = lines + 1;
        let broken = |reason| Error::AuditChainBroken {
            path: path.to_owned(),
            line: line_no,
            reason,
        };
        // Read at most one line beyond the limit, so a huge "line" cannot exhaust memory.
        let n = (&mut reader)
            .take(MAX_AUDIT_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            return Ok((lines, last));
        }
        let Some(body) = buf.strip_suffix(b"\n") else {
            if n > MAX_AUDIT_LINE {
                return Err(broken("is longer than any audit line"));
            }
            // No newline before the end of the file: an append that did not finish.
            return Err(Error::AuditTornTail {
                path: path.to_owned(),
                line: line_no,
                valid_lines: lines,
            });
        };
        let line: Line =
            serde_json::from_slice(body).map_err(|_| broken("is not an audit record"))?;
        if line.seq != line_no as u64 {
            return Err(broken(
                "has the wrong sequence number (a line before it was removed or inserted)",
            ));
        }
        if line.prev != hex::encode(last) {
            return Err(broken(
                "does not carry the hash of the line before it (that line was edited or removed)",
            ));
        }
        last = Sha256::digest(body).into();
        lines = line_no;
    }
}
