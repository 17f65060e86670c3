//! The issue-16 scenario in a real browser: `tests/browser/scenario.mjs` (playwright-core
//! driving Debian's Chromium, headless) against two `zgvault-ui` binaries on a live devnet
//! (anvil, the dev storage node, three real key nodes). Screenshots go to `docs/ui/`.
//! Needs what `scripts/setup` installs (chromium, tools/node_modules); fails without them.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("ZGVAULT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "{} not found: run scripts/setup (it installs Debian's chromium), or set ZGVAULT_CHROMIUM",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_uploads_shares_and_revokes_in_the_browser() {
    let root = workspace_root();
    let browser = chromium();
    assert!(
        root.join("tools/node_modules/playwright-core").is_dir(),
        "tools/node_modules/playwright-core is missing: run scripts/setup"
    );
    let dir = tempfile::tempdir().unwrap();
    let (devnet, servers) = common::devnet_with_users(dir.path(), &["alice", "bob"], None).await;
    let (alice, bob) = (&servers[0], &servers[1]);

    let csv = dir.path().join("patients.csv");
    let data: String = std::iter::once("patient_id,age,diagnosis,visits\n".to_owned())
        .chain((0..500).map(|i| {
            format!(
                "p-{i:04},{},{},{}\n",
                20 + i % 60,
                ["asthma", "diabetes", "migraine"][i % 3],
                i % 9
            )
        }))
        .collect();
    std::fs::write(&csv, &data).unwrap();
    let out = dir.path().join("bob-download.csv");
    let bob_key = devnet
        .manifest()
        .account("bob")
        .unwrap()
        .private_key
        .clone();

    let run = Command::new("node")
        .arg(root.join("client/ui/tests/browser/scenario.mjs"))
        .current_dir(&root)
        .env("UI_A", &alice.url)
        .env("UI_B", &bob.url)
        .env("RPC_URL", devnet.rpc_url())
        .env("BOB_KEY", &bob_key)
        .env("CSV", &csv)
        .env("OUT", &out)
        .env("SHOTS", root.join("docs/ui"))
        .env("CHROMIUM", &browser)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "the browser scenario failed:\n{stderr}"
    );
    let report: Value = serde_json::from_slice(
        run.stdout
            .split(|b| *b == b'\n')
            .rfind(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap();
    // Checked here again, independently of the browser: the download is the upload.
    assert_eq!(std::fs::read(&out).unwrap(), data.as_bytes());
    assert!(report["rootHash"].as_str().unwrap().starts_with("0x"));
    // Nothing the UI staged is left behind: no plaintext copy of the upload, no download.
    for home in ["alice", "bob"] {
        for staging in ["ui-uploads", "ui-downloads"] {
            let left = dir.path().join(home).join("state").join(staging);
            let entries = std::fs::read_dir(&left).map(|d| d.count()).unwrap_or(0);
            assert_eq!(entries, 0, "{} keeps {entries} entries", left.display());
        }
    }
}
