//! Long operations (put, get, revoke, custody moves, shreds), kept server-side by id so a
//! reloaded page finds them again: each has a latest snapshot (stage, done, total, result
//! or error) that `GET /api/ops` lists and `GET /api/ops/{id}/events` streams (SSE).
//!
//! Each runs on a blocking thread of its own (`spawn_blocking` + `block_on`): the SDK's
//! flows seal and hash on the calling thread, which must not be an async worker.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::error::Error;

/// Finished operations remembered; the oldest finished ones are forgotten beyond this.
pub(crate) const MAX_FINISHED_OPS: usize = 200;
/// SSE comment sent when nothing changed for this long, so proxies and the browser keep
/// the stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// An operation as the page sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Snapshot {
    pub(crate) id: u64,
    /// `put`, `get`, `revoke`, `custody`, `shred`.
    pub(crate) kind: &'static str,
    /// What it is about: a file name or id.
    pub(crate) title: String,
    pub(crate) file_id: Option<String>,
    /// `running`, `done` or `failed`.
    pub(crate) state: &'static str,
    /// The current step in words (`sealing`, `uploading to 0G`, …).
    pub(crate) stage: String,
    pub(crate) done: u64,
    pub(crate) total: u64,
    /// The flow's receipt when done.
    pub(crate) result: Option<Value>,
    /// What went wrong, when failed.
    pub(crate) error: Option<crate::api::ErrorBody>,
    pub(crate) started: u64,
}

/// One operation: its latest snapshot and, for downloads, the file it produced.
#[derive(Debug)]
pub(crate) struct Op {
    tx: watch::Sender<Snapshot>,
    /// A `get`'s plaintext, until the page fetched it.
    pub(crate) output: Mutex<Option<(PathBuf, String)>>,
}

impl Op {
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.tx.borrow().clone()
    }

    /// Reports progress; cheap enough to call per segment (the page sees the latest).
    pub(crate) fn progress(&self, stage: &str, done: u64, total: u64) {
        self.tx.send_modify(|s| {
            if s.stage != stage {
                s.stage = stage.to_owned();
            }
            s.done = done;
            s.total = total;
        });
    }

    fn finish(&self, outcome: Result<Value, Error>) {
        self.tx.send_modify(|s| match outcome {
            Ok(v) => {
                s.state = "done";
                s.result = Some(v);
            }
            Err(e) => {
                s.state = "failed";
                s.error = Some(crate::api::ErrorBody::of(&e));
            }
        });
    }

    pub(crate) fn finished(&self) -> bool {
        self.tx.borrow().state != "running"
    }
}

/// Every operation of this run.
#[derive(Debug, Default)]
pub(crate) struct Ops {
    next: AtomicU64,
    map: Mutex<BTreeMap<u64, Arc<Op>>>,
}

impl Ops {
    /// A new running operation (not started: see [`Ops::run`]).
    pub(crate) fn create(
        &self,
        kind: &'static str,
        title: String,
        file_id: Option<String>,
    ) -> Arc<Op> {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, _) = watch::channel(Snapshot {
            id,
            kind,
            title,
            file_id,
            state: "running",
            stage: "starting".to_owned(),
            done: 0,
            total: 0,
            result: None,
            error: None,
            started: now_secs(),
        });
        let op = Arc::new(Op {
            tx,
            output: Mutex::new(None),
        });
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // Forget the oldest finished ones beyond the cap; running ones always stay.
        let finished: Vec<u64> = map
            .iter()
            .filter(|(_, o)| o.finished())
            .map(|(id, _)| *id)
            .collect();
        for old in finished
            .iter()
            .take(finished.len().saturating_sub(MAX_FINISHED_OPS))
        {
            if let Some(o) = map.remove(old) {
                remove_output(&o);
            }
        }
        map.insert(id, op.clone());
        op
    }

    /// Runs `work` for `op` on a blocking thread; its outcome becomes the final snapshot.
    pub(crate) fn run<F, Fut>(&self, op: Arc<Op>, work: F)
    where
        F: FnOnce(Arc<Op>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Value, Error>>,
    {
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            // A panic in a flow must not leave the operation "running" forever.
            let run = std::panic::AssertUnwindSafe(|| handle.block_on(work(op.clone())));
            let outcome = std::panic::catch_unwind(run).unwrap_or_else(|_| {
                Err(Error::Task {
                    message: "the operation stopped unexpectedly (a bug: please report it)".into(),
                })
            });
            op.finish(outcome);
        });
    }

    pub(crate) fn get(&self, id: u64) -> Result<Arc<Op>, Error> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
            .ok_or(Error::UnknownOperation { id })
    }

    pub(crate) fn list(&self) -> Vec<Snapshot> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|o| o.snapshot())
            .collect()
    }

    /// Deletes every download not yet fetched (at shutdown).
    pub(crate) fn remove_outputs(&self) {
        for op in self.map.lock().unwrap_or_else(|p| p.into_inner()).values() {
            remove_output(op);
        }
    }
}

fn remove_output(op: &Op) {
    if let Some((path, _)) = op.output.lock().unwrap_or_else(|p| p.into_inner()).take() {
        crate::api::remove_private_dir_of(&path);
    }
}

/// The operation's snapshots as server-sent events: the current one at once, then each
/// change (the latest when several came at once), ending after the final one.
pub(crate) fn events(op: &Op) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let rx = op.tx.subscribe();
    let stream = futures::stream::unfold((rx, true, false), |(mut rx, first, ended)| async move {
        if ended {
            return None;
        }
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let snapshot = rx.borrow_and_update().clone();
        let last = snapshot.state != "running";
        let event = Event::default()
            .event("op")
            .json_data(&snapshot)
            .unwrap_or_else(|_| Event::default().event("op"));
        Some((Ok(event), (rx, false, last)))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
