//! Writing files so that their destination never holds half of one: every output (a sealed
//! or opened file, a download, a state or config file) is written beside its destination
//! under a hidden temporary name and renamed into place only once complete and on disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, io};

/// The mode of files only their owner may read (state, config, keys).
pub(crate) const PRIVATE: u32 = 0o600;
/// The mode of ordinary outputs, before the umask.
pub(crate) const PUBLIC: u32 = 0o666;

/// A file being written for `dest` at [`temp_path`], moved into place by
/// [`TempFile::commit`] and removed if dropped before that.
#[derive(Debug)]
pub(crate) struct TempFile {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl TempFile {
    /// Creates the temporary file of `dest` with `mode`. A leftover one (a crash, or planted
    /// by someone who can write the folder) is never reused: it may have other permissions,
    /// another owner, or be a link. It is removed, and the new one is created only if nothing
    /// took its place meanwhile.
    pub(crate) fn create(dest: &Path, mode: u32) -> Result<(TempFile, File), Error> {
        let tmp = temp_path(dest)?;
        remove_if_present(&tmp).map_err(|e| io("remove the leftover", &tmp, e))?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| io("create", &tmp, e))?;
        let temp = TempFile {
            tmp,
            dest: dest.to_owned(),
            committed: false,
        };
        Ok((temp, file))
    }

    /// Where the bytes are being written.
    pub(crate) fn path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes `file` (this temporary file) to disk and renames it into place.
    pub(crate) fn commit(mut self, file: &File) -> Result<(), Error> {
        file.sync_all().map_err(|e| io("write", &self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| io("rename into", &self.dest, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The temporary name of `dest`: `.NAME.zgvault-partial` beside it.
pub(crate) fn temp_path(dest: &Path) -> Result<PathBuf, Error> {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io("write", dest, std::io::ErrorKind::InvalidInput.into()))?;
    Ok(dest.with_file_name(format!(".{name}.zgvault-partial")))
}

/// Writes `bytes` to `path` with mode 0600 (created or replaced), creating its folder
/// (0700) if needed.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let (temp, mut file) = TempFile::create(path, PRIVATE)?;
    file.write_all(bytes)
        .map_err(|e| io("write", temp.path(), e))?;
    temp.commit(&file)
}

/// The text of `path`; `Ok(None)` when there is no such file. `action` names the read in
/// the error ("read the config file").
pub(crate) fn read_if_present(path: &Path, action: &'static str) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(action, path, e)),
    }
}

/// Creates `dir` (and parents) with mode 0700 for new folders.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io("create the folder", dir, e))
}

/// Deletes `path` if it exists. For files that hold K (or its sealed copy), where a failed
/// delete must be reported, never ignored.
pub(crate) fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A file that holds K is deleted or the failure is reported; a missing one is fine.
    #[test]
    fn remove_if_present_reports_a_failed_delete() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        std::fs::write(&file, b"k").unwrap();
        remove_if_present(&file).unwrap();
        assert!(!file.exists());
        remove_if_present(&file).unwrap();
        // A path that cannot be removed as a file (here a directory: root may delete
        // anything it owns, so permissions would not make this fail).
        let stuck = dir.path().join("stuck");
        std::fs::create_dir(&stuck).unwrap();
        assert!(remove_if_present(&stuck).is_err());
    }

    #[test]
    fn fail_a_leftover_temp_file_with_other_permissions_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let tmp = temp_path(&path).unwrap();
        std::fs::write(&tmp, b"planted").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_private(&path, b"secret").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!tmp.exists());
        // A link planted as the temp file is removed, not followed.
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, &tmp).unwrap();
        write_private(&path, b"again").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert_eq!(std::fs::read(&path).unwrap(), b"again");
    }

    #[test]
    fn fail_an_uncommitted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let (temp, mut file) = TempFile::create(&path, PUBLIC).unwrap();
        file.write_all(b"half").unwrap();
        let tmp = temp.path().to_owned();
        drop(temp);
        assert!(!tmp.exists() && !path.exists());
    }
}
