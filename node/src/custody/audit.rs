//! The vault's audit log: one JSON line per decision (release, deposit, shred, KEK
//! rotation, new log), chained, keyed under the KEK, never a secret.
//!
//! ```json
//! {"seq":1,"time_ms":1764000000000,"action":"release","requester":"0x…","file_id":"0x…",
//!  "decision":"refused","code":"ACCESS_DENIED","request_hash":"0x…",
//!  "prev":"<hex SHA-256 of line 0, or 64 zeros>","key":"file:1a2b3c4d5e6f7a8b",
//!  "mac":"<hex HMAC-SHA256>"}
//! ```
//!
//! `action` is `release`, `deposit`, `shred`, `rotate` or `new_log`; a `rotate` or `new_log`
//! line has the zero address and zero hashes, and a `note` (the KEKs and the records
//! re-wrapped; the log it replaced and that log's SHA-256).
//!
//! **Chain.** `prev` is the SHA-256 of the previous line's bytes (its `mac` included):
//! editing, removing or inserting a line breaks the chain at the next line, and `seq` numbers
//! every line. A final line without its newline is a torn append (a crash mid-write), reported
//! as such ([`Error::AuditTornTail`]), not as tampering.
//!
//! **Key.** `mac` is [`Kek::audit_mac`] — HMAC-SHA256 under the audit key of the KEK named by
//! `key`, a key kept with the KEK (in the token, or derived from the key file's KEK) — of
//! [`AUDIT_MAC_CONTEXT`] ‖ the line's bytes without its closing `,"mac":"…"` field. Someone who
//! can write the file but cannot use the KEK can still edit it, but can no longer make the
//! edit consistent: every line after it would need a new MAC. Because a MAC covers `prev`, one
//! line's MAC vouches for every line before it, so
//! - lines MACed under a KEK that is no longer configured (retired after a rotation) are
//!   vouched for by the next line under a configured KEK; only the lines after the last such
//!   line cannot be checked ([`Error::AuditKeyNotConfigured`]);
//! - at start-up ([`AuditLog::open`]) the vault checks the chain of every line but the MAC of
//!   the last line only (one HSM call, however long the log); only when that fails does it
//!   check every MAC, to name the first bad line, as [`verify_log`] always does.
//!
//! **Anchor.** A chain cannot show a log cut at a line boundary. After each line the vault
//! records the log's head ([`AuditHead`]: line count and last line's SHA-256) in `vault.redb`
//! ([`VaultStore::set_audit_anchor`]); a log shorter than its anchor, or whose anchored line
//! differs, is refused at start-up ([`Error::AuditCut`]). Limits: the anchor is fsync'd every
//! [`AUDIT_ANCHOR_SYNC_EVERY`] lines and when the store closes, so after a crash the last
//! lines can be cut unnoticed; and someone who can also write `vault.redb` (put back an older
//! copy) can move the anchor back. Only a head kept off the host ([`AuditLog::head`] in
//! `vault status` and the metrics) catches those.
//!
//! **Older logs.** A log written before lines were MACed is refused ([`Error::AuditUnkeyed`]):
//! the operator checks its head against the off-host copy, then starts a new log
//! ([`AuditLog::start_new`], `zgvault-node vault audit new-log`), which keeps the old file and
//! seals its SHA-256 into the new log's first line. The same command starts a new log after a
//! torn or a broken one.
//!
//! Durability: each line is written with one `write` and `fsync`ed before
//! [`AuditLog::append`] returns, so a decision is on disk before its answer is sent.

use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Read, Seek, SeekFrom, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::kek::{AUDIT_MAC_LEN, Kek};
use super::vault_store::{AuditHead, VaultStore};
use crate::error::{Error, Result};

