//! The CLI tests' user: the real `zgvault` binary run with its own `ZGVAULT_HOME`, the
//! devnet's manifest and a passphrase in the environment, as a person would script it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use zgvault_testnet::{Devnet, MANIFEST_FILE};

pub const PASSPHRASE: &str = "correct horse battery staple";
/// Variables a test sets for one run only; cleared for every other, so nothing leaks in
/// from the environment the tests run in.
const PER_RUN_ENV: &[&str] = &["ZGVAULT_IMPORT_KEY", "ZGVAULT_LOG_CHUNK_BLOCKS"];

/// One user: their own ZGVAULT_HOME and the devnet's manifest.
pub struct User {
    pub home: PathBuf,
    pub manifest: PathBuf,
}

impl User {
    /// The `zgvault` command for this user, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(
            zgvault_testnet::find_zgvault()
                .expect("run `cargo build -p zgvault-cli` (scripts/test does)"),
        );
        command.args(args);
        for name in PER_RUN_ENV {
            command.env_remove(name);
        }
        command
            .env("ZGVAULT_HOME", &self.home)
            .env("ZGVAULT_PASSPHRASE", PASSPHRASE)
            .env("ZGVAULT_DEVNET_DIR", self.manifest.parent().unwrap());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        self.command(args)
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed with `--json`, and parses its output.
    pub fn json_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run_env(&all, envs);
        assert!(
            out.status.success(),
            "zgvault {args:?} failed: {}\n{}",
            stderr(&out),
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        self.json_env(args, &[])
    }

    /// Runs a command that must fail with `code`; returns its stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "zgvault {args:?}: {}",
            stderr(&out)
        );
        stderr(&out)
    }
}

/// Passes a `/v1/keys` body on to the node at `url` and returns its status and bytes: what
/// the tests' proxies do with the requests they do not tamper with.
pub async fn forward_keys(url: &str, body: axum::body::Bytes) -> (axum::http::StatusCode, Vec<u8>) {
    let answer = alloy::transports::http::reqwest::Client::new()
        .post(format!("{url}/v1/keys"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = axum::http::StatusCode::from_u16(answer.status().as_u16()).unwrap();
    (status, answer.bytes().await.unwrap().to_vec())
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `zgvault init` for the devnet account `name` (its key imported); returns the user and the
/// account's address.
pub fn user(dir: &Path, name: &str, devnet: &Devnet) -> (User, String) {
    let u = User {
        home: dir.join(name),
        manifest: devnet.state_dir().join(MANIFEST_FILE),
    };
    let account = devnet.manifest().account(name).unwrap();
    let out = u.run_env(
        &["init", "--json"],
        &[("ZGVAULT_IMPORT_KEY", &account.private_key)],
    );
    assert!(out.status.success(), "init: {}", stderr(&out));
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    let address: alloy::primitives::Address = init["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(address, account.address, "init imported another key");
    (u, account.address.to_string())
}

/// Writes `rows` CSV lines tagged `tag` to `path`; returns the bytes.
pub fn write_data(path: &Path, rows: usize, tag: &str) -> Vec<u8> {
    let data: String = (0..rows)
        .map(|i| format!("{tag}-{i:05},{}\n", i * 7))
        .collect();
    std::fs::write(path, &data).unwrap();
    data.into_bytes()
}

/// The unfinished puts in `u`'s state folder.
pub fn pending(u: &User) -> Vec<PathBuf> {
    match u.home.join("state/pending").read_dir() {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}
