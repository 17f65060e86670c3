//! The JSON API the page calls, behind the guard. Every flow goes through `sdk.rs`.

use std::future::Future;
use std::sync::{Arc, RwLock};

use alloy::primitives::{Address, B256};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::ask::{AskRequest, Asker, NOT_INSTALLED};
use crate::error::Error;
use crate::guard::{Guard, check};
use crate::ops::{Op, Ops};
use crate::sdk::{self, FlowSession, Session};

/// The largest JSON body a page sends (passphrases, addresses, a question).
pub(crate) const MAX_JSON_BYTES: usize = 64 * 1024;
/// The shortest passphrase accepted for a new keystore.
pub(crate) const MIN_PASSPHRASE_CHARS: usize = 8;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    /// The network for a first run.
    network: Option<String>,
    asker: Option<Arc<dyn Asker>>,
    /// The unlocked user; the passphrase itself is never kept.
    session: RwLock<Option<Arc<Session>>>,
    /// Held by each operation that sends transactions, so they take turns (see
    /// `sdk::Session`).
    chain: Arc<tokio::sync::Mutex<()>>,
    pub(crate) ops: Ops,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("session", &self.session().ok())
            .field("ops", &self.inner.ops)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub(crate) fn new(
        network: Option<String>,
        asker: Option<Arc<dyn Asker>>,
    ) -> Result<AppState, Error> {
        crate::upload::purge_leftovers();
        Ok(AppState {
            inner: Arc::new(Inner {
                network,
                asker,
                session: RwLock::new(None),
                chain: Arc::new(tokio::sync::Mutex::new(())),
                ops: Ops::default(),
            }),
        })
    }

    fn session(&self) -> Result<Arc<Session>, Error> {
        self.inner
            .session
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(Error::Locked)
    }

    /// A fresh SDK session of the signed-in user, for one operation.
    pub(crate) fn flow_session(&self) -> Result<Arc<FlowSession>, Error> {
        Ok(Arc::new(self.session()?.flow_session()?))
    }

    fn set_session(&self, session: Option<Session>) {
        *self
            .inner
            .session
            .write()
            .unwrap_or_else(|p| p.into_inner()) = session.map(Arc::new);
    }

    /// Waits for this user's turn to send transactions; the turn lasts while the guard
    /// lives.
    pub(crate) async fn chain_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.inner.chain.clone().lock_owned().await
    }

    pub(crate) fn ops(&self) -> &Ops {
        &self.inner.ops
    }
}

/// The whole app: pages, API, and the guard in front of both.
pub(crate) fn router(state: AppState, guard: Guard) -> Router {
    let api = Router::new()
        .route("/api/session", get(session))
        .route("/api/identity/create", post(create_identity))
        .route("/api/identity/unlock", post(unlock))
        .route("/api/identity/lock", post(lock))
        .route("/api/put", post(crate::upload::put))
        .route("/api/files", get(files))
        .route("/api/files/{id}", get(file_info))
        .route("/api/files/{id}/grant", post(grant))
        .route("/api/files/{id}/revoke", post(revoke))
        .route("/api/files/{id}/window", post(window))
        .route("/api/files/{id}/policy", post(policy))
        .route("/api/files/{id}/custody", post(custody))
        .route("/api/files/{id}/shred", post(shred))
        .route("/api/files/{id}/get", post(crate::upload::get))
        .route("/api/ops", get(ops_list))
        .route("/api/ops/{id}", get(op_one))
        .route("/api/ops/{id}/events", get(op_events))
        .route("/api/ops/{id}/file", get(crate::upload::op_file))
        .route("/api/status", get(status))
        .route("/api/ask", post(ask))
        .with_state(state);
    crate::assets::routes()
        .merge(api)
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .layer(middleware::from_fn_with_state(guard, check))
}

/// An error as the page receives it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    /// `locked`, `bad_request`, `access_denied`, `identity`, `not_found`, `failed`,
    /// `rag_not_installed`.
    pub(crate) kind: &'static str,
}

impl ErrorBody {
    pub(crate) fn of(e: &Error) -> ErrorBody {
        let kind = match e {
            Error::Locked => "locked",
            Error::BadRequest { .. } => "bad_request",
            Error::Identity { .. } => "identity",
            Error::UnknownOperation { .. } => "not_found",
            e if sdk::is_access_denied(e) => "access_denied",
            _ => "failed",
        };
        ErrorBody {
            error: e.to_string(),
            kind,
        }
    }
}