/// File name of the audit log in the vault's data dir.
pub const AUDIT_FILE: &str = "audit.jsonl";
/// Longest line written or accepted (bytes, without the newline). A release line is about
/// 500 bytes; a rotation line with long KEK labels, JSON-escaped, stays below this.
pub const MAX_AUDIT_LINE: usize = 4096;
/// Longest `note` on an audit line.
pub const MAX_AUDIT_NOTE: usize = 256;
/// What every audit MAC's input starts with, so that it is never a MAC of anything else.
pub const AUDIT_MAC_CONTEXT: &[u8] = b"zgvault/v1/audit-line\n";
/// The anchor in `vault.redb` is fsync'd every this many lines (and when the store closes):
/// after a crash, at most this many lines at the end of the log can be cut unnoticed.
pub const AUDIT_ANCHOR_SYNC_EVERY: usize = 64;
/// Longest refusal code (the wire's upper-case codes, e.g. `ACCESS_DENIED`).
const MAX_CODE_LEN: usize = 48;
/// Mode of the log file.
const AUDIT_FILE_MODE: u32 = 0o600;
/// `prev` of the first line.
const GENESIS_PREV: [u8; 32] = AuditHead::EMPTY.hash;
/// Every keyed line ends with `,"mac":"` + 64 hex digits + `"}`.
const MAC_FIELD: &[u8] = b",\"mac\":\"";
const MAC_FIELD_END: &[u8] = b"\"}";
const MAC_SUFFIX_LEN: usize = MAC_FIELD.len() + 2 * AUDIT_MAC_LEN + MAC_FIELD_END.len();

/// The outcome of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditDecision {
    /// Done: K released (wrapped to the requester's ephemeral key), a key stored, a shred
    /// carried out, a rotation finished, or a new log started, depending on the line's
    /// action. Written as `"allowed"`.
    Allowed,
    /// Refused, with the wire error code (`ACCESS_DENIED`, `RATE_LIMITED`, …).
    Refused {
        /// Upper-case code: `A-Z`, `0-9`, `_`, at most 48 characters.
        code: String,
    },
}

/// What was asked of the vault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// The operator started a new log: the first line of every log that replaced another.
    NewLog,
}

impl AuditAction {
    /// The JSON name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Deposit => "deposit",
            Self::Shred => "shred",
            Self::Rotate => "rotate",
            Self::NewLog => "new_log",
        }
    }
}

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

/// What [`verify_log`] found in an intact log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditSummary {
    /// Lines in the log.
    pub lines: usize,
    /// SHA-256 of the last line (hex; zeros when empty): compare it with the off-host copy.
    pub head: String,
    /// Lines per KEK id (the `key` each line names).
    pub lines_by_key: BTreeMap<String, usize>,
    /// Lines whose own MAC was not checked because their KEK is no longer configured; a later
    /// line's MAC vouches for each of them through the chain.
    pub vouched_by_later_lines: usize,
}

/// Truncates `note` to at most [`MAX_AUDIT_NOTE`] bytes, on a character boundary.
pub fn truncate_note(note: &mut String) {
    if note.len() > MAX_AUDIT_NOTE {
        let mut end = MAX_AUDIT_NOTE;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
    }
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
    /// The KEK whose audit key made `mac`; absent only in logs from before MACs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// Always the last field: the writer appends it to the bytes it MACs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
}

struct State {
    file: File,
    head: AuditHead,
    /// `(device, inode)` of the file opened: an append checks the path still names it.
    identity: (u64, u64),
}

