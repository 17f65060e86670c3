//! Streaming decryption.

use std::{fmt, io};

use super::{
    HEADER_LEN, Metadata, SEALED_CHUNK_SIZE, Suite, TAG_LEN, chunk_count, chunk_plain_len,
    cipher::ChunkAead,
    header::{HEADER_HASH_LEN, SealedHeader},
    sealed_len,
};
use crate::{
    error::{Error, Result},
    key::FileKey,
};

/// Decrypts a sealed file from `R`, verifying each chunk before releasing its plaintext.
///
/// The constructor reads and authenticates the header, so a wrong key or a foreign file fails
/// before any plaintext exists. Each chunk is then read, authenticated and only then handed
/// out; truncation, appended bytes, reordered or foreign chunks and bit flips all end the
/// stream with a specific [`Error`].
///
/// Streaming means earlier chunks are released before later ones are checked: the plaintext
/// is only known complete and authentic once `read` returns `Ok(0)` (or
/// [`OpenReader::next_chunk`] returns `Ok(None)`). On any error, discard everything read; to
/// get an all-or-nothing file on disk use [`crate::seal::open_to_path`].
///
/// Errors from `read` are `io::Error`s carrying an [`Error`]; get it back with
/// [`Error::from_io`]. After an error every further read fails with [`Error::ReaderFailed`].
pub struct OpenReader<R: io::Read> {
    inner: R,
    header: SealedHeader,
    metadata: Metadata,
    chunks: ChunkAead,
    header_hash: [u8; HEADER_HASH_LEN],
    /// Ciphertext of the current chunk, decrypted in place; allocated once.
    buf: Vec<u8>,
    /// Unread plaintext is `buf[start..end]`.
    start: usize,
    end: usize,
    index: u64,
    chunk_count: u64,
    /// Sealed bytes consumed so far, header included.
    consumed: u64,
    expected_len: u64,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Reading,
    Done,
    Failed,
}

impl<R: io::Read> OpenReader<R> {
    /// Reads and authenticates the header under `key`.
    pub fn new(mut input: R, key: &FileKey) -> Result<Self> {
        let mut raw = [0u8; HEADER_LEN];
        let got = read_full(&mut input, &mut raw)?;
        let header = SealedHeader::decode(raw.get(..got).unwrap_or(&[]))?;
        let verified = header.verify(key)?;
        let size = verified.metadata.size;
        Ok(Self {
            inner: input,
            header,
            chunks: verified.chunks,
            header_hash: verified.hash,
            buf: vec![0; SEALED_CHUNK_SIZE],
            start: 0,
            end: 0,
            index: 0,
            chunk_count: chunk_count(size)?,
            consumed: HEADER_LEN as u64,
            expected_len: sealed_len(size)?,
            metadata: verified.metadata,
            state: State::Reading,
        })
    }

    /// The authenticated metadata (name, media type, size).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The authenticated header.
    pub fn header(&self) -> &SealedHeader {
        &self.header
    }

    /// The cipher suite of this file.
    pub fn suite(&self) -> Suite {
        self.header.suite()
    }

    /// Exact length of the sealed input implied by the header.
    pub fn sealed_len(&self) -> u64 {
        self.expected_len
    }

    /// Gives the input back (for example to inspect what follows, after an error).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Returns the next run of verified plaintext (the rest of the current chunk), or `None`
    /// once the whole file has been verified. Avoids the copy that `read` makes.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>> {
        self.next_chunk_upto(usize::MAX)
    }

    /// Reads, checks and decrypts the next chunk, or marks the stream done.
    fn advance(&mut self) -> Result<()> {
        let result = self.advance_inner();
        if result.is_err() {
            self.state = State::Failed;
            self.start = 0;
            self.end = 0;
        }
        result
    }

    fn advance_inner(&mut self) -> Result<()> {
        if self.index >= self.chunk_count {
            self.state = State::Done;
            return Ok(());
        }
        let index = self.index;
        let last = index + 1 == self.chunk_count;
        let plain_len = chunk_plain_len(self.metadata.size, index);
        let sealed = self
            .buf
            .get_mut(..plain_len + TAG_LEN)
            .ok_or(Error::Internal {
                what: "chunk buffer too small",
            })?;
        let got = read_full(&mut self.inner, sealed)?;
        if got < sealed.len() {
            return Err(Error::Truncated {
                expected_len: self.expected_len,
                got_len: self.consumed + got as u64,
                chunk: index,
            });
        }
        self.consumed += got as u64;
        if last {
            // Check for appended bytes before releasing the final plaintext, so a caller never
            // sees a "complete" output from a file that is longer than it should be.
            let mut probe = [0u8; 1];
            if read_full(&mut self.inner, &mut probe)? != 0 {
                return Err(Error::TrailingData {
                    expected_len: self.expected_len,
                });
            }
        }
        let (body, tag) = sealed.split_at_mut(plain_len);
        self.chunks
            .open_chunk(index, last, &self.header_hash, body, tag)?;
        self.start = 0;
        self.end = plain_len;
        self.index += 1;
        Ok(())
    }
}

impl<R: io::Read> io::Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let Some(chunk) = self.next_chunk_upto(out.len()).map_err(Error::into_io)? else {
            return Ok(0);
        };
        let n = chunk.len();
        if let Some(dst) = out.get_mut(..n) {
            dst.copy_from_slice(chunk);
        }
        Ok(n)
    }
}

impl<R: io::Read> OpenReader<R> {
    /// Like `next_chunk` but hands out at most `max` bytes.
    fn next_chunk_upto(&mut self, max: usize) -> Result<Option<&[u8]>> {
        loop {
            if self.start < self.end {
                let start = self.start;
                let end = self.end.min(start.saturating_add(max));
                self.start = end;
                return Ok(Some(self.buf.get(start..end).unwrap_or(&[])));
            }
            match self.state {
                State::Done => return Ok(None),
                State::Failed => return Err(Error::ReaderFailed),
                State::Reading => self.advance()?,
            }
        }
    }
}

impl<R: io::Read> fmt::Debug for OpenReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenReader")
            .field("header", &self.header)
            .field("metadata", &self.metadata)
            .field("chunk", &self.index)
            .field("chunk_count", &self.chunk_count)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_full<R: io::Read + ?Sized>(input: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n.min(rest.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_io(e)),
        }
    }
    Ok(filled)
}
