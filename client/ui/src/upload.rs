//! Files in and out of the browser: `POST /api/put` (a file's bytes as the request body)
//! and a `get`'s plaintext back (`GET /api/ops/{id}/file`).
//!
//! What touches the disk. An upload is sealed as it arrives: the request body goes, through
//! a bounded channel, to the SDK's `put_reader`, which writes only the ciphertext (to its
//! `pending/` state); memory stays flat for any size and no plaintext is written anywhere.
//! A download's plaintext goes to a private folder (`<state>/ui-downloads/<op>/`, 0700)
//! until the page has fetched it once.

use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::api::{ApiError, AppState, parse_file_id, remove_private_dir_of};
use crate::error::Error;
use crate::sdk;

/// The largest file accepted from the browser.
pub(crate) const MAX_UPLOAD_BYTES: u64 = 64 << 30;
/// Bytes read per step when sending a decrypted file to the browser.
const DOWNLOAD_CHUNK: usize = 64 * 1024;
/// Where uploads were staged before they were sealed as they arrive; an older version's
/// leftovers there are still purged.
const UPLOADS: &str = "ui-uploads";
const DOWNLOADS: &str = "ui-downloads";

/// Deletes staging folders that runs no longer alive left behind (a crash). Folders are
/// named `<pid>-<op>`, so a second server of the same user keeps its own.
pub(crate) fn purge_leftovers() {
    for kind in [UPLOADS, DOWNLOADS] {
        let Ok(entries) = std::fs::read_dir(sdk::state_dir().join(kind)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let alive = name
                .split_once('-')
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
                .is_some_and(|pid| FsPath::new(&format!("/proc/{pid}")).exists());
            if alive {
                continue;
            }
            let path = entry.path();
            if let Err(e) = std::fs::remove_dir_all(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(target: "zgvault::ui", dir = %path.display(), error = %e,
                    "could not delete leftovers of an earlier run: delete them yourself");
            }
        }
    }
}

/// A fresh private folder `<state>/<kind>/<pid>-<op>`.
fn private_dir(kind: &str, op: u64) -> Result<PathBuf, Error> {
    use std::os::unix::fs::DirBuilderExt;
    let parent = sdk::state_dir().join(kind);
    let dir = parent.join(format!("{}-{op}", std::process::id()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&parent)
        .and_then(|()| std::fs::DirBuilder::new().mode(0o700).create(&dir))
        .map_err(|source| Error::Io {
            action: "create the private folder",
            path: dir.clone(),
            source,
        })?;
    Ok(dir)
}

/// The last component of a browser-given file name, without anything a path could use.
fn safe_name(name: &str) -> Result<String, Error> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim().to_owned();
    if clean.is_empty() || clean == "." || clean == ".." || clean.len() > 255 {
        return Err(Error::BadRequest {
            message: format!("{name:?} is not a usable file name: rename the file"),
        });
    }
    Ok(clean)
}

/// The upload's settings, from the query string.
struct PutQuery {
    name: String,
    size: Option<u64>,
    custody: String,
    gates: Vec<String>,
    not_after: u64,
}

fn put_query(uri: &Uri) -> Result<PutQuery, Error> {
    let bad = |message: String| Error::BadRequest { message };
    let mut q = PutQuery {
        name: String::new(),
        size: None,
        custody: "threshold".to_owned(),
        gates: Vec::new(),
        not_after: 0,
    };
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match &*k {
            "name" => q.name = safe_name(&v)?,
            "size" => q.size = Some(v.parse().map_err(|_| bad(format!("size {v:?}")))?),
            "custody" => q.custody = v.into_owned(),
            "gate" => q.gates.push(v.into_owned()),
            "notAfter" => q.not_after = v.parse().map_err(|_| bad(format!("notAfter {v:?}")))?,
            other => return Err(bad(format!("unknown upload setting {other:?}"))),
        }
    }
    if q.name.is_empty() {
        return Err(bad("the upload has no file name".into()));
    }
    if q.size.is_some_and(|s| s > MAX_UPLOAD_BYTES) {
        return Err(bad(format!(
            "the file is larger than {} GiB, the most this app takes",
            MAX_UPLOAD_BYTES >> 30
        )));
    }
    Ok(q)
}

/// Chunks of the request body queued for the sealing at most (each as the network gave it,
/// typically up to 64 KiB or so): memory stays flat for any size.
const BODY_QUEUE_CHUNKS: usize = 16;