/// An open audit log, appended to from any thread. Its lines are MACed under the store's
/// current KEK and its head is anchored in the store.
pub struct AuditLog {
    path: PathBuf,
    store: VaultStore,
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
    /// Opens the log at `path` (created 0600 if absent), checking the existing chain, its
    /// MACs under the KEKs `store` has loaded and the head anchored in `store`, so that new
    /// lines continue it. Any failure is an error saying what to do: a broken chain, a cut
    /// log, a torn last line, a log without MACs.
    pub fn open(path: &Path, store: &VaultStore) -> Result<Self> {
        let anchor = store.audit_anchor()?;
        // A log the vault has written to is never silently recreated empty.
        if let Some(anchor) = anchor.filter(|a| a.lines > 0 && !path.exists()) {
            return Err(Error::AuditCut {
                path: path.to_owned(),
                lines: 0,
                anchored: anchor.lines,
            });
        }
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
        let keys = |id: &str| store.kek(id);
        let head = match walk(path, &file, &keys, Macs::Last, anchor, None) {
            Ok(walked) => walked.head,
            // Name the first bad line: check every MAC (only now, it costs one HSM call each).
            Err(Error::AuditChainBroken { .. } | Error::AuditKeyNotConfigured { .. }) => {
                (&file)
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| Error::io("read", path, e))?;
                walk(path, &file, &keys, Macs::Every, anchor, None)?.head
            }
            Err(other) => return Err(other),
        };
        Ok(Self {
            path: path.to_owned(),
            store: store.clone(),
            state: Mutex::new(State {
                file,
                head,
                identity,
            }),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines written so far and the SHA-256 of the last one: export it off the host so that a
    /// cut or a rolled-back log is detectable even by someone who could also edit the store.
    pub fn head(&self) -> AuditHead {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).head
    }

    /// Appends one decision, MACed under the current KEK, `fsync`s it and anchors the new
    /// head in the store. Returns the line's sequence number (1-based). Refuses
    /// ([`Error::AuditLogReplaced`]) when the path no longer names the file opened (deleted
    /// or moved away under the running vault): lines written to an unlinked file would be
    /// lost, so the caller must not go on as if they were recorded. Fails when the KEK cannot
    /// make a MAC (the token went away): nothing is written then.
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
        let time_ms = now_ms();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let same = std::fs::metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == state.identity);
        if !same {
            return Err(Error::AuditLogReplaced {
                path: self.path.clone(),
            });
        }
        let kek = self.store.current_kek();
        let line = Line {
            seq: state.head.lines as u64 + 1,
            time_ms,
            action: record.action,
            requester: record.requester,
            file_id: record.file_id,
            decision: decision.to_owned(),
            code,
            request_hash: record.request_hash,
            note: record.note.clone(),
            prev: hex::encode(state.head.hash),
            key: Some(kek.id().to_owned()),
            mac: None,
        };
        let unsigned = serde_json::to_vec(&line).map_err(|_| Error::Internal {
            what: "audit line JSON",
        })?;
        let mac = kek.audit_mac(&[AUDIT_MAC_CONTEXT, &unsigned].concat())?;
        let mut bytes = unsigned;
        if bytes.pop() != Some(b'}') {
            return Err(Error::Internal {
                what: "audit line JSON does not end with }",
            });
        }
        bytes.extend_from_slice(MAC_FIELD);
        bytes.extend_from_slice(hex::encode(mac).as_bytes());
        bytes.extend_from_slice(MAC_FIELD_END);
        if bytes.len() > MAX_AUDIT_LINE {
            return Err(Error::Internal {
                what: "audit line longer than MAX_AUDIT_LINE",
            });
        }
        let head = AuditHead {
            lines: state.head.lines + 1,
            hash: Sha256::digest(&bytes).into(),
        };
        bytes.push(b'\n');
        // One write per line (O_APPEND): a crash leaves at most one torn line at the end.
        state
            .file
            .write_all(&bytes)
            .and_then(|()| state.file.sync_data())
            .map_err(|e| Error::io("append to", &self.path, e))?;
        state.head = head;
        // Under the lock, so anchors follow the lines in order. The line is recorded either
        // way: a failed anchor only weakens the detection of a cut log, so it is reported.
        let durable = head.lines.is_multiple_of(AUDIT_ANCHOR_SYNC_EVERY);
        if let Err(error) = self.store.set_audit_anchor(Some(head), durable) {
            tracing::error!(target: "zgvault::node::vault", %error, lines = head.lines, "audit line written, but its head could not be anchored in the vault store: a cut of the log's end may go unnoticed at the next start");
        }
        Ok(line.seq)
    }

    /// Starts a new log at `path` (offline: no vault may be running on `store`): the current
    /// file, if any, is kept as `<path>.<unix ms>`, the anchor is reset, and the new log's
    /// first line (`new_log`, MACed under the current KEK) records the old file's name, line
    /// count and SHA-256. For a log without MACs (written by an older version), after a
    /// crash tore a line, or to set a broken log aside as evidence.
    pub fn start_new(path: &Path, store: &VaultStore) -> Result<(Self, NewLog)> {
        let anchored = store.audit_anchor()?;
        let keys = |id: &str| store.kek(id);
        let mut report = NewLog {
            previous: None,
            previous_lines: 0,
            previous_head: hex::encode(GENESIS_PREV),
            previous_sha256: None,
            previous_verdict: "no log file".to_owned(),
            anchored_lines: anchored.map(|a| a.lines),
        };
        match File::open(path) {
            Ok(file) => {
                let (lines, head, whole) =
                    digest_lines(&file).map_err(|e| Error::io("read", path, e))?;
                report.previous_lines = lines;
                report.previous_head = hex::encode(head);
                report.previous_sha256 = Some(hex::encode(whole));
                (&file)
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| Error::io("read", path, e))?;
                report.previous_verdict =
                    match walk(path, &file, &keys, Macs::Every, anchored, None) {
                        Ok(walked) => format!("intact: {} lines", walked.head.lines),
                        Err(e) => e.to_string(),
                    };
                let mut kept = path.as_os_str().to_owned();
                kept.push(format!(".{}", now_ms()));
                let kept = PathBuf::from(kept);
                // link + unlink: never replaces an existing file, as rename would.
                std::fs::hard_link(path, &kept).map_err(|e| Error::io("keep", &kept, e))?;
                std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
                sync_parent(path)?;
                report.previous = Some(kept);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("open", path, e)),
        }
        store.set_audit_anchor(None, true)?;
        let log = Self::open(path, store)?;
        let mut note = match &report.previous {
            // The SHA-256 first: a long file name is what a truncated note loses.
            Some(kept) => format!(
                "previous log sha256 {}, {} lines, kept as {}",
                report.previous_sha256.as_deref().unwrap_or_default(),
                report.previous_lines,
                kept.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            None => format!(
                "previous log missing; {} lines were anchored",
                report.anchored_lines.unwrap_or(0)
            ),
        };
        truncate_note(&mut note);
        log.append(&AuditRecord {
            action: AuditAction::NewLog,
            requester: Address::ZERO,
            file_id: B256::ZERO,
            decision: AuditDecision::Allowed,
            request_hash: B256::ZERO,
            note: Some(note),
        })?;
        store.set_audit_anchor(Some(log.head()), true)?;
        Ok((log, report))
    }
}

