//! The operator's admin socket: `data_dir/admin.sock` (mode 0600; the data folder is 0700),
//! HTTP/1.1 over a Unix socket, so only local users with access to the data folder reach it.
//! It exists because redb locks `vault.redb`: while the daemon runs no other process can open
//! the store, so a rotation must run inside the daemon, while it serves.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /admin/vault/rotate` | [`KekConfig`] JSON: the KEK to rotate to | 200 [`RotationOutcome`]; 403 a PKCS#11 module the config does not name, or a KEK id already used by another key; 409 a rotation runs; 500 `{"error"}` |
//! | `GET /admin/vault/status` | — | 200 [`VaultStatus`] |
//!
//! [`rotate`] and [`status`] are the client side (`zgvault-node vault rotate|status`): they
//! use the socket when the daemon answers on it, and otherwise open the store themselves.

use std::{
    future::Future,
    io::ErrorKind,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{UnixListener, UnixStream},
};

use super::{KekConfig, RotationOutcome, Vault, VaultStatus};
use crate::{
    config::NodeConfig,
    custody::VAULT_STORE_FILE,
    error::{Error, Result},
};

/// File name of the admin socket in `data_dir`.
pub const ADMIN_SOCKET: &str = "admin.sock";
/// Mode of the admin socket.
const ADMIN_SOCKET_MODE: u32 = 0o600;
/// Mode of the folder the socket is bound in before it is moved into place.
const ADMIN_STAGING_MODE: u32 = 0o700;
/// Largest admin answer read by the client.
const MAX_ADMIN_ANSWER: u64 = 1 << 20;
/// The admin routes (method, path): the OpenAPI test compares them with `docs/openapi.json`.
pub const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("post", "/admin/vault/rotate"),
    ("get", "/admin/vault/status"),
];

/// The socket path of a node's `data_dir`.
pub fn admin_socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ADMIN_SOCKET)
}

/// Binds the admin socket in `data_dir` (replacing a stale one: the store's lock guarantees
/// no other daemon uses this data folder). The socket is never reachable with looser
/// permissions than 0600: it is bound inside a fresh 0700 folder, chmod'ed, then renamed into
/// place (and the data folder itself is 0700, checked at start).
pub(crate) fn bind_admin(data_dir: &Path) -> Result<UnixListener> {
    let path = admin_socket_path(data_dir);
    let staging = data_dir.join(format!(".admin-{}", std::process::id()));
    match std::fs::remove_dir_all(&staging) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove stale", &staging, e)),
    }
    std::fs::DirBuilder::new()
        .mode(ADMIN_STAGING_MODE)
        .create(&staging)
        .map_err(|e| Error::io("create directory", &staging, e))?;
    let bound = bind_staged(&staging, &path);
    let _ = std::fs::remove_dir_all(&staging);
    bound
}

fn bind_staged(staging: &Path, path: &Path) -> Result<UnixListener> {
    let staged = staging.join(ADMIN_SOCKET);
    let listener = UnixListener::bind(&staged).map_err(|source| Error::AdminSocket {
        path: staged.clone(),
        source,
    })?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(ADMIN_SOCKET_MODE))
        .map_err(|e| Error::io("chmod", &staged, e))?;
    // rename(2) replaces a stale socket atomically; the listener keeps the inode.
    std::fs::rename(&staged, path).map_err(|e| Error::io("rename into place", path, e))?;
    Ok(listener)
}

/// Serves the admin routes on `listener` until `shutdown` completes.
pub(crate) async fn serve_admin(
    listener: UnixListener,
    vault: Arc<Vault>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = Router::new()
        .route(ADMIN_ROUTES[0].1, post(rotate_route))
        .route(ADMIN_ROUTES[1].1, get(status_route))
        .with_state(vault);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Serve { source })
}

#[derive(Serialize)]
struct AdminError {
    error: String,
}

fn error_answer(status: StatusCode, error: &Error) -> Response {
    (
        status,
        Json(AdminError {
            error: error.to_string(),
        }),
    )
        .into_response()
}

async fn rotate_route(State(vault): State<Arc<Vault>>, Json(next): Json<KekConfig>) -> Response {
    tracing::info!(target: "zgvault::node::vault", to = %next.describe(), "rotation asked on the admin socket");
    // The rotation commits batch by batch and may take a while: off the async workers.
    let outcome = tokio::task::spawn_blocking(move || vault.rotate(&next)).await;
    match outcome {
        Ok(Ok(outcome)) => Json(outcome).into_response(),
        Ok(Err(e @ Error::RotationRunning)) => error_answer(StatusCode::CONFLICT, &e),
        Ok(Err(e @ (Error::ModuleNotConfigured { .. } | Error::KekIdCollision { .. }))) => {
            error_answer(StatusCode::FORBIDDEN, &e)
        }
        Ok(Err(e)) => error_answer(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(_) => error_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            &Error::Internal {
                what: "rotation task",
            },
        ),
    }
}

