//! Files larger than the fragment size: one 0G file (root, submission, tx) per fragment.

use std::{
    fs::File,
    io::{self, Read},
    path::Path,
};

use super::{
    hasher::RootHasher,
    layout::{DEFAULT_FRAGMENT_SIZE, Fragment, normalize_fragment_size},
    root::FileRoot,
};
use crate::error::Error;

/// Read size when hashing a file from disk.
const READ_BUF_SIZE: usize = 1 << 20;

/// One fragment and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentRoot {
    /// Where the fragment lies in the whole file.
    pub fragment: Fragment,
    /// Its root and submission.
    pub root: FileRoot,
}

/// Streams a file of any size and returns a root per fragment, split the way the Go and TS
/// clients split uploads ([`super::plan_fragments`]). Memory stays that of one
/// [`RootHasher`].
#[derive(Debug)]
pub struct FragmentHasher {
    fragment_size: u64,
    threads: Option<usize>,
    current: RootHasher,
    offset: u64,
    done: Vec<FragmentRoot>,
}

impl Default for FragmentHasher {
    fn default() -> Self {
        Self::new(DEFAULT_FRAGMENT_SIZE)
    }
}

impl FragmentHasher {
    /// Split at `fragment_size` (normalised: at least 256, rounded up to a power of two).
    pub fn new(fragment_size: u64) -> Self {
        Self::build(fragment_size, None)
    }

    /// As [`FragmentHasher::new`], with `threads` hashing workers (0: the caller's thread).
    pub fn with_threads(fragment_size: u64, threads: usize) -> Self {
        Self::build(fragment_size, Some(threads))
    }

    fn build(fragment_size: u64, threads: Option<usize>) -> Self {
        Self {
            fragment_size: normalize_fragment_size(fragment_size),
            threads,
            current: new_hasher(threads),
            offset: 0,
            done: Vec::new(),
        }
    }

    /// The normalised fragment size in use.
    pub fn fragment_size(&self) -> u64 {
        self.fragment_size
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.offset + self.current.size()
    }

    /// Feed more bytes.
    pub fn update(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            let room = self.fragment_size - self.current.size();
            let take = usize::try_from(room).unwrap_or(usize::MAX).min(data.len());
            let (head, rest) = data.split_at(take);
            self.current.update(head)?;
            data = rest;
            if self.current.size() == self.fragment_size {
                self.close_fragment()?;
            }
        }
        Ok(())
    }

    fn close_fragment(&mut self) -> Result<(), Error> {
        let hasher = std::mem::replace(&mut self.current, new_hasher(self.threads));
        let root = hasher.finish()?;
        let fragment = Fragment {
            index: self.done.len() as u64,
            offset: self.offset,
            len: root.size(),
        };
        self.offset += root.size();
        self.done.push(FragmentRoot { fragment, root });
        Ok(())
    }

    /// The roots of all fragments, in order. [`Error::EmptyFile`] if nothing was fed.
    pub fn finish(mut self) -> Result<Vec<FragmentRoot>, Error> {
        if self.current.size() > 0 || self.done.is_empty() {
            self.close_fragment()?;
        }
        Ok(self.done)
    }
}

fn new_hasher(threads: Option<usize>) -> RootHasher {
    threads.map_or_else(RootHasher::new, RootHasher::with_threads)
}

impl io::Write for FragmentHasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hash the file at `path` into per-fragment roots, reading it once. `on_progress` gets the
/// number of bytes read after each read (for a progress bar).
pub fn hash_file(
    path: &Path,
    fragment_size: u64,
    mut on_progress: impl FnMut(u64),
) -> Result<Vec<FragmentRoot>, Error> {
    let io_err = |action, source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(|e| io_err("open", e))?;
    let mut hasher = FragmentHasher::new(fragment_size);
    let mut buf = vec![0u8; READ_BUF_SIZE];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("read", e)),
        };
        hasher.update(buf.get(..n).unwrap_or(&[]))?;
        on_progress(n as u64);
    }
    hasher.finish()
}