/// What [`AuditLog::start_new`] did with the log it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewLog {
    /// Where the previous log was kept (`None`: there was no file).
    pub previous: Option<PathBuf>,
    /// Complete lines in it, whatever their state.
    pub previous_lines: usize,
    /// SHA-256 of its last complete line (hex): its head, to compare with the off-host copy.
    pub previous_head: String,
    /// SHA-256 of the whole file (hex), a torn last line included; also in the new log's
    /// first line.
    pub previous_sha256: Option<String>,
    /// The verifier's verdict on it: `intact: N lines`, or what is wrong with it.
    pub previous_verdict: String,
    /// Lines the vault had anchored for it, if any.
    pub anchored_lines: Option<usize>,
}

/// Checks the log at `path` line by line — chain, every MAC whose KEK is among `keks`, and,
/// given an `anchor`, that the log still holds the anchored line — and names the first bad
/// line ([`Error::AuditChainBroken`]). Lines under a KEK not in `keks` pass when a later line
/// under one of them vouches for them; the log's last line must be under one of them.
pub fn verify_log(
    path: &Path,
    keks: &[Arc<dyn Kek>],
    anchor: Option<AuditHead>,
) -> Result<AuditSummary> {
    verify(path, keks, anchor, None)
}

/// [`verify_log`] of the first `head.lines` lines only, which must end in `head`: for a log
/// a running vault appends to (`head` is its own, asked just before), so that a line being
/// written is not taken for a torn one.
pub fn verify_log_to(path: &Path, keks: &[Arc<dyn Kek>], head: AuditHead) -> Result<AuditSummary> {
    verify(path, keks, Some(head), Some(head.lines))
}

