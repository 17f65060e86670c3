//! Streaming file root: feed bytes in any pieces, get the 0G root at the end.
//!
//! Memory stays flat: one segment being filled, a fixed pool of segment buffers in
//! flight, and 32 bytes per finished segment. Full segments are hashed on worker threads
//! so that the caller's thread (reading, or encrypting in `put`) and the hashing run on
//! different cores; segments are independent, so several workers also scale the root alone.

use std::{
    io,
    sync::{
        Arc, Mutex,
        mpsc::{Receiver, SyncSender, TryRecvError, sync_channel},
    },
    thread::JoinHandle,
};

use alloy::primitives::B256;

use super::{
    hash::{SegmentHash, hash_segment},
    layout::{FileLayout, SEGMENT_CHUNKS, SEGMENT_SIZE},
    root::FileRoot,
};
use crate::error::Error;

/// Most worker threads a hasher starts by default: keccak is the bottleneck and more
/// threads than cores only add switching.
pub const MAX_DEFAULT_HASH_THREADS: usize = 4;
/// Segment buffers per worker in flight (256 KiB each). The OS runs the workers in bursts,
/// and spare buffers let the sealing thread keep going meanwhile: seal + root on 2 cores
/// measured 470, 529 and 552 MiB/s with 2, 4 and 8 (2 MiB per worker, still flat).
const BUFFERS_PER_WORKER: usize = 8;

/// Computes a [`FileRoot`] from a stream of bytes: one 0G file, any size.
///
/// Use it as a [`std::io::Write`] sink (for example behind [`super::Tee`] so a file is
/// written and hashed in one pass) or call [`RootHasher::update`]; then
/// [`RootHasher::finish`]. For data that 0G would split into fragments use
/// [`super::FragmentHasher`].
pub struct RootHasher {
    /// The segment being filled (capacity `SEGMENT_SIZE`).
    buf: Vec<u8>,
    size: u64,
    /// Full segments handed out so far (their roots go to `segment_roots[index]`).
    dispatched: u64,
    segment_roots: Vec<B256>,
    threads: usize,
    pool: Option<Pool>,
    poisoned: bool,
}

impl std::fmt::Debug for RootHasher {
    // Not derived: that would print the 256 KiB segment buffer.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootHasher")
            .field("size", &self.size)
            .field("segments_dispatched", &self.dispatched)
            .field("threads", &self.threads)
            .field("pool", &self.pool)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl Default for RootHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl RootHasher {
    /// A hasher using up to [`MAX_DEFAULT_HASH_THREADS`] workers, one per available core.
    /// Workers start only once a first full segment (256 KiB) arrives.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(cores.min(MAX_DEFAULT_HASH_THREADS))
    }

