//! The vault's operator surface without an HSM: a rotation loads only PKCS#11 modules the
//! configuration names, and `/health` / `/metrics` do their costly work at most once per
//! `HEALTH_CACHE_TTL`.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::VaultFixture;
use zgvault_node::{Error, KekConfig, NodeConfig};

fn evil() -> KekConfig {
    KekConfig::pkcs11(
        "/nonexistent/evil-module.so",
        "zgvault",
        "kek-2",
        Some("hsm.pin".into()),
    )
}

#[test]
fn rotation_loads_only_pkcs11_modules_the_configuration_names() {
    let f = VaultFixture::new();
    let vault = f.service.vault().unwrap();
    // Not in the configuration the vault started with, and no config file to re-read.
    let err = vault.rotate(&evil()).unwrap_err();
    assert!(matches!(err, Error::ModuleNotConfigured { .. }), "{err}");
    assert!(err.to_string().contains("evil-module.so"), "{err}");
    assert!(
        vault.status().unwrap().last_rotation.is_none(),
        "nothing ran"
    );

    // A vault started from a config file: the operator names the new module there first.
    let f = VaultFixture::with_config(|c| {
        c.config_file = Some(c.data_dir.join("node.toml"));
    });
    let path = f.config.config_file.clone().unwrap();
    common::secret_file(f.dir.path(), "hsm.pin", "1234");
    let vault = f.service.vault().unwrap();
    std::fs::write(&path, f.config.to_toml().unwrap()).unwrap();
    let err = vault.rotate(&evil()).unwrap_err();
    assert!(matches!(err, Error::ModuleNotConfigured { .. }), "{err}");
    let mut edited: NodeConfig = f.config.clone();
    edited.vault.rotate_to(evil());
    std::fs::write(&path, edited.to_toml().unwrap()).unwrap();
    // Now allowed past the check: it fails only at loading the (missing) module.
    let err = vault.rotate(&evil()).unwrap_err();
    assert!(
        err.to_string().contains("cannot load the PKCS#11 module"),
        "{err}"
    );
}

#[tokio::test]
async fn health_probes_the_kek_at_most_once_per_interval() {
    let f = VaultFixture::new();
    let vault = f.service.vault().unwrap();
    assert_eq!(vault.kek_probes(), 0);
    let first = f.service.health_blocking().await;
    let second = f.service.health_blocking().await;
    assert_eq!(first.kek_ok, Some(true));
    assert_eq!(second.kek_ok, Some(true));
    assert_eq!(vault.kek_probes(), 1, "the second /health reused the probe");
    let metrics = f.service.metrics_blocking().await;
    assert!(
        metrics.contains("zgvault_node_vault_kek_probes_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("zgvault_node_vault_records"), "{metrics}");
}
