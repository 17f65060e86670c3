//! The custodial vault service (DESIGN §6, Flow A): `mode = "custodial"`. One vault holds each
//! custodial file's key K sealed under its KEK (`custody::VaultStore`) and releases it, sealed
//! to the requester, after the same gate as a share-holder node (`gate.rs`); every decision
//! is written to the keyed, hash-chained audit log before its answer leaves.
//!
//! | module | what |
//! |---|---|
//! | `open` | KEKs from the config (`vault_config`: the `[vault]` TOML section); secrets from 0600 files or the environment |
//! | `audited` | the vault's key holder (`VaultStore` with the audit line of each change) and the audit of every other decision |
//! | `admin` | the operator's Unix socket (`admin.sock`): rotate, status; and its client |
//! | `audit` | the operator's audit commands: verify with the configured KEKs, start a new log |

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod audited;
mod open;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

pub(crate) use crate::vault_config::{KekBackend, KekConfig, NodeMode};
use open::{Create, open_kek, open_keks, resolve};

use crate::{
    config::NodeConfig,
    custody::{
        AuditAction, AuditDecision, AuditLog, AuditRecord, RotationReport, VAULT_STORE_FILE,
        VaultStore, truncate_note,
    },
    error::{Error, Result},
    holder::Change,
    limits::RateLimiter,
    util::lock,
};

/// The custodial vault: its key store, its audit log and its rotation state.
pub struct Vault {
    store: VaultStore,
    audit: AuditLog,
    data_dir: PathBuf,
    /// Set when an audit append failed: `/health` reports it until restart.
    audit_failed: AtomicBool,
    /// Held while a rotation runs (one at a time).
    rotation_lock: Mutex<()>,
    /// The KEK a running rotation moves records to.
    rotating_to: Mutex<Option<String>>,
    /// The outcome of the last rotation since start.
    last_rotation: Mutex<Option<RotationOutcome>>,
    /// The last KEK probe for `/health` and when it ran (the probe is an HSM round trip).
    probe_cache: Mutex<Option<(Instant, std::result::Result<(), String>)>>,
    /// KEK probes run since start (`zgvault_node_vault_kek_probes_total`).
    kek_probes: AtomicU64,
    /// The last records-per-KEK scan for `/metrics` (a scan of the whole store) and when.
    records_cache: Mutex<Option<(Instant, Option<RecordCounts>)>>,
    /// The PKCS#11 modules the configuration names (current and previous KEKs): the only
    /// ones a rotation may load, so the admin socket cannot be used to load arbitrary code.
    modules: Vec<PathBuf>,
    /// The config file the vault was started from, re-read for a module not in `modules`.
    config_file: Option<PathBuf>,
    /// Which refusals get their own audit line.
    refusal_lines: RefusalLines,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("store", &self.store)
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

/// Records per KEK id, as `/metrics` shows them.
type RecordCounts = BTreeMap<String, u64>;

/// How long `/health` reuses a KEK probe and `/metrics` a records scan: both are too costly
/// (an HSM round trip, a scan of every record) to run for every unauthenticated poll.
pub const HEALTH_CACHE_TTL: Duration = Duration::from_secs(5);

/// Refusals the vault writes an audit line for, one by one, per second once its burst is
/// spent. Releases, stored keys, shreds and rotations are always written; refusals beyond
/// this are counted, and the next refusal line notes how many were not written. Each line is
/// an fsync (about a millisecond, under the log's lock, which releases wait for): at 20 a
/// second refusals take at most a few percent of it, whatever a flood of fresh signers sends.
pub const REFUSAL_AUDIT_LINES_PER_SEC: u32 = 20;
/// Refusal lines the vault writes at once before [`REFUSAL_AUDIT_LINES_PER_SEC`] applies: an
/// honest burst of refusals (a revoked reader retrying, a batch of replays) is recorded line
/// by line.
pub const REFUSAL_AUDIT_BURST: u32 = 100;

/// The refusal-line budget: a token bucket, so that a flood of refusals is not a flood of
/// fsyncs, and the count of refusals it left unwritten.
#[derive(Debug)]
struct RefusalLines {
    bucket: Mutex<RateLimiter<()>>,
    /// Refusals not written since the last refusal line (the next one notes them).
    pending: AtomicU64,
    /// Refusals not written since start (`zgvault_node_audit_refusals_unrecorded_total`).
    unrecorded: AtomicU64,
}

impl RefusalLines {
    fn new(per_sec: u32, burst: u32) -> Self {
        Self {
            bucket: Mutex::new(RateLimiter::new(per_sec, burst, 1)),
            pending: AtomicU64::new(0),
            unrecorded: AtomicU64::new(0),
        }
    }