/// A handler's error: JSON with a status the page can branch on.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::of(&self.0);
        let status = match body.kind {
            "locked" => StatusCode::UNAUTHORIZED,
            "bad_request" | "identity" => StatusCode::BAD_REQUEST,
            "not_found" => StatusCode::NOT_FOUND,
            "access_denied" => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_GATEWAY,
        };
        (status, Json(body)).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Runs blocking work (scrypt, file I/O) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task {
            message: format!("the task stopped unexpectedly ({e}): try again"),
        })?
}

/// Runs an SDK flow for the signed-in user to its end, on a blocking thread (the flows
/// seal and hash on their caller's thread).
async fn with_flows<F, Fut>(state: &AppState, f: F) -> ApiResult
where
    F: FnOnce(Arc<FlowSession>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Value, Error>>,
{
    let user = state.flow_session()?;
    let handle = tokio::runtime::Handle::current();
    Ok(Json(blocking(move || handle.block_on(f(user))).await?))
}

/// Starts `work` for the signed-in user as a background operation about `file_id`;
/// answers with its id at once (the page follows it over SSE).
/// Operations that send transactions (`writes`) wait for their turn first.
fn start_op<F, Fut>(
    state: &AppState,
    (kind, writes): (&'static str, bool),
    title: String,
    file_id: B256,
    work: F,
) -> ApiResult
where
    F: FnOnce(Arc<FlowSession>, Arc<Op>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Value, Error>>,
{
    let user = state.flow_session()?;
    let op = state.ops().create(kind, title, Some(file_id.to_string()));
    let id = op.snapshot().id;
    let turn = writes.then(|| state.clone());
    state.ops().run(op, move |op| async move {
        let _turn = match turn {
            Some(state) => {
                op.progress("waiting for your previous change to finish", 0, 0);
                Some(state.chain_turn().await)
            }
            None => None,
        };
        work(user, op).await
    });
    Ok(Json(json!({ "op": id })))
}

/// [`with_flows`] for a flow that sends transactions: it waits for its turn.
async fn with_writer<F, Fut>(state: &AppState, f: F) -> ApiResult
where
    F: FnOnce(Arc<FlowSession>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Value, Error>>,
{
    let _turn = state.chain_turn().await;
    with_flows(state, f).await
}

pub(crate) fn parse_file_id(text: &str) -> Result<B256, Error> {
    text.parse().map_err(|_| Error::BadRequest {
        message: format!("{text:?} is not a file id (0x + 64 hex digits)"),
    })
}

fn parse_address(text: &str) -> Result<Address, Error> {
    text.trim().parse().map_err(|_| Error::BadRequest {
        message: format!("{text:?} is not an address (0x + 40 hex digits)"),
    })
}

async fn session(State(state): State<AppState>) -> ApiResult {
    let network = state.inner.network.clone();
    let identity = blocking(move || sdk::identity_state(network.as_deref())).await?;
    let session = state.session().ok();
    Ok(Json(json!({
        "identity": identity,
        "unlocked": session.is_some(),
        "address": session.as_ref().map(|s| s.address()),
        "network": session.as_ref().map(|s| s.network_name().to_owned()),
        "chainId": session.as_ref().map(|s| s.chain_id()),
        "askInstalled": state.inner.asker.is_some(),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    passphrase: String,
    #[serde(default)]
    import_key: Option<String>,
}

async fn create_identity(State(state): State<AppState>, Json(body): Json<CreateBody>) -> ApiResult {
    if body.passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Error::BadRequest {
            message: format!(
                "choose a passphrase of at least {MIN_PASSPHRASE_CHARS} characters: it is \
                 the only thing protecting your key on this computer"
            ),
        }
        .into());
    }
    let network = state.inner.network.clone();
    let import = body
        .import_key
        .map(Zeroizing::new)
        .filter(|k| !k.trim().is_empty());
    let pass = sdk::passphrase(body.passphrase);
    let session = blocking(move || sdk::create_identity(&pass, import, network.as_deref())).await?;
    let address = session.address();
    state.set_session(Some(session));
    Ok(Json(json!({ "address": address })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockBody {
    passphrase: String,
}

async fn unlock(State(state): State<AppState>, Json(body): Json<UnlockBody>) -> ApiResult {
    let pass = sdk::passphrase(body.passphrase);
    let session = blocking(move || sdk::unlock(&pass)).await?;
    let address = session.address();
    state.set_session(Some(session));
    Ok(Json(json!({ "address": address })))
}

async fn lock(State(state): State<AppState>) -> ApiResult {
    state.set_session(None);
    Ok(Json(json!({ "locked": true })))
}

async fn files(State(state): State<AppState>) -> ApiResult {
    with_flows(&state, |v| async move { sdk::list(&v).await }).await
}

async fn file_info(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_file_id(&id)?;
    with_flows(&state, move |v| async move { sdk::info(&v, id).await }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    to: String,
    /// `pass` (default) or `allow`.
    #[serde(default)]
    how: Option<String>,
}

async fn grant(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<GrantBody>,
) -> ApiResult {
    let id = parse_file_id(&id)?;
    let to = parse_address(&body.to)?;
    let allow = match body.how.as_deref() {
        None | Some("pass") => false,
        Some("allow") => true,
        Some(other) => {
            return Err(Error::BadRequest {
                message: format!("{other:?}: grant with `pass` or `allow`"),
            }
            .into());
        }
    };
    with_writer(&state, move |v| async move {
        sdk::grant(&v, id, to, allow).await
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    from: String,
    /// Put them on the deny list too (the CLI's default).
    #[serde(default = "yes")]
    deny: bool,
}

fn yes() -> bool {
    true
}

async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<RevokeBody>,
) -> ApiResult {
    let id = parse_file_id(&id)?;
    let from = parse_address(&body.from)?;
    start_op(
        &state,
        ("revoke", true),
        format!("revoke {from}"),
        id,
        move |user, op| async move {
            op.progress("finding their passes", 0, 0);
            let progress = |done, total| op.progress("finding their passes", done, total);
            sdk::revoke(&user, id, from, body.deny, &progress).await
        },
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WindowBody {
    /// Unix seconds; absent keeps the bound, 0 removes it.
    not_before: Option<u64>,
    not_after: Option<u64>,
}

async fn window(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<WindowBody>,
) -> ApiResult {
    let id = parse_file_id(&id)?;
    with_writer(&state, move |v| async move {
        sdk::set_window(&v, id, body.not_before, body.not_after).await
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    gates: Vec<String>,
}

async fn policy(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<PolicyBody>,
) -> ApiResult {
    let id = parse_file_id(&id)?;
    with_writer(&state, move |v| async move {
        sdk::set_policy(&v, id, &body.gates).await
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustodyBody {
    to: String,
}

async fn custody(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<CustodyBody>,
) -> ApiResult {
    let id = parse_file_id(&id)?;
    let title = format!("move to {}", body.to);
    start_op(
        &state,
        ("custody", true),
        title,
        id,
        move |user, op| async move {
            let progress = |step: &'static str| op.progress(step, 0, 0);
            sdk::move_custody(&user, id, &body.to, &progress).await
        },
    )
}

async fn shred(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_file_id(&id)?;
    let title = "shred the key".to_owned();
    let Json(answer) = start_op(
        &state,
        ("shred", false),
        title,
        id,
        move |user, op| async move {
            op.progress("asking every holder to delete", 0, 0);
            sdk::shred(&user, id).await
        },
    )?;
    Ok(Json(json!({ "op": answer["op"], "note": sdk::SHRED_NOTE })))
}

async fn ops_list(State(state): State<AppState>) -> ApiResult {
    Ok(Json(json!(state.ops().list())))
}

fn op_id(text: &str) -> Result<u64, Error> {
    text.parse().map_err(|_| Error::BadRequest {
        message: format!("{text:?} is not an operation id"),
    })
}

async fn op_one(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(json!(state.ops().get(op_id(&id)?)?.snapshot())))
}

async fn op_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let op = state.ops().get(op_id(&id)?)?;
    Ok(crate::ops::events(&op).into_response())
}

async fn status(State(state): State<AppState>) -> ApiResult {
    with_flows(&state, |v| async move { sdk::status(&v).await }).await
}

async fn ask(State(state): State<AppState>, Json(body): Json<AskRequest>) -> Response {
    let Some(asker) = state.inner.asker.clone() else {
        let body = ErrorBody {
            error: NOT_INSTALLED.to_owned(),
            kind: "rag_not_installed",
        };
        return (StatusCode::NOT_IMPLEMENTED, Json(body)).into_response();
    };
    let user = match state.flow_session() {
        Ok(v) => v,
        Err(e) => return ApiError(e).into_response(),
    };
    match asker.ask(&user, body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => ApiError(Error::BadRequest { message: e.message }).into_response(),
    }
}

/// Removes the private per-operation folder that holds `file`.
pub(crate) fn remove_private_dir_of(file: &std::path::Path) {
    if let Some(dir) = file.parent()
        && let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(target: "zgvault::ui", dir = %dir.display(), error = %e,
            "could not delete a staging folder: delete it yourself");
    }
}
