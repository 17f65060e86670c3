//! anvil: where it is, its command line, and a loopback instance owned by a test.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    tools::find_tool,
};

/// The environment variable naming the anvil binary.
pub const ANVIL_ENV: &str = "ZGVAULT_ANVIL";
/// What anvil prints, followed by its address, once it serves.
pub const ANVIL_READY_MARKER: &str = "Listening on ";
/// anvil's default chain id.
pub const DEFAULT_ANVIL_CHAIN_ID: u64 = 31337;
/// How long a child may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The anvil binary: `$ZGVAULT_ANVIL`, the checkout's `tools/bin/anvil`, or `PATH`.
pub fn find_anvil() -> Result<PathBuf> {
    find_tool("anvil", ANVIL_ENV)
}

/// anvil's command line: always on 127.0.0.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnvilArgs {
    /// 0: a free port (read the bound one from the ready line).
    pub port: u16,
    /// The chain id.
    pub chain_id: u64,
    /// Dev accounts anvil funds (`None`: anvil's default ten, whose keys are public).
    pub accounts: Option<u32>,
    /// Seconds between blocks anvil mines on its own (`None`: only on transactions).
    pub block_time: Option<u64>,
    /// With `block_time`: still mine each transaction at once.
    pub mixed_mining: bool,
}

impl Default for AnvilArgs {
    fn default() -> Self {
        Self {
            port: 0,
            chain_id: DEFAULT_ANVIL_CHAIN_ID,
            accounts: None,
            block_time: None,
            mixed_mining: false,
        }
    }
}

impl AnvilArgs {
    /// The arguments to pass to anvil.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--host".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            self.port.to_string(),
            "--chain-id".to_owned(),
            self.chain_id.to_string(),
        ];
        if let Some(accounts) = self.accounts {
            args.extend(["--accounts".to_owned(), accounts.to_string()]);
        }
        if let Some(secs) = self.block_time {
            args.extend(["--block-time".to_owned(), secs.to_string()]);
            if self.mixed_mining {
                args.push("--mixed-mining".to_owned());
            }
        }
        args
    }
}

/// A loopback anvil owned by its caller (a test): killed when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: LineChild,
    rpc_url: String,
}

impl Anvil {
    /// Finds anvil and starts it with `args`, waiting for its ready line.
    pub fn start(args: &AnvilArgs) -> Result<Self> {
        let path = find_anvil()?;
        let mut command = Command::new(&path);
        command.args(args.to_args());
        let child = LineChild::spawn("anvil", &mut command)?;
        let addr = child
            .wait_for(ANVIL_READY_MARKER, READY_TIMEOUT)
            .ok_or(Error::NotReady {
                tool: "anvil",
                secs: READY_TIMEOUT.as_secs(),
            })?;
        Ok(Self {
            child,
            rpc_url: format!("http://{addr}"),
        })
    }

    /// A fresh anvil on a free port with the default dev accounts (chain id 31337).
    pub fn start_default() -> Result<Self> {
        Self::start(&AnvilArgs::default())
    }

    /// Its HTTP RPC URL.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The child process.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child.child
    }
}

/// A child process killed (and reaped) on drop, with its stdout lines on a channel (stderr
/// is dropped).
#[derive(Debug)]
pub struct LineChild {
    /// The process.
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl LineChild {
    /// Starts `command` (named `tool` in errors) with stdout piped.
    pub fn spawn(tool: &'static str, command: &mut Command) -> Result<Self> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                tool,
                path: PathBuf::from(command.get_program()),
                source,
            })?;
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self { child, lines })
    }

    /// The rest of the first stdout line containing `marker`, trimmed; `None` when the child
    /// closes its stdout (exits) or `timeout` passes first.
    pub fn wait_for(&self, marker: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let line = self.lines.recv_timeout(left).ok()?;
            if let Some(at) = line.find(marker) {
                return Some(line[at + marker.len()..].trim().to_owned());
            }
        }
        None
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_loopback_and_say_what_was_asked() {
        let args = AnvilArgs::default().to_args();
        assert_eq!(
            args,
            ["--host", "127.0.0.1", "--port", "0", "--chain-id", "31337"]
        );
        let args = AnvilArgs {
            port: 8545,
            chain_id: 7,
            accounts: Some(1),
            block_time: Some(1),
            mixed_mining: true,
        }
        .to_args();
        assert_eq!(
            args.join(" "),
            "--host 127.0.0.1 --port 8545 --chain-id 7 --accounts 1 --block-time 1 --mixed-mining"
        );
        // Mixed mining means nothing without a block time.
        let args = AnvilArgs {
            mixed_mining: true,
            ..AnvilArgs::default()
        }
        .to_args();
        assert!(!args.iter().any(|a| a == "--mixed-mining"), "{args:?}");
    }

    #[test]
    fn wait_for_returns_the_rest_of_the_marked_line() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo starting; echo 'Listening on 127.0.0.1:1234 '"]);
        let child = LineChild::spawn("sh", &mut command).expect("sh");
        assert_eq!(
            child.wait_for(ANVIL_READY_MARKER, READY_TIMEOUT).as_deref(),
            Some("127.0.0.1:1234")
        );
        let mut command = Command::new("true");
        let child = LineChild::spawn("true", &mut command).expect("true");
        assert_eq!(child.wait_for(ANVIL_READY_MARKER, READY_TIMEOUT), None);
    }
}