async fn status_route(State(vault): State<Arc<Vault>>) -> Response {
    match tokio::task::spawn_blocking(move || vault.status()).await {
        Ok(Ok(status)) => Json(status).into_response(),
        Ok(Err(e)) => error_answer(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(_) => error_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            &Error::Internal {
                what: "status task",
            },
        ),
    }
}

/// Where an admin command ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RanAt {
    /// Inside the running daemon, through its admin socket.
    Daemon,
    /// In this process, on the store directly (no daemon was running).
    Offline,
}

/// Rotates the vault of `config` to its current KEK (`[vault]`; the old one goes under
/// `[[vault.previous]]`): through the running daemon's admin socket, or offline when no
/// daemon answers.
pub async fn rotate(config: &NodeConfig) -> Result<(RanAt, RotationOutcome)> {
    let next = config.vault.current();
    let body = serde_json::to_vec(&next).map_err(|_| Error::Internal {
        what: "KEK config JSON",
    })?;
    let socket = admin_socket_path(&config.data_dir);
    if let Some(answer) = request(&socket, "POST", ADMIN_ROUTES[0].1, &body).await? {
        return Ok((RanAt::Daemon, answer));
    }
    let config = config.clone();
    let outcome = tokio::task::spawn_blocking(move || open_offline(&config)?.rotate(&next))
        .await
        .map_err(|_| Error::Internal {
            what: "offline rotation task",
        })??;
    Ok((RanAt::Offline, outcome))
}

/// The vault's status: from the running daemon, or from the store when none runs.
pub async fn status(config: &NodeConfig) -> Result<(RanAt, VaultStatus)> {
    let socket = admin_socket_path(&config.data_dir);
    if let Some(answer) = request(&socket, "GET", ADMIN_ROUTES[1].1, &[]).await? {
        return Ok((RanAt::Daemon, answer));
    }
    let config = config.clone();
    let status = tokio::task::spawn_blocking(move || open_offline(&config)?.status())
        .await
        .map_err(|_| Error::Internal {
            what: "offline status task",
        })??;
    Ok((RanAt::Offline, status))
}

/// Opens the vault of `config` in this process (no daemon runs), refusing a data folder
/// without a vault store rather than creating a new vault there.
fn open_offline(config: &NodeConfig) -> Result<Vault> {
    if !config.data_dir.join(VAULT_STORE_FILE).exists() {
        return Err(Error::Admin {
            path: admin_socket_path(&config.data_dir),
            message: format!(
                "no daemon answers and {} holds no vault store: start the vault once, or fix \
                 data_dir",
                config.data_dir.display()
            ),
        });
    }
    crate::keys::ensure_private_dir(&config.data_dir)?;
    Vault::open(config)
}

/// One HTTP/1.1 request over the admin socket. `Ok(None)`: no daemon listens there.
pub(super) async fn request<T: DeserializeOwned>(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Option<T>> {
    let admin = |message: String| Error::Admin {
        path: socket.to_owned(),
        message,
    };
    let mut stream = match UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => {
            return Err(admin(format!(
                "{e}: run the command as the user the daemon runs as"
            )));
        }
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| admin(format!("write: {e}")))?;
    stream
        .write_all(body)
        .await
        .map_err(|e| admin(format!("write: {e}")))?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ADMIN_ANSWER)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| admin(format!("read: {e}")))?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| admin("the daemon's answer has no HTTP header end".into()))?;
    let (header, rest) = answer.split_at(split);
    let body = &rest[4..];
    let status_line = String::from_utf8_lossy(header)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| admin(format!("unexpected answer {status_line:?}")))?;
    if status != 200 {
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        return Err(admin(format!("the daemon refused ({status}): {message}")));
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| admin(format!("unexpected answer body: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn admin_socket_is_0600_from_the_start_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = admin_socket_path(dir.path());
        // A stale socket (or any file) left by a killed daemon.
        std::fs::write(&path, b"stale").unwrap();
        let listener = bind_admin(dir.path()).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()));
        assert_eq!(meta.permissions().mode() & 0o777, ADMIN_SOCKET_MODE);
        // The staging folder is gone: only the socket was added.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![ADMIN_SOCKET.to_owned()]);
        // The listener answers on the renamed path.
        let (client, accepted) = tokio::join!(UnixStream::connect(&path), listener.accept());
        client.unwrap();
        accepted.unwrap();
    }
}