    /// A hasher with `threads` workers; `0` hashes on the caller's thread.
    pub fn with_threads(threads: usize) -> Self {
        Self {
            buf: Vec::with_capacity(SEGMENT_SIZE),
            size: 0,
            dispatched: 0,
            segment_roots: Vec::new(),
            threads,
            pool: None,
            poisoned: false,
        }
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Feed more bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::HasherPoisoned);
        }
        while !data.is_empty() {
            if self.buf.is_empty() && self.threads == 0 && data.len() >= SEGMENT_SIZE {
                // Inline mode: hash whole segments straight from the caller's slice.
                let (segment, rest) = data.split_at(SEGMENT_SIZE);
                self.segment_roots
                    .push(hash_segment(segment, SEGMENT_CHUNKS).root);
                self.dispatched += 1;
                self.size += SEGMENT_SIZE as u64;
                data = rest;
                continue;
            }
            let take = (SEGMENT_SIZE - self.buf.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buf.extend_from_slice(head);
            self.size += take as u64;
            data = rest;
            if self.buf.len() == SEGMENT_SIZE
                && let Err(e) = self.dispatch()
            {
                self.poisoned = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Hash a full segment: inline, or on a worker.
    fn dispatch(&mut self) -> Result<(), Error> {
        let index = self.dispatched;
        self.dispatched += 1;
        if self.threads == 0 {
            self.segment_roots
                .push(hash_segment(&self.buf, SEGMENT_CHUNKS).root);
            self.buf.clear();
            return Ok(());
        }
        let pool = self.pool.get_or_insert_with(|| Pool::start(self.threads));
        let fresh = pool.take_buffer(&mut self.segment_roots)?;
        let full = std::mem::replace(&mut self.buf, fresh);
        pool.submit(Job { index, data: full })
    }

    /// Finish: hash the tail and the flow padding, and assemble the root.
    ///
    /// Fails with [`Error::EmptyFile`] if no byte was fed: 0G cannot store an empty file.
    pub fn finish(mut self) -> Result<FileRoot, Error> {
        if self.poisoned {
            return Err(Error::HasherPoisoned);
        }
        if let Some(pool) = self.pool.take() {
            pool.finish(&mut self.segment_roots)?;
        }
        let layout = FileLayout::new(self.size)?;
        let segments = layout.segments_in_tree();
        // The tail (< one segment of real bytes) and any all-padding segments after it.
        let mut last: Option<SegmentHash> = None;
        for index in self.dispatched..segments {
            let data: &[u8] = if index == self.dispatched {
                &self.buf
            } else {
                &[]
            };
            let chunks = layout.segment_chunks(index)? as usize;
            let segment = hash_segment(data, chunks);
            put_root(&mut self.segment_roots, index, segment.root);
            last = Some(segment);
        }
        if self.segment_roots.len() as u64 != segments {
            return Err(Error::Internal {
                what: "segment count does not match the layout",
            });
        }
        // When every segment was full and hashed by a worker, no node lies below height 10.
        let last = last.unwrap_or(SegmentHash {
            root: B256::ZERO,
            pieces: Vec::new(),
        });
        FileRoot::assemble(layout, std::mem::take(&mut self.segment_roots), &last)
    }
}

impl io::Write for RootHasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Store a segment root at its index; workers may finish out of order.
fn put_root(roots: &mut Vec<B256>, index: u64, root: B256) {
    let Ok(index) = usize::try_from(index) else {
        return;
    };
    if roots.len() <= index {
        roots.resize(index + 1, B256::ZERO);
    }
    roots[index] = root;
}

struct Job {
    index: u64,
    data: Vec<u8>,
}

struct Done {
    index: u64,
    root: B256,
    data: Vec<u8>,
}

/// Worker threads and the buffers they share with the hasher.
///
/// A fixed number of buffers circulates: the hasher fills one, sends it as a job, and
/// takes a free or returned one. That count bounds memory and both channels, and since
/// the result channel holds every buffer, workers never block on it.
struct Pool {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    free: Vec<Vec<u8>>,
    /// Buffers allocated so far, at most `capacity`.
    allocated: usize,
    /// Buffers currently out with workers.
    in_flight: usize,
    capacity: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers.len())
            .field("in_flight", &self.in_flight)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Pool {
    fn start(threads: usize) -> Self {
        let capacity = threads * BUFFERS_PER_WORKER;
        let (jobs_tx, jobs_rx) = sync_channel::<Job>(capacity);
        let (done_tx, done_rx) = sync_channel::<Done>(capacity);
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let workers = (0..threads)
            .filter_map(|i| {
                let jobs = Arc::clone(&jobs_rx);
                let done = done_tx.clone();
                std::thread::Builder::new()
                    .name(format!("zg-hash-{i}"))
                    .spawn(move || worker(&jobs, &done))
                    .ok()
            })
            .collect();
        Self {
            jobs: Some(jobs_tx),
            done: done_rx,
            workers,
            free: Vec::new(),
            allocated: 0,
            in_flight: 0,
            capacity,
        }
    }

    /// An empty segment buffer: a free one, a new one while under capacity, or the next
    /// one a worker returns (recording its root).
    fn take_buffer(&mut self, roots: &mut Vec<B256>) -> Result<Vec<u8>, Error> {
        loop {
            match self.done.try_recv() {
                Ok(done) => self.record(done, roots),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(Error::HasherWorker),
            }
        }
        if let Some(buf) = self.free.pop() {
            return Ok(buf);
        }
        if self.allocated < self.capacity {
            self.allocated += 1;
            return Ok(Vec::with_capacity(SEGMENT_SIZE));
        }
        let done = self.done.recv().map_err(|_| Error::HasherWorker)?;
        self.record(done, roots);
        self.free.pop().ok_or(Error::HasherWorker)
    }

    fn record(&mut self, done: Done, roots: &mut Vec<B256>) {
        put_root(roots, done.index, done.root);
        let mut data = done.data;
        data.clear();
        self.free.push(data);
        self.in_flight -= 1;
    }

    fn submit(&mut self, job: Job) -> Result<(), Error> {
        let jobs = self.jobs.as_ref().ok_or(Error::HasherWorker)?;
        jobs.send(job).map_err(|_| Error::HasherWorker)?;
        self.in_flight += 1;
        Ok(())
    }

    /// Collect every outstanding root and stop the workers.
    fn finish(mut self, roots: &mut Vec<B256>) -> Result<(), Error> {
        while self.in_flight > 0 {
            let done = self.done.recv().map_err(|_| Error::HasherWorker)?;
            self.record(done, roots);
        }
        self.jobs = None;
        let mut result = Ok(());
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                result = Err(Error::HasherWorker);
            }
        }
        result
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the job channel ends the workers; joining keeps no thread behind.
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn worker(jobs: &Mutex<Receiver<Job>>, done: &SyncSender<Done>) {
    loop {
        // Hold the lock only to take a job, never while hashing.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(Job { index, data }) = job else { return };
        let root = hash_segment(&data, SEGMENT_CHUNKS).root;
        if done.send(Done { index, root, data }).is_err() {
            return;
        }
    }
}