/// `POST /api/put?name=…&size=…&custody=…&gate=…&notAfter=…`: the body is the file, sealed
/// as it arrives (nothing of it is written to disk). Answers with the operation id once
/// the bytes are in; the put goes on in the background.
pub(crate) async fn put(
    State(state): State<AppState>,
    uri: Uri,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let user = state.flow_session()?;
    let q = put_query(&uri)?;
    let size = q.size.ok_or_else(|| Error::BadRequest {
        message: "the upload does not say its size: reload the page and drop the file again".into(),
    })?;
    let op = state.ops().create("put", q.name.clone(), None);
    let id = op.snapshot().id;
    let (tx, rx) = tokio::sync::mpsc::channel(BODY_QUEUE_CHUNKS);
    let turn = state.clone();
    state.ops().run(op, move |op| async move {
        // Puts send transactions: one at a time (see `sdk::Session`). The browser's bytes
        // wait meanwhile, in the browser and the socket, not here.
        op.progress("waiting for your previous upload to finish", 0, 0);
        let _turn = turn.chain_turn().await;
        // The sealing reports each piece it sealed; the page shows the sum.
        let sealed = AtomicU64::new(0);
        let progress = |stage, done, total| {
            let name = sdk::put_stage(stage);
            if name == "sealing" {
                let sum = sealed.fetch_add(done, Ordering::Relaxed) + done;
                op.progress(name, sum, total);
            } else if name == "registering" && done == total && total > 0 {
                op.progress("protecting the key", 0, 1);
            } else {
                op.progress(name, done, total);
            }
        };
        let mut body = BodyReader {
            rx,
            chunk: Bytes::new(),
        };
        let opts = sdk::put_options(&q.gates, &q.custody, q.not_after)?;
        sdk::put_reader(&user, &q.name, size, &mut body, &opts, &progress).await
    });
    // The operation fails if the body breaks off (the reader says why) or is longer or
    // shorter than `size` (the SDK refuses it before anything is paid).
    feed(body, size, tx).await;
    Ok(Json(json!({ "op": id })))
}

/// Passes the request body to the sealing, chunk by chunk, as the sealing takes them.
async fn feed(body: Body, size: u64, tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>) {
    let mut stream = body.into_data_stream();
    let mut got: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let item = chunk.map_err(|e| {
            std::io::Error::other(format!(
                "the upload from the browser stopped ({e}): the page was closed or reloaded \
                 while sending; drop the file again"
            ))
        });
        if let Ok(bytes) = &item {
            got += bytes.len() as u64;
        }
        let broke = item.is_err();
        // A closed channel: the put ended early (refused, or failed); it says why.
        if tx.send(item).await.is_err() || broke || got > size {
            return;
        }
    }
}

/// The request body as the SDK's sealing reads it: blocking reads on the operation's own
/// thread (a blocking-pool thread), fed by [`feed`] through a bounded channel.
struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    chunk: Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            // Not `blocking_recv`: this thread runs the operation inside `block_on`, where
            // tokio refuses to block; a plain executor may wait on the channel here,
            // outside tokio's cooperative budget (which only the runtime refills, so inside
            // one poll of the operation the channel would stop answering after a few
            // hundred chunks).
            match futures::executor::block_on(tokio::task::unconstrained(self.rx.recv())) {
                Some(item) => self.chunk = item?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        let head = self.chunk.split_to(n);
        buf.get_mut(..n)
            .ok_or_else(|| std::io::Error::other("read buffer"))?
            .copy_from_slice(&head);
        Ok(n)
    }
}

/// `POST /api/files/{id}/get`: recovers K, downloads, decrypts into a private folder; the
/// page then fetches `/api/ops/{op}/file`. Before asking anyone for the key, the registry
/// says whether this account may read, and why not (revoked, expired, no pass).
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let file_id = parse_file_id(&id)?;
    let user = state.flow_session()?;
    let op = state.ops().create(
        "get",
        format!("download {file_id}"),
        Some(file_id.to_string()),
    );
    let op_id = op.snapshot().id;
    let dir = private_dir(DOWNLOADS, op_id)?;
    state.ops().run(op, move |op| async move {
        op.progress("checking your access", 0, 0);
        let info = sdk::info(&user, file_id).await?;
        if let Some(refused) = sdk::refusal(&user, file_id, &info) {
            remove_private_dir_of(&dir.join("file"));
            return Err(refused);
        }
        let out = dir.join("file");
        let progress = |stage, done, total| op.progress(sdk::get_stage(stage), done, total);
        match sdk::get(&user, file_id, &out, &progress).await {
            Ok(report) => {
                let name = report["name"].as_str().unwrap_or("download").to_owned();
                *op.output.lock().unwrap_or_else(|p| p.into_inner()) = Some((out, name));
                Ok(report)
            }
            Err(e) => {
                remove_private_dir_of(&out);
                Err(e)
            }
        }
    });
    Ok(Json(json!({ "op": op_id })))
}

/// Deletes a served download's folder when the response ends, complete or not.
struct Served(PathBuf);

impl Drop for Served {
    fn drop(&mut self) {
        remove_private_dir_of(&self.0);
    }
}

/// `GET /api/ops/{id}/file`: a finished `get`'s plaintext, once; then it is deleted here
/// (the browser has its copy).
pub(crate) async fn op_file(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: u64 = id.parse().map_err(|_| Error::BadRequest {
        message: format!("{id:?} is not an operation id"),
    })?;
    let op = state.ops().get(id)?;
    let (path, name) = op
        .output
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or_else(|| Error::BadRequest {
            message: "this download is not ready, or was already saved: download it again".into(),
        })?;
    let served = Served(path.clone());
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|source| Error::Io {
            action: "open",
            path: path.clone(),
            source,
        })?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let stream = futures::stream::unfold(Some((file, served)), |state| async move {
        let (mut file, served) = state?;
        let mut buf = vec![0u8; DOWNLOAD_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(Bytes::from(buf)),
                    Some((file, served)),
                ))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(len) = len {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fail_names_that_are_paths_or_empty_are_refused_and_paths_lose_their_folders() {
        assert_eq!(safe_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(safe_name("C:\\Users\\a\\data.csv").unwrap(), "data.csv");
        for bad in ["", "..", "dir/", " ", "a/.."] {
            assert!(safe_name(bad).is_err(), "{bad:?}");
        }
    }
}
