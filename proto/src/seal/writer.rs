//! Streaming encryption.

use std::{fmt, io};

use super::{
    CHUNK_SIZE, Metadata, SALT_LEN, SEALED_CHUNK_SIZE, Suite,
    cipher::ChunkAead,
    header::{HEADER_HASH_LEN, SealedHeader, random_salt},
    sealed_len,
};
use crate::{
    error::{Error, Result},
    key::FileKey,
};

/// Encrypts a plaintext stream into a sealed file, written to `W` as it goes.
///
/// The header is written by the constructor; every full 64 KiB chunk is encrypted and written
/// as soon as it is complete, so memory stays flat. Wrap `W` in a hasher to compute the 0G
/// Merkle root while sealing: the bytes written are exactly the sealed file.
///
/// **You must call [`SealWriter::finish`]**: it writes the last chunk. Without it the output
/// is not a valid sealed file (opening it fails with [`Error::Truncated`]). The writer also
/// enforces [`Metadata::size`]: writing more bytes, or finishing with fewer, is an
/// [`Error::SizeMismatch`].
///
/// Errors from `write` are `io::Error`s carrying an [`Error`]; get it back with
/// [`Error::from_io`]. After any error the writer refuses further use.
pub struct SealWriter<W: io::Write> {
    inner: W,
    chunks: ChunkAead,
    header: SealedHeader,
    header_hash: [u8; HEADER_HASH_LEN],
    /// Plaintext of the current chunk; capacity for the tag, so it is never reallocated.
    buf: Vec<u8>,
    declared: u64,
    written: u64,
    index: u64,
    failed: bool,
}

impl<W: io::Write> SealWriter<W> {
    /// Starts a sealed file with the default suite (XChaCha20-Poly1305) and writes its header.
    pub fn new(output: W, key: &FileKey, metadata: &Metadata) -> Result<Self> {
        Self::with_suite(output, key, Suite::default(), metadata)
    }

    /// Starts a sealed file with an explicit suite and writes its header.
    pub fn with_suite(output: W, key: &FileKey, suite: Suite, metadata: &Metadata) -> Result<Self> {
        Self::with_salt(output, key, suite, metadata, &random_salt()?)
    }

    /// Test-vector hook: seals with a caller-chosen salt. Never use a fixed salt for real
    /// data: two files with the same key and salt share keys and nonces.
    #[doc(hidden)]
    pub fn with_fixed_salt_for_tests(
        output: W,
        key: &FileKey,
        suite: Suite,
        metadata: &Metadata,
        salt: &[u8; SALT_LEN],
    ) -> Result<Self> {
        Self::with_salt(output, key, suite, metadata, salt)
    }

    fn with_salt(
        mut output: W,
        key: &FileKey,
        suite: Suite,
        metadata: &Metadata,
        salt: &[u8; SALT_LEN],
    ) -> Result<Self> {
        let (header, verified) = SealedHeader::seal(key, suite, salt, metadata)?;
        output
            .write_all(header.as_bytes())
            .map_err(Error::from_io)?;
        Ok(Self {
            inner: output,
            chunks: verified.chunks,
            header,
            header_hash: verified.hash,
            buf: Vec::with_capacity(SEALED_CHUNK_SIZE),
            declared: metadata.size,
            written: 0,
            index: 0,
            failed: false,
        })
    }

    /// The header already written to the output.
    pub fn header(&self) -> &SealedHeader {
        &self.header
    }

    /// Total length of the sealed file this writer produces ([`sealed_len`] of the declared
    /// size).
    pub fn sealed_len(&self) -> Result<u64> {
        sealed_len(self.declared)
    }

    /// Plaintext bytes accepted so far.
    pub fn plaintext_written(&self) -> u64 {
        self.written
    }

    /// Writes the last chunk, flushes, and returns the output.
    ///
    /// Fails with [`Error::SizeMismatch`] if fewer bytes were written than the metadata
    /// declares; the output is then not a valid sealed file.
    pub fn finish(mut self) -> Result<W> {
        if self.failed {
            return Err(Error::WriterFailed);
        }
        if self.written != self.declared {
            return Err(Error::SizeMismatch {
                declared: self.declared,
                written: self.written,
            });
        }
        self.flush_chunk(true)?;
        self.inner.flush().map_err(Error::from_io)?;
        Ok(self.inner)
    }

    /// Encrypts `buf` in place, appends the tag and writes the chunk.
    fn flush_chunk(&mut self, last: bool) -> Result<()> {
        // Poison first: any early return below leaves a half-written chunk behind.
        self.failed = true;
        let tag = self
            .chunks
            .seal_chunk(self.index, last, &self.header_hash, &mut self.buf)?;
        self.buf.extend_from_slice(&tag);
        self.inner.write_all(&self.buf).map_err(Error::from_io)?;
        self.buf.clear();
        self.index += 1;
        self.failed = false;
        Ok(())
    }

    fn write_inner(&mut self, mut data: &[u8]) -> Result<()> {
        if self.failed {
            return Err(Error::WriterFailed);
        }
        let remaining = self.declared - self.written;
        if data.len() as u64 > remaining {
            self.failed = true;
            return Err(Error::SizeMismatch {
                declared: self.declared,
                written: self.written.saturating_add(data.len() as u64),
            });
        }
        while !data.is_empty() {
            let take = data.len().min(CHUNK_SIZE - self.buf.len());
            let (now, rest) = data.split_at(take);
            self.buf.extend_from_slice(now);
            self.written += take as u64;
            data = rest;
            // A full chunk is only final when no more bytes are declared; the final chunk
            // stays buffered until `finish`, so dropping the writer never yields a valid file.
            if self.buf.len() == CHUNK_SIZE && self.written < self.declared {
                self.flush_chunk(false)?;
            }
        }
        Ok(())
    }
}

impl<W: io::Write> io::Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_inner(data).map_err(Error::into_io)?;
        Ok(data.len())
    }

    /// Flushes the output. Does not write a partial chunk: chunks are always full except the
    /// last, which only [`SealWriter::finish`] writes.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: io::Write> fmt::Debug for SealWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealWriter")
            .field("header", &self.header)
            .field("declared", &self.declared)
            .field("written", &self.written)
            .field("chunk", &self.index)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}
