//! A loopback anvil (and other child processes) for tests that need a real chain.
//! `ZGVAULT_ANVIL` overrides where anvil is. A missing anvil fails the test (CI installs it
//! with scripts/setup): a skipped chain test would pass without checking anything.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// How long a child may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub fn anvil_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ZGVAULT_ANVIL") {
        return Some(PathBuf::from(path));
    }
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools");
    [
        tools.join("bin/anvil"),
        tools.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// A child process killed on drop, with its stdout lines on a channel.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The rest of the first stdout line containing `marker`.
    pub fn wait_for(&self, marker: &str) -> Option<String> {
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let line = self.lines.recv_timeout(left).ok()?;
            if let Some(at) = line.find(marker) {
                return Some(line[at + marker.len()..].trim().to_owned());
            }
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh anvil on a free port (chain id 31337, the default dev accounts) and its URL.
/// Panics, saying to run scripts/setup, when anvil is not installed or does not start.
pub fn start_anvil() -> Option<(Proc, String)> {
    let anvil = anvil_path().expect("no anvil: run scripts/setup or set ZGVAULT_ANVIL");
    let chain = Proc::spawn(Command::new(anvil).args([
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--chain-id",
        "31337",
    ]));
    let addr = chain
        .wait_for("Listening on ")
        .expect("anvil did not start: run scripts/setup or set ZGVAULT_ANVIL");
    let rpc = format!("http://{addr}");
    Some((chain, rpc))
}