fn verify(
    path: &Path,
    keks: &[Arc<dyn Kek>],
    anchor: Option<AuditHead>,
    until: Option<usize>,
) -> Result<AuditSummary> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let keys = |id: &str| keks.iter().find(|k| k.id() == id).cloned();
    let walked = walk(path, &file, &keys, Macs::Every, anchor, until)?;
    Ok(AuditSummary {
        lines: walked.head.lines,
        head: hex::encode(walked.head.hash),
        lines_by_key: walked.lines_by_key,
        vouched_by_later_lines: walked.vouched,
    })
}

/// Which MACs a walk checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Macs {
    /// Every line's whose KEK is loaded: names the first bad line.
    Every,
    /// The last line's only: through the chain it vouches for all (a start-up's fast path).
    Last,
}

struct Walked {
    head: AuditHead,
    lines_by_key: BTreeMap<String, usize>,
    /// Lines whose MAC was not checked (KEK not loaded), vouched for by a later one.
    vouched: usize,
}

type Keys<'a> = dyn Fn(&str) -> Option<Arc<dyn Kek>> + 'a;

/// Walks the log (its first `until` lines, or all), checking what `macs` says and `anchor`.
fn walk(
    path: &Path,
    file: &File,
    keys: &Keys<'_>,
    macs: Macs,
    anchor: Option<AuditHead>,
    until: Option<usize>,
) -> Result<Walked> {
    let mut reader = BufReader::new(file);
    let mut head = AuditHead::EMPTY;
    let mut lines_by_key = BTreeMap::new();
    let mut unkeyed = 0usize;
    // The first line of the current run of lines whose MAC could not be checked, and its KEK.
    let mut unchecked: Option<(usize, String)> = None;
    let mut vouched = 0usize;
    // Macs::Last: the last line's MAC input, KEK id and MAC, checked after the walk.
    let mut last: Option<(Vec<u8>, String, [u8; AUDIT_MAC_LEN])> = None;
    let mut anchored_hash = None;
    let mut buf = Vec::with_capacity(MAX_AUDIT_LINE + 1);
    while until.is_none_or(|until| head.lines < until) {
        buf.clear();
        let line_no = head.lines + 1;
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
            break;
        }
        let Some(body) = buf.strip_suffix(b"\n") else {
            if n > MAX_AUDIT_LINE {
                return Err(broken("is longer than any audit line"));
            }
            // No newline before the end of the file: an append that did not finish.
            return Err(Error::AuditTornTail {
                path: path.to_owned(),
                line: line_no,
                valid_lines: head.lines,
            });
        };
        let line: Line =
            serde_json::from_slice(body).map_err(|_| broken("is not an audit record"))?;
        if line.seq != line_no as u64 {
            return Err(broken(
                "has the wrong sequence number (a line before it was removed or inserted)",
            ));
        }
        if line.prev != hex::encode(head.hash) {
            return Err(broken(
                "does not carry the hash of the line before it (that line was edited or removed)",
            ));
        }
        match (line.key, line.mac) {
            (None, None) if lines_by_key.is_empty() => unkeyed += 1,
            (None, None) => return Err(broken("has no MAC, unlike the lines before it")),
            (Some(_), Some(_)) if unkeyed > 0 => {
                return Err(broken("has a MAC, unlike the lines before it"));
            }
            (Some(key), Some(_)) => {
                let (input, mac) = mac_input(body).ok_or_else(|| broken("has a malformed MAC"))?;
                *lines_by_key.entry(key.clone()).or_insert(0) += 1;
                match (macs, keys(&key)) {
                    (Macs::Every, Some(kek)) => {
                        if !mac_matches(kek.as_ref(), &input, &mac)? {
                            return Err(broken(if unchecked.is_some() {
                                "does not match its MAC: it, or a line before it under a KEK \
                                 that is not configured, was changed"
                            } else {
                                "does not match its MAC: it was changed, or written without \
                                 the KEK"
                            }));
                        }
                        unchecked = None;
                    }
                    (Macs::Every, None) => {
                        unchecked.get_or_insert((line_no, key));
                        vouched += 1;
                    }
                    (Macs::Last, _) => last = Some((input, key, mac)),
                }
            }
            _ => return Err(broken("has a MAC without a key, or a key without a MAC")),
        }
        head = AuditHead {
            lines: line_no,
            hash: Sha256::digest(body).into(),
        };
        if anchor.is_some_and(|a| a.lines == line_no) {
            anchored_hash = Some(head.hash);
        }
    }
    if unkeyed > 0 {
        return Err(Error::AuditUnkeyed {
            path: path.to_owned(),
            lines: unkeyed,
            head: hex::encode(head.hash),
        });
    }
    if let Some((input, key, mac)) = last {
        let kek = keys(&key).ok_or_else(|| Error::AuditKeyNotConfigured {
            path: path.to_owned(),
            line: head.lines,
            key: key.clone(),
        })?;
        if !mac_matches(kek.as_ref(), &input, &mac)? {
            return Err(Error::AuditChainBroken {
                path: path.to_owned(),
                line: head.lines,
                reason: "does not match its MAC",
            });
        }
    }
    if let Some((line, key)) = unchecked {
        return Err(Error::AuditKeyNotConfigured {
            path: path.to_owned(),
            line,
            key,
        });
    }
    if let Some(anchor) = anchor.filter(|a| a.lines > 0) {
        if head.lines < anchor.lines {
            return Err(Error::AuditCut {
                path: path.to_owned(),
                lines: head.lines,
                anchored: anchor.lines,
            });
        }
        if anchored_hash != Some(anchor.hash) {
            return Err(Error::AuditChainBroken {
                path: path.to_owned(),
                line: anchor.lines,
                reason: "is not the line the vault anchored in vault.redb (the log was \
                         replaced by another one)",
            });
        }
    }
    Ok(Walked {
        head,
        lines_by_key,
        vouched,
    })
}

