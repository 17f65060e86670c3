//! Starting, finding and stopping the devnet's child processes.
//!
//! Processes are started either *owned* (killed when the handle drops: tests and library
//! use) or *detached* (their own process group, surviving the CLI that started them; `down`
//! stops them later by pid).

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use zgvault_devsupport::is_executable;

use crate::error::{Error, Result};

/// Finds a tool binary: `$ENV` (which, when set, must be right), then the checkout's
/// `tools/bin/<tool>`, then `PATH` (`zgvault_devsupport::find_tool`).
pub fn find_tool(tool: &'static str, env: &'static str) -> Result<PathBuf> {
    Ok(zgvault_devsupport::find_tool(tool, env)?)
}

/// How long a child may take to print that it is listening.
pub(crate) use zgvault_devsupport::READY_TIMEOUT;
/// How long `stop` waits after SIGTERM before it sends SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often readiness and exit are polled.
const POLL: Duration = Duration::from_millis(25);
/// How much of a log is quoted in an error.
const LOG_TAIL_BYTES: u64 = 2048;

/// Finds one of this workspace's own binaries: `$ENV`, then beside the running executable
/// (or its parent, for test binaries in `target/*/deps`), then `PATH`.
pub(crate) fn find_workspace_binary(
    tool: &'static str,
    env: &'static str,
    package: &'static str,
) -> Result<PathBuf> {
    if std::env::var_os(env).is_none()
        && let Ok(exe) = std::env::current_exe()
    {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join(tool);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    find_tool(tool, env).map_err(|_| {
        Error::from(zgvault_devsupport::Error::ToolMissing {
            tool,
            env,
            looked: format!(
                "beside this program and on $PATH; build it with `cargo build -p {package}`"
            ),
        })
    })
}

/// A child process started for the devnet, with its output going to a log file.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) tool: &'static str,
    pub(crate) log: PathBuf,
    child: Option<Child>,
    pid: u32,
}

impl Spawned {
    /// Starts `program args…` with stdout and stderr appended to `log`.
    pub(crate) fn start(
        tool: &'static str,
        program: &Path,
        args: &[String],
        log: &Path,
        detached: bool,
    ) -> Result<Spawned> {
        Self::start_with_env(tool, program, args, &[], log, detached)
    }

    /// [`Spawned::start`] with extra environment variables for this child only.
    pub(crate) fn start_with_env(
        tool: &'static str,
        program: &Path,
        args: &[String],
        envs: &[(&str, &std::ffi::OsStr)],
        log: &Path,
        detached: bool,
    ) -> Result<Spawned> {
        let out = File::create(log).map_err(|e| Error::io(log, e))?;
        let err = out.try_clone().map_err(|e| Error::io(log, e))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if detached {
            use std::os::unix::process::CommandExt;
            // Own process group: a Ctrl-C in the terminal that ran `up` does not reach it.
            cmd.process_group(0);
        }
        let child = cmd
            .spawn()
            .map_err(|source| zgvault_devsupport::Error::Spawn {
                tool,
                path: program.to_owned(),
                source,
            })?;
        Ok(Spawned {
            tool,
            log: log.to_owned(),
            pid: child.id(),
            child: Some(child),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until the log contains `marker` and returns the rest of that line.
    /// Fails early, quoting the log, if the process exits first.
    pub(crate) fn wait_for_line(&mut self, marker: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = fs::read_to_string(&self.log).map_err(|e| Error::io(&self.log, e))?;
            if let Some(rest) = text
                .lines()
                .find_map(|l| l.split_once(marker).map(|(_, r)| r))
            {
                return Ok(rest.trim().to_owned());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let tail = log_tail(&self.log);
                self.child = None;
                return Err(Error::ExitedEarly {
                    tool: self.tool,
                    status: status.to_string(),
                    log: self.log.clone(),
                    tail,
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    tool: self.tool,
                    secs: timeout.as_secs(),
                    log: self.log.clone(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Gives up ownership: the process keeps running after this handle is gone.
    pub(crate) fn release(mut self) -> u32 {
        self.child = None;
        self.pid
    }

    /// Kills the process at once (SIGKILL): a crash, for fault tests.
    pub(crate) fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process now (SIGTERM, then SIGKILL after [`STOP_GRACE`]).
    pub(crate) fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = terminate(self.pid, self.tool);
            let _ = child.wait();
        }
    }
}

/// A handle that still owns its process stops it when dropped, so a devnet that fails
/// half-way through `up` leaves nothing behind; [`Spawned::release`] opts out.
impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// The last couple of KiB of a log, for error messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let Ok(mut f) = File::open(log) else {
        return String::from("(no log)");
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_owned()
}

/// True when `pid` is a live process whose command line mentions `tool`: a pid from an
/// old manifest may have been reused by something else, which we must never signal.
pub(crate) fn is_alive(pid: u32, tool: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Field 3 of /proc/pid/stat is the state; Z is a zombie (exited, not yet reaped).
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    !zombie
        && cmdline
            .split(|b| *b == 0)
            .next()
            .is_some_and(|argv0| String::from_utf8_lossy(argv0).contains(tool))
}

/// Sends SIGTERM and waits up to [`STOP_GRACE`], then SIGKILL. Returns whether the process
/// was ours and alive when we started.
pub(crate) fn terminate(pid: u32, tool: &str) -> bool {
    if !is_alive(pid, tool) {
        return false;
    }
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    let target = Pid::from_raw(raw);
    let _ = kill(target, Signal::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if !is_alive(pid, tool) {
            return true;
        }
        std::thread::sleep(POLL);
    }
    let _ = kill(target, Signal::SIGKILL);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_reuse_is_not_mistaken_for_our_process() {
        // Our own pid is alive but is not anvil.
        assert!(!is_alive(std::process::id(), "anvil"));
        assert!(is_alive(std::process::id(), "testnet"));
    }
}
