//! One-call helpers over [`SealWriter`] and [`OpenReader`], and the all-or-nothing
//! `open_to_path`.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use rand_core::{OsRng, RngCore};

use super::{CHUNK_SIZE, Metadata, OpenReader, SealWriter, Suite, sealed_len};
use crate::{
    error::{Error, Result},
    key::FileKey,
};

/// Seals everything `input` yields into `output` and returns `output`.
///
/// `metadata.size` must be the exact number of bytes `input` yields (take it from the file's
/// length); otherwise this fails with [`Error::SizeMismatch`] and the output is invalid.
pub fn seal<R: io::Read, W: io::Write>(
    key: &FileKey,
    suite: Suite,
    metadata: &Metadata,
    mut input: R,
    output: W,
) -> Result<W> {
    let mut writer = SealWriter::with_suite(output, key, suite, metadata)?;
    // One reusable buffer of one chunk: the writer encrypts as soon as a chunk is full.
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(Error::Io { source }),
        };
        io::Write::write_all(&mut writer, buf.get(..n).unwrap_or(&[])).map_err(Error::from_io)?;
    }
    writer.finish()
}

/// Seals an in-memory plaintext.
pub fn seal_bytes(
    key: &FileKey,
    suite: Suite,
    name: &str,
    media_type: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let metadata = Metadata::new(name, media_type, plaintext.len() as u64);
    let capacity = usize::try_from(sealed_len(metadata.size)?).unwrap_or(0);
    let mut writer = SealWriter::with_suite(Vec::with_capacity(capacity), key, suite, &metadata)?;
    io::Write::write_all(&mut writer, plaintext).map_err(Error::from_io)?;
    writer.finish()
}

/// Opens a sealed stream, writing verified plaintext to `output` chunk by chunk, and returns
/// the metadata.
///
/// On error, `output` may already hold the plaintext of the chunks before the failure:
/// discard it. Use [`open_to_path`] for an all-or-nothing file.
pub fn open<R: io::Read, W: io::Write + ?Sized>(
    key: &FileKey,
    input: R,
    output: &mut W,
) -> Result<Metadata> {
    let mut reader = OpenReader::new(input, key)?;
    while let Some(plain) = reader.next_chunk()? {
        output
            .write_all(plain)
            .map_err(|source| Error::Io { source })?;
    }
    output.flush().map_err(|source| Error::Io { source })?;
    Ok(reader.metadata().clone())
}

/// Opens an in-memory sealed file. The output is returned only if the whole file verifies.
pub fn open_bytes(key: &FileKey, sealed: &[u8]) -> Result<(Metadata, Vec<u8>)> {
    let mut reader = OpenReader::new(sealed, key)?;
    // The declared size is authenticated, but never reserve more than the input could hold.
    let capacity = usize::try_from(reader.metadata().size)
        .unwrap_or(0)
        .min(sealed.len());
    let mut plain = Vec::with_capacity(capacity);
    while let Some(chunk) = reader.next_chunk()? {
        plain.extend_from_slice(chunk);
    }
    Ok((reader.metadata().clone(), plain))
}

/// Prefix of the temporary file `open_to_path` writes next to the destination.
pub const PARTIAL_FILE_PREFIX: &str = ".zgvault-partial-";

/// Opens a sealed stream into the file `dest`, all or nothing.
///
/// The plaintext is written to a new temporary file in `dest`'s directory (mode 0600 on
/// Unix), synced, and renamed onto `dest` only after the last chunk has verified. On any
/// failure the temporary file is removed and `dest` is left exactly as it was (absent, or
/// with its old content). An existing `dest` is replaced atomically on success.
pub fn open_to_path<R: io::Read>(key: &FileKey, input: R, dest: &Path) -> Result<Metadata> {
    let file_name = dest.file_name().ok_or_else(|| Error::PathIo {
        op: "write the output file",
        path: dest.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
    })?;
    let dir = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut suffix = [0u8; 8];
    OsRng
        .try_fill_bytes(&mut suffix)
        .map_err(|source| Error::Rng { source })?;
    let mut tmp_name = std::ffi::OsString::from(PARTIAL_FILE_PREFIX);
    tmp_name.push(hex::encode(suffix));
    tmp_name.push("-");
    tmp_name.push(file_name);
    let tmp = dir.join(tmp_name);

    let file = create_private(&tmp)?;
    let result = open_into(key, input, file, &tmp).and_then(|metadata| {
        fs::rename(&tmp, dest).map_err(|source| Error::PathIo {
            op: "move the verified output into place at",
            path: dest.to_path_buf(),
            source,
        })?;
        sync_dir(&dir);
        Ok(metadata)
    });
    if result.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn open_into<R: io::Read>(
    key: &FileKey,
    input: R,
    mut file: fs::File,
    tmp: &Path,
) -> Result<Metadata> {
    let path_err = |op, source| Error::PathIo {
        op,
        path: tmp.to_path_buf(),
        source,
    };
    let mut reader = OpenReader::new(input, key)?;
    while let Some(plain) = reader.next_chunk()? {
        io::Write::write_all(&mut file, plain).map_err(|e| path_err("write", e))?;
    }
    // Durable before the rename makes it visible under the real name.
    file.sync_all().map_err(|e| path_err("sync", e))?;
    Ok(reader.metadata().clone())
}

/// Makes the rename durable. Best effort: the file itself is already synced, and some file
/// systems cannot sync a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn create_private(path: &Path) -> Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|source| Error::PathIo {
        op: "create",
        path: path.to_path_buf(),
        source,
    })
}