/// The MAC input of a keyed line (`AUDIT_MAC_CONTEXT ‖ the line without its mac field`) and
/// its MAC, or `None` when the line does not end with a well-formed mac field.
fn mac_input(body: &[u8]) -> Option<(Vec<u8>, [u8; AUDIT_MAC_LEN])> {
    let (covered, field) = body.split_at_checked(body.len().checked_sub(MAC_SUFFIX_LEN)?)?;
    let hex_mac = field.strip_prefix(MAC_FIELD)?.strip_suffix(MAC_FIELD_END)?;
    let mut mac = [0u8; AUDIT_MAC_LEN];
    hex::decode_to_slice(hex_mac, &mut mac).ok()?;
    let mut input = Vec::with_capacity(AUDIT_MAC_CONTEXT.len() + covered.len() + 1);
    input.extend_from_slice(AUDIT_MAC_CONTEXT);
    input.extend_from_slice(covered);
    input.push(b'}');
    Some((input, mac))
}

fn mac_matches(kek: &dyn Kek, input: &[u8], mac: &[u8; AUDIT_MAC_LEN]) -> Result<bool> {
    Ok(kek.audit_mac(input)?.ct_eq(mac).into())
}

/// Complete lines in `file`, the SHA-256 of the last one, and the SHA-256 of all its bytes.
fn digest_lines(file: &File) -> std::io::Result<(usize, [u8; 32], [u8; 32])> {
    let mut reader = BufReader::new(file);
    let (mut lines, mut last, mut whole, mut line) =
        (0usize, GENESIS_PREV, Sha256::new(), Sha256::new());
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok((lines, last, whole.finalize().into()));
        }
        let used = chunk.len();
        whole.update(chunk);
        for part in chunk.split_inclusive(|b| *b == b'\n') {
            match part.strip_suffix(b"\n") {
                Some(end) => {
                    line.update(end);
                    last = std::mem::take(&mut line).finalize().into();
                    lines += 1;
                }
                None => line.update(part),
            }
        }
        reader.consume(used);
    }
}

/// `fsync`s the folder holding `path`, so that a rename or unlink in it is durable.
fn sync_parent(path: &Path) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| Error::io("sync", parent, e))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
