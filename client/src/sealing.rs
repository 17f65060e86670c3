//! Sealing and opening files on disk: the first and last step of `put` and `get`.
//!
//! Sealing reads the plaintext once: the ciphertext is written to disk and hashed into its
//! 0G root in the same pass (the root is what 0G Storage will name the upload). Both
//! directions write to a temporary file beside the destination and rename it into place
//! only when everything succeeded, so a failure never leaves a partial file behind.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use zgvault_proto::{FileKey, Metadata, OpenReader, SealWriter, Suite};

use crate::error::{Error, io};
use crate::files::{PUBLIC, TempFile};
use crate::zg::{FileRoot, RootHasher, Tee};

/// Bytes read from the plaintext per call.
const READ_BUF: usize = 1 << 20;

/// What [`seal_file`] produced.
#[derive(Debug, Clone)]
pub struct SealedFile {
    /// The 0G identity of the sealed file.
    pub root: FileRoot,
    /// What the sealed header carries (encrypted).
    pub metadata: Metadata,
    pub suite: Suite,
}

/// Seals `input` into `output` under `key`, computing the sealed file's 0G root on the way.
/// `progress(bytes)` is called as plaintext is consumed.
pub fn seal_file(
    input: &Path,
    output: &Path,
    key: &FileKey,
    suite: Suite,
    progress: &dyn Fn(u64),
) -> Result<SealedFile, Error> {
    seal_file_with_mode(input, output, key, suite, PUBLIC, progress)
}

/// [`seal_file`], the output created with `mode`.
pub(crate) fn seal_file_with_mode(
    input: &Path,
    output: &Path,
    key: &FileKey,
    suite: Suite,
    mode: u32,
    progress: &dyn Fn(u64),
) -> Result<SealedFile, Error> {
    let mut src = File::open(input).map_err(|e| io("open", input, e))?;
    let size = src.metadata().map_err(|e| io("read", input, e))?.len();
    if size == 0 {
        return Err(Error::EmptyFile);
    }
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let metadata = Metadata::new(&name, media_type_of(input), size);
    let (tmp, file) = TempFile::create(output, mode)?;
    let sink = Tee::new(BufWriter::new(file), RootHasher::new());
    let mut writer = SealWriter::with_suite(sink, key, suite, &metadata)?;
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("read", input, e)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        writer
            .write_all(chunk)
            .map_err(|e| Error::Seal(zgvault_proto::Error::from_io(e)))?;
        progress(n as u64);
    }
    let (file, hasher) = writer.finish()?.into_inner();
    let file = file
        .into_inner()
        .map_err(|e| io("write", tmp.path(), e.into_error()))?;
    let root = hasher.finish()?;
    tmp.commit(&file)?;
    Ok(SealedFile {
        root,
        metadata,
        suite,
    })
}

/// Opens the sealed file `input` with `key` into `output`; nothing is written at `output`
/// unless every chunk verified.
pub fn open_file(input: &Path, output: &Path, key: &FileKey) -> Result<Metadata, Error> {
    let src = File::open(input).map_err(|e| io("open", input, e))?;
    Ok(zgvault_proto::open_to_path(
        key,
        std::io::BufReader::new(src),
        output,
    )?)
}

/// Reads only the sealed header's metadata (name, media type, size) with `key`.
pub fn sealed_metadata(input: &Path, key: &FileKey) -> Result<Metadata, Error> {
    let src = File::open(input).map_err(|e| io("open", input, e))?;
    Ok(OpenReader::new(src, key)?.metadata().clone())
}

/// A media type from the file name, for the sealed metadata (what `get` restores).
pub fn media_type_of(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "txt" | "log" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "html" | "htm" => "text/html",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_root_is_of_the_ciphertext() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("table.csv");
        fs::write(&plain, b"a,b\n1,2\n").unwrap();
        let key = FileKey::generate().unwrap();
        let sealed = dir.path().join("table.csv.zgv");
        let out = seal_file(&plain, &sealed, &key, Suite::XChaCha20Poly1305, &|_| {}).unwrap();
        assert_eq!(out.metadata.media_type, "text/csv");
        let bytes = fs::read(&sealed).unwrap();
        assert_eq!(
            out.root.root(),
            crate::zg::root_of_bytes(&bytes).unwrap().root()
        );

        let back = dir.path().join("back.csv");
        let meta = open_file(&sealed, &back, &key).unwrap();
        assert_eq!(meta.name, "table.csv");
        assert_eq!(fs::read(&back).unwrap(), b"a,b\n1,2\n");
    }

    #[test]
    fn fail_empty_file_and_no_partial_output() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("empty");
        fs::write(&plain, b"").unwrap();
        let key = FileKey::generate().unwrap();
        let sealed = dir.path().join("out");
        let err = seal_file(&plain, &sealed, &key, Suite::XChaCha20Poly1305, &|_| {});
        assert!(matches!(err, Err(Error::EmptyFile)));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the input remains"
        );
    }
}