    /// `Some(refusals not written before this one)` when a token is left at `now`; `None`
    /// (and counted) otherwise.
    fn admit(&self, now: Instant) -> Option<u64> {
        if lock(&self.bucket).check(&(), now).is_ok() {
            Some(self.pending.swap(0, Ordering::Relaxed))
        } else {
            self.pending.fetch_add(1, Ordering::Relaxed);
            self.unrecorded.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    fn give_back(&self, pending: u64) {
        self.pending.fetch_add(pending, Ordering::Relaxed);
    }
}

/// A module path as compared by the rotation's allow-list: resolved (symlinks, `..`) when it
/// exists, as written otherwise.
fn module_identity(module: &Path) -> PathBuf {
    std::fs::canonicalize(module).unwrap_or_else(|_| module.to_owned())
}

/// What `GET /admin/vault/status` and `zgvault-node vault status` show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultStatus {
    /// The KEK new deposits are sealed under.
    pub current_kek: String,
    /// Records per KEK id (`<corrupt>`: records that do not parse).
    pub records_by_kek: BTreeMap<String, u64>,
    /// The KEK a rotation is moving records to, while one runs.
    pub rotating_to: Option<String>,
    /// The last rotation since the daemon started.
    pub last_rotation: Option<RotationOutcome>,
    /// Lines in the audit log.
    pub audit_lines: usize,
    /// SHA-256 of the last audit line (hex; it covers the line's MAC): copy it off the host
    /// to detect a cut or rolled-back log.
    pub audit_head: String,
}

/// The result of a rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationOutcome {
    /// The KEK that was current before.
    pub from: String,
    /// The KEK rotated to.
    pub to: String,
    /// Records re-wrapped under `to`.
    pub rewrapped: u64,
    /// Records already under `to`.
    pub already_current: u64,
    /// Why it stopped early (then run it again), `None` when it finished.
    pub error: Option<String>,
}

impl Vault {
    /// Opens the vault of `config` (custodial mode): the current and previous KEKs, the key
    /// store and the audit log (its chain, MACs and anchor checked). Fails closed: a KEK that
    /// cannot be used, a record under a KEK that is not configured, or an audit log that does
    /// not verify refuse the start.
    pub fn open(config: &NodeConfig) -> Result<Self> {
        let (store, modules) = open_store(config)?;
        let audit = AuditLog::open(&audit_path(config), &store)?;
        Ok(Self {
            store,
            audit,
            data_dir: config.data_dir.clone(),
            audit_failed: AtomicBool::new(false),
            rotation_lock: Mutex::new(()),
            rotating_to: Mutex::new(None),
            last_rotation: Mutex::new(None),
            probe_cache: Mutex::new(None),
            kek_probes: AtomicU64::new(0),
            records_cache: Mutex::new(None),
            modules,
            config_file: config.config_file.clone(),
            refusal_lines: RefusalLines::new(REFUSAL_AUDIT_LINES_PER_SEC, REFUSAL_AUDIT_BURST),
        })
    }

    /// Whether a refusal gets its own audit line now. `Some(n)`: yes, and `n` refusals
    /// before it were not written (note them on its line; give them back with
    /// [`Vault::refusal_line_failed`] if the line cannot be written). `None`: over
    /// [`REFUSAL_AUDIT_LINES_PER_SEC`], only counted.
    pub(crate) fn refusal_line(&self) -> Option<u64> {
        self.refusal_lines.admit(Instant::now())
    }

    /// A refusal line that [`Vault::refusal_line`] allowed could not be written: the
    /// refusals it was to note stay pending.
    pub(crate) fn refusal_line_failed(&self, pending: u64) {
        self.refusal_lines.give_back(pending);
    }

    /// Refusals not written to the audit log one by one since start.
    pub fn refusals_unrecorded(&self) -> u64 {
        self.refusal_lines.unrecorded.load(Ordering::Relaxed)
    }

