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
    let mut src = File::open(input).map_err(|e| io("open", input, e))?;
    let size = src.metadata().map_err(|e| io("read", input, e))?.len();
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let metadata = Metadata::new(&name, media_type_of(input), size);
    seal_reader_with_mode(
        &mut src, input, metadata, output, key, suite, PUBLIC, progress,
    )
}

/// Seals exactly `metadata.size` bytes of `src` (named `what` in errors) into `output`,
/// created with `mode`, and hashes the sealed bytes on the way: the plaintext is never
/// written anywhere. A source that ends early or runs past the size writes nothing.
#[allow(clippy::too_many_arguments)] // the sealing's inputs, each its own
pub(crate) fn seal_reader_with_mode(
    src: &mut dyn Read,
    what: &Path,
    metadata: Metadata,
    output: &Path,
    key: &FileKey,
    suite: Suite,
    mode: u32,
    progress: &dyn Fn(u64),
) -> Result<SealedFile, Error> {
    let size = metadata.size;
    if size == 0 {
        return Err(Error::EmptyFile);
    }
    let (tmp, file) = TempFile::create(output, mode)?;
    let sink = Tee::new(BufWriter::new(file), RootHasher::new());
    let mut writer = SealWriter::with_suite(sink, key, suite, &metadata)?;
    let mut buf = vec![0u8; READ_BUF];
    let mut got: u64 = 0;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("read", what, e)),
        };
        got += n as u64;
        if got > size {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        writer
            .write_all(chunk)
            .map_err(|e| Error::Seal(zgvault_proto::Error::from_io(e)))?;
        progress(n as u64);
    }
    if got != size {
        return Err(Error::SourceLength {
            path: what.to_owned(),
            expected: size,
            got,
        });
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
    fn a_stream_seals_like_its_file_and_fail_a_stream_of_another_length_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let key = FileKey::generate().unwrap();
        let data = b"name,age\nada,36\n".repeat(1000);
        let meta = |size| Metadata::new("people.csv", "text/csv", size);
        let seal = |src: &[u8], size: u64, out: &Path| {
            seal_reader_with_mode(
                &mut &src[..],
                Path::new("people.csv"),
                meta(size),
                out,
                &key,
                Suite::XChaCha20Poly1305,
                crate::files::PRIVATE,
                &|_| {},
            )
        };
        let out = dir.path().join("ok.zgv");
        let made = seal(&data, data.len() as u64, &out).unwrap();
        let opened = dir.path().join("opened.csv");
        let m = open_file(&out, &opened, &key).unwrap();
        assert_eq!(fs::read(&opened).unwrap(), data);
        assert_eq!((m.name.as_str(), m.size), ("people.csv", data.len() as u64));
        assert_eq!(
            made.root.root(),
            crate::zg::root_of_bytes(&fs::read(&out).unwrap())
                .unwrap()
                .root()
        );

        for (give, announce) in [(data.len() - 1, data.len()), (data.len(), data.len() - 1)] {
            let out = dir.path().join(format!("bad-{give}-{announce}.zgv"));
            let err = seal(&data[..give], announce as u64, &out).unwrap_err();
            assert!(
                matches!(err, Error::SourceLength { expected, got, .. }
                    if expected == announce as u64 && got >= give.min(announce) as u64),
                "{err}"
            );
            assert!(!out.exists());
        }
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no partial output"
        );
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
