//! The operator's audit commands: `zgvault-node vault audit verify` checks the log with the
//! KEKs the configuration names (every MAC, naming the first bad line) against the head the
//! vault anchored; `zgvault-node vault audit new-log` sets a log aside (one without MACs from
//! an older version, a torn one, a broken one) and starts a new, keyed one.

use std::path::PathBuf;

use serde::Serialize;

use super::{
    VaultStatus,
    admin::{ADMIN_ROUTES, admin_socket_path, request},
    audit_path,
    open::{Create, open_keks},
    open_store,
};
use crate::{
    config::NodeConfig,
    custody::{
        AuditHead, AuditLog, AuditSummary, NewLog, VAULT_STORE_FILE, VaultStore, verify_log,
        verify_log_to,
    },
    error::{Error, Result},
};

/// Where the head a log was checked against came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnchorSource {
    /// The running daemon's own head, asked over its admin socket.
    Daemon,
    /// The anchor in `vault.redb` (no daemon was running).
    Store,
}

/// What `zgvault-node vault audit verify` reports about an intact log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    /// The log checked.
    pub log: PathBuf,
    /// Its lines, head and KEKs.
    #[serde(flatten)]
    pub summary: AuditSummary,
    /// The anchored head's line count the log was checked against (it still holds that
    /// line); `None` for a file given with `--log`, or a vault that anchored nothing yet.
    pub anchored_lines: Option<usize>,
    /// Where that head came from.
    pub anchor_source: Option<AnchorSource>,
}

/// Verifies the audit log of `config` (or the file `log`, e.g. one set aside by
/// [`new_log`]) with every KEK the configuration names; nothing is created or changed. The
/// configured log is also checked against the running daemon's head (then only the lines up
/// to that head are checked: the daemon is appending) or, when no daemon runs, the head
/// anchored in `vault.redb`.
pub async fn verify(config: &NodeConfig, log: Option<PathBuf>) -> Result<AuditVerification> {
    // Asked first: the daemon may append after answering, never remove.
    let daemon = match log {
        Some(_) => None,
        None => daemon_head(config).await?,
    };
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let (current, previous) = open_keks(&config.vault, &config.data_dir, Create::Never)?;
        let (path, anchor) = match log {
            Some(path) => (path, None),
            None => {
                let anchor = match daemon {
                    Some(head) => Some((head, AnchorSource::Daemon)),
                    None if config.data_dir.join(VAULT_STORE_FILE).exists() => {
                        VaultStore::open(&config.data_dir, current.clone(), &previous)?
                            .audit_anchor()?
                            .map(|head| (head, AnchorSource::Store))
                    }
                    None => None,
                };
                (audit_path(&config), anchor)
            }
        };
        let keks: Vec<_> = std::iter::once(current).chain(previous).collect();
        let summary = match anchor {
            // The daemon keeps appending: check what it had written when asked.
            Some((head, AnchorSource::Daemon)) => verify_log_to(&path, &keks, head)?,
            _ => verify_log(&path, &keks, anchor.map(|(head, _)| head))?,
        };
        Ok(AuditVerification {
            log: path,
            summary,
            anchored_lines: anchor.map(|(head, _)| head.lines),
            anchor_source: anchor.map(|(_, source)| source),
        })
    })
    .await
    .map_err(|_| Error::Internal {
        what: "audit verification task",
    })?
}

/// Starts a new audit log for the vault of `config` (offline: refused while its daemon
/// runs): see [`AuditLog::start_new`].
pub async fn new_log(config: &NodeConfig) -> Result<NewLog> {
    if daemon_head(config).await?.is_some() {
        return Err(Error::Admin {
            path: admin_socket_path(&config.data_dir),
            message: "the vault daemon is running on this data folder: stop it, then run \
                      `zgvault-node vault audit new-log` again"
                .into(),
        });
    }
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        if !config.data_dir.join(VAULT_STORE_FILE).exists() {
            return Err(Error::Admin {
                path: admin_socket_path(&config.data_dir),
                message: format!(
                    "{} holds no vault store: a vault that never started needs no new log \
                     (or fix data_dir)",
                    config.data_dir.display()
                ),
            });
        }
        crate::keys::ensure_private_dir(&config.data_dir)?;
        let (store, _) = open_store(&config)?;
        let (_, report) = AuditLog::start_new(&audit_path(&config), &store)?;
        tracing::warn!(target: "zgvault::node::vault", previous = ?report.previous, verdict = %report.previous_verdict, "a new audit log was started");
        Ok(report)
    })
    .await
    .map_err(|_| Error::Internal {
        what: "new audit log task",
    })?
}

/// The running daemon's audit head, `None` when no daemon answers on the admin socket.
async fn daemon_head(config: &NodeConfig) -> Result<Option<AuditHead>> {
    let socket = admin_socket_path(&config.data_dir);
    let Some(status) = request::<VaultStatus>(&socket, "GET", ADMIN_ROUTES[1].1, &[]).await? else {
        return Ok(None);
    };
    let mut hash = [0u8; 32];
    hex::decode_to_slice(&status.audit_head, &mut hash).map_err(|_| Error::Admin {
        path: socket.clone(),
        message: format!(
            "the daemon's audit head {:?} is not 32 hex bytes",
            status.audit_head
        ),
    })?;
    Ok(Some(AuditHead {
        lines: status.audit_lines,
        hash,
    }))
}
