//! Finding a tool binary: `$ENV` (which, when set, must be right), then the checkout's
//! `tools/bin/<tool>` (the npm-installed wrappers of `scripts/setup`), then `PATH`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Finds a tool binary: `$ENV` (which, when set, must be right), then the project's
/// `tools/bin/<tool>` (installed by `scripts/setup`), then `PATH`.
pub fn find_tool(tool: &'static str, env: &'static str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    find_tool_in(
        tool,
        env,
        std::env::var_os(env).map(PathBuf::from),
        &project_tool_dirs(),
        std::env::split_paths(&path).collect(),
    )
}

fn find_tool_in(
    tool: &'static str,
    env: &'static str,
    explicit: Option<PathBuf>,
    project_dirs: &[PathBuf],
    path_dirs: Vec<PathBuf>,
) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if is_executable(&p) {
            return Ok(p);
        }
        return Err(Error::ToolMissing {
            tool,
            env,
            looked: format!("${env}={} (not an executable file)", p.display()),
        });
    }
    let mut looked = Vec::new();
    for dir in project_dirs {
        let p = dir.join(tool);
        if is_executable(&p) && wrapper_target_exists(&p, tool) {
            return Ok(p);
        }
        looked.push(p.display().to_string());
    }
    for dir in path_dirs {
        let p = dir.join(tool);
        if is_executable(&p) {
            return Ok(p);
        }
    }
    looked.push("$PATH".to_owned());
    Err(Error::ToolMissing {
        tool,
        env,
        looked: looked.join(", "),
    })
}

/// `tools/bin` of this checkout: beside the running binary's workspace, or the crate's.
fn project_tool_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    // Set at compile time: right for tests and for binaries run from the checkout.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(root) = manifest.parent() {
        dirs.push(root.join("tools/bin"));
    }
    if let Ok(cwd) = std::env::current_dir() {
        dirs.push(cwd.join("tools/bin"));
    }
    dirs
}

/// The `tools/bin` wrappers exec the npm-installed binary; make sure it is there so a
/// missing install gives our error rather than the wrapper's exit code.
fn wrapper_target_exists(wrapper: &Path, tool: &str) -> bool {
    let Some(tools) = wrapper.parent().and_then(Path::parent) else {
        return false;
    };
    let Ok(entries) = fs::read_dir(tools.join("node_modules/@foundry-rs")) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| is_executable(&e.path().join("bin").join(tool)))
}

/// Whether `p` is a file someone may execute.
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_missing_tool_says_run_setup() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_tool_in(
            "anvil",
            "ZGVAULT_ANVIL",
            None,
            &[empty.path().join("tools/bin")],
            vec![empty.path().to_owned()],
        )
        .unwrap_err();
        assert!(matches!(err, Error::ToolMissing { .. }));
        assert!(err.to_string().contains("scripts/setup"), "{err}");
    }

    #[test]
    fn fail_wrong_explicit_path_is_not_silently_ignored() {
        let err = find_tool_in(
            "anvil",
            "ZGVAULT_ANVIL",
            Some(PathBuf::from("/nonexistent/anvil")),
            &project_tool_dirs(),
            vec![],
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/anvil"), "{err}");
    }

    #[test]
    fn finds_tool_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("anvil");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = find_tool_in(
            "anvil",
            "ZGVAULT_ANVIL",
            None,
            &[],
            vec![dir.path().to_owned()],
        )
        .unwrap();
        assert_eq!(found, bin);
    }
}
