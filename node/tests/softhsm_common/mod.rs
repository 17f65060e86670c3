//! A private SoftHSM2 token for one test. SoftHSM2 reads its config from
//! `SOFTHSM2_CONF` when the module initialises, and the workspace forbids the `unsafe`
//! `std::env::set_var`, so the test re-runs itself in a child process with the variable set.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::process::Command;

/// Set in the child process that runs the scenario.
const CHILD_ENV: &str = "ZGVAULT_TEST_SOFTHSM_CHILD";
/// The user PIN of the private token.
pub const PIN: &str = "1234";

/// Runs `scenario` against a freshly initialised token labelled `token`. `test_name` must
/// be the calling `#[test]` function's name and `module_path` its module's (`module_path!()`):
/// the child runs exactly that test.
pub fn run_with_private_token(module_path: &str, test_name: &str, token: &str, scenario: fn()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        scenario();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let init = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            token,
            "--pin",
            PIN,
            "--so-pin",
            "5678",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util is needed: run scripts/setup");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &exact_name(module_path, test_name),
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_ENV, "1")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the SoftHSM2 scenario failed (its output is above)"
    );
}

/// The name libtest knows the test `test_name` of module `module_path` (`module_path!()`) by:
/// the path without the crate (the test binary), e.g. `kek_softhsm::softhsm_kek_…`.
fn exact_name(module_path: &str, test_name: &str) -> String {
    match module_path.split_once("::") {
        Some((_binary, module)) => format!("{module}::{test_name}"),
        None => test_name.to_owned(),
    }
}