    /// The key store.
    pub fn store(&self) -> &VaultStore {
        &self.store
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Appends one decision to the audit log (fsync'd). A failure is remembered for
    /// `/health`; the caller must then not release anything.
    pub(crate) fn record(&self, record: &AuditRecord) -> Result<u64> {
        self.audit.append(record).inspect_err(|error| {
            self.audit_failed.store(true, Ordering::Relaxed);
            tracing::error!(target: "zgvault::node::vault", %error, "audit log append failed: refusing until it works");
        })
    }

    /// The audit line of a store change that already committed (a key stored, a shred):
    /// written in the same blocking step as the commit. A failure cannot undo the change, so
    /// it is logged at error and reported by `/health` (`audit_ok: false`) rather than turned
    /// into a refusal that would not be true.
    pub(crate) fn record_store_change(
        &self,
        action: AuditAction,
        change: &Change,
        note: Option<String>,
    ) {
        let file_id = change.file_id;
        let note = note.map(|mut n| {
            truncate_note(&mut n);
            n
        });
        let written = self.record(&AuditRecord {
            action,
            requester: change.signer,
            file_id,
            decision: AuditDecision::Allowed,
            request_hash: change.request_hash,
            note,
        });
        if let Err(error) = written {
            tracing::error!(target: "zgvault::node::vault", %file_id, ?action, %error, "the store change happened but its audit line could not be written");
        }
    }

    /// `/health`: the KEK seals and opens a probe (at most once per [`HEALTH_CACHE_TTL`]:
    /// callers in between get the last result); the audit log is writable (checked each
    /// time: it is cheap). Blocking: run it off the async workers.
    pub(crate) fn check(&self) -> (std::result::Result<(), String>, Result<()>) {
        let kek = {
            // Held across the probe: concurrent callers wait for it instead of probing too.
            let mut cached = lock(&self.probe_cache);
            match &*cached {
                Some((at, result)) if at.elapsed() < HEALTH_CACHE_TTL => result.clone(),
                _ => {
                    self.kek_probes.fetch_add(1, Ordering::Relaxed);
                    let result = self.store.probe_kek().map_err(|e| e.to_string());
                    *cached = Some((Instant::now(), result.clone()));
                    result
                }
            }
        };
        let audit = if self.audit_failed.load(Ordering::Relaxed) {
            Err(Error::Internal {
                what: "an audit log append failed since start; fix the disk and restart",
            })
        } else if std::fs::metadata(self.audit.path()).is_err() {
            Err(Error::AuditLogReplaced {
                path: self.audit.path().to_owned(),
            })
        } else {
            Ok(())
        };
        (kek, audit)
    }

    /// A rotation may load only a PKCS#11 module the configuration names: the one the vault
    /// started with, or the config file as it is now (the operator edits it before rotating).
    fn check_module(&self, module: &Path) -> Result<()> {
        let wanted = module_identity(module);
        if self.modules.contains(&wanted) {
            return Ok(());
        }
        if let Some(path) = &self.config_file {
            let now = NodeConfig::read(Some(path))?;
            let named = std::iter::once(now.vault.current())
                .chain(now.vault.previous)
                .any(|k| {
                    k.kek == KekBackend::Pkcs11 && module_identity(&k.pkcs11.module) == wanted
                });
            if named {
                return Ok(());
            }
        }
        Err(Error::ModuleNotConfigured {
            module: module.to_owned(),
        })
    }

    /// KEK probes run since start.
    pub fn kek_probes(&self) -> u64 {
        self.kek_probes.load(Ordering::Relaxed)
    }

    /// Records per KEK for `/metrics`: a scan of the store at most once per
    /// [`HEALTH_CACHE_TTL`]. `None` when the scan failed. Blocking.
    pub(crate) fn records_by_kek_cached(&self) -> Option<RecordCounts> {
        let mut cached = lock(&self.records_cache);
        match &*cached {
            Some((at, counts)) if at.elapsed() < HEALTH_CACHE_TTL => counts.clone(),
            _ => {
                let counts = self.store.count_by_kek().ok();
                *cached = Some((Instant::now(), counts.clone()));
                counts
            }
        }
    }

    /// Makes the KEK `next` describes current and re-wraps every record under it, while the
    /// vault serves (blocking: run it off the async workers). One rotation at a time. The
    /// outcome is written to the audit log.
    pub fn rotate(&self, next: &KekConfig) -> Result<RotationOutcome> {
        let _running = self
            .rotation_lock
            .try_lock()
            .map_err(|_| Error::RotationRunning)?;
        if next.kek == KekBackend::Pkcs11 {
            self.check_module(&next.pkcs11.module)?;
        }
        let kek = open_kek(next, &self.data_dir, Create::IfMissing)?;
        let from = self.store.current_kek_id();
        let to = kek.id().to_owned();
        *lock(&self.rotating_to) = Some(to.clone());
        tracing::info!(target: "zgvault::node::vault", %from, %to, "KEK rotation started");
        let result = self.store.rotate(kek);
        *lock(&self.rotating_to) = None;
        let outcome = match &result {
            Ok(RotationReport {
                rewrapped,
                already_current,
            }) => RotationOutcome {
                from,
                to,
                rewrapped: *rewrapped,
                already_current: *already_current,
                error: None,
            },
            Err(e) => RotationOutcome {
                from,
                to,
                rewrapped: 0,
                already_current: 0,
                error: Some(e.to_string()),
            },
        };
        *lock(&self.last_rotation) = Some(outcome.clone());
        let mut note = format!(
            "from {} to {}: {} rewrapped, {} already current",
            outcome.from, outcome.to, outcome.rewrapped, outcome.already_current
        );
        if result.is_err() {
            note.push_str(", interrupted");
        }
        truncate_note(&mut note);
        self.record(&AuditRecord {
            action: AuditAction::Rotate,
            requester: Address::ZERO,
            file_id: B256::ZERO,
            decision: match &result {
                Ok(_) => AuditDecision::Allowed,
                Err(_) => AuditDecision::Refused {
                    code: "INTERNAL".into(),
                },
            },
            request_hash: B256::ZERO,
            note: Some(note),
        })?;
        result.map(|_| outcome)
    }

    /// Records per KEK, rotation state and the audit head.
    pub fn status(&self) -> Result<VaultStatus> {
        let head = self.audit.head();
        Ok(VaultStatus {
            current_kek: self.store.current_kek_id(),
            records_by_kek: self.store.count_by_kek()?,
            rotating_to: lock(&self.rotating_to).clone(),
            last_rotation: lock(&self.last_rotation).clone(),
            audit_lines: head.lines,
            audit_head: hex::encode(head.hash),
        })
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// The audit log's path: `vault.audit_log`, relative to `data_dir`.
pub(crate) fn audit_path(config: &NodeConfig) -> PathBuf {
    resolve(&config.data_dir, &config.vault.audit_log)
}

/// Opens the KEKs of `config` and the key store, checking that every record's KEK is loaded.
/// Returns the store and the PKCS#11 modules the configuration names.
fn open_store(config: &NodeConfig) -> Result<(VaultStore, Vec<PathBuf>)> {
    let data_dir = &config.data_dir;
    let vault = &config.vault;
    vault.validate()?;
    let modules = std::iter::once(vault.current())
        .chain(vault.previous.iter().cloned())
        .filter(|k| k.kek == KekBackend::Pkcs11)
        .map(|k| module_identity(&k.pkcs11.module))
        .collect();
    let new_store = !data_dir.join(VAULT_STORE_FILE).exists();
    // A missing current key file is created only on a vault's first start, or when the
    // operator configured a rotation (the old KEK under `previous` still opens the records).
    // Otherwise only the token's audit key may be created (a vault from before audit MACs).
    let create = if new_store || !vault.previous.is_empty() {
        Create::IfMissing
    } else {
        Create::AuditKey
    };
    let (current, previous) = open_keks(vault, data_dir, create)?;
    let loaded: Vec<String> = previous
        .iter()
        .chain(std::iter::once(&current))
        .map(|k| k.id().to_owned())
        .collect();
    let store = VaultStore::open(data_dir, current, &previous)?;
    for (kek, count) in store.count_by_kek()? {
        if kek == "<corrupt>" {
            tracing::error!(target: "zgvault::node::vault", count, "vault records that do not parse: they will be refused as INTERNAL");
        } else if !loaded.contains(&kek) {
            return Err(Error::KekNotConfigured {
                kek,
                records: count,
            });
        }
    }
    Ok((store, modules))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::RefusalLines;

    #[test]
    fn refusal_lines_spend_the_burst_then_count_and_the_next_line_notes_the_count() {
        let lines = RefusalLines::new(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(lines.admit(t0), Some(0));
        }
        for _ in 0..5 {
            assert_eq!(lines.admit(t0), None, "over the burst: counted only");
        }
        assert_eq!(
            lines.unrecorded.load(std::sync::atomic::Ordering::Relaxed),
            5
        );
        // Half a second later one token is back: its line notes the five before it.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(lines.admit(later), Some(5));
        assert_eq!(lines.admit(later), None);
        // A line that could not be written hands its count to the next one.
        let pending = lines.admit(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(pending, 1);
        lines.give_back(pending);
        assert_eq!(lines.admit(t0 + Duration::from_secs(2)), Some(1));
        assert_eq!(
            lines.unrecorded.load(std::sync::atomic::Ordering::Relaxed),
            6
        );
    }
}
