//! The custodial vault as the owner's flows use it: which URL may be trusted as the vault
//! (a node in custodial mode, with the pinned key when one is known, serving this network)
//! and the deposit of K once the registered capsule names that vault.

use std::path::Path;

use alloy::primitives::B256;
use zgvault_proto::FileKey;
use zgvault_proto::request::KeyDeposit;
use zgvault_proto::sealbox::BoxPublicKey;
use zgvault_proto::wire::ErrorCode;

use super::Vault;
use crate::error::Error;
use crate::keys::{deposit_key, fetch_node_info};

/// Deposits re-signed after a `SHREDDED` refusal (a shred signed in the same second).
const SHREDDED_RETRIES: u32 = 2;
/// How long to wait before re-signing: past the next whole second of `issuedAt`.
const SHREDDED_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(1100);

/// What `/v1/info` says a custodial vault's `mode` is.
const CUSTODIAL_MODE: &str = "custodial";

/// The custodial vault's encryption key (its `/v1/info`), checked to come from a node in
/// custodial mode, to equal the pinned key when one is known, and to serve this network.
pub(crate) async fn vault_encryption_key(vault: &Vault) -> Result<BoxPublicKey, Error> {
    let node = vault.custodial_vault()?;
    let url = node.http.clone().ok_or_else(|| Error::Config {
        message: "the custodial vault has no HTTP URL to read its key from: set `vault_url` \
                  in the config file or pass --vault-url"
            .into(),
    })?;
    let info = fetch_node_info(&url).await.map_err(|e| match e {
        Error::KeyNodeUnreachable { message, .. } => Error::VaultUnreachable {
            url: url.clone(),
            message,
        },
        other => other,
    })?;
    match info.mode.as_deref() {
        Some(CUSTODIAL_MODE) => {}
        Some(mode) => {
            return Err(Error::Config {
                message: format!(
                    "{url} is a zgvault-node in {mode} mode, not a custodial vault: set \
                     `vault_url` (or pass --vault-url) to the vault's URL"
                ),
            });
        }
        None => {
            return Err(Error::Config {
                message: format!(
                    "{url} does not say in its /v1/info that it is a custodial vault (no \
                     `mode`): it runs an older zgvault-node; ask its operator to upgrade the \
                     vault, or set `vault_url` (--vault-url) to an upgraded one"
                ),
            });
        }
    }
    let pinned = vault.network.vault.as_ref().and_then(|v| v.key);
    if let Some(pinned) = pinned
        && pinned.0 != info.enc_key
    {
        return Err(Error::Config {
            message: format!(
                "the custodial vault {url} reports encryption key 0x{}, but the key pinned for \
                 it (`vault_key` in the config, --vault-key, or the devnet manifest) is {pinned}: \
                 refusing to use it; check that {url} is your vault, and fix `vault_url` or \
                 `vault_key`",
                hex::encode(info.enc_key)
            ),
        });
    }
    let registry = vault.registry_address()?;
    if info.chain_id != vault.network.chain_id || info.file_registry != registry {
        return Err(Error::Config {
            message: format!(
                "the custodial vault {url} serves chain {} registry {}, not this network's \
                 chain {} registry {registry}: check --vault-url / `vault_url`",
                info.chain_id, info.file_registry, vault.network.chain_id
            ),
        });
    }
    Ok(BoxPublicKey::from_bytes(info.enc_key))
}

/// Deposits K with the vault the registered capsule names; returns the vault's address.
/// The file must be registered as custodial with a capsule committing to `key`.
pub(crate) async fn deposit_custodial_key(
    vault: &Vault,
    state_path: &Path,
    file_id: B256,
    key: &FileKey,
) -> Result<String, Error> {
    let file = vault.file_ref(file_id)?;
    let capsule = vault.custodial_capsule(file_id).await?;
    if !capsule.matches(&file, key) {
        return Err(Error::Custody {
            file_id,
            message: format!(
                "the registered custodial capsule commits to another key than the one kept in \
                 {}: nothing was deposited; keep that file (it holds the key of this upload) \
                 and check `zgvault info {file_id}`",
                state_path.display()
            ),
        });
    }
    let node = vault.custodial_vault()?;
    let url = crate::keys::node_address(&node);
    let mut attempt = 0;
    let result = loop {
        let deposit = KeyDeposit::new(file, key, &capsule.vault_key, super::now_secs())?
            .sign(vault.signer().credential())?;
        match deposit_key(&node, deposit).await {
            // A shred signed this very second (a move out and back in) refuses a deposit
            // signed in the same second: sign again once the clock has moved on.
            Err(Error::VaultRefused {
                code: ErrorCode::Shredded,
                ..
            }) if attempt < SHREDDED_RETRIES => {
                attempt += 1;
                tokio::time::sleep(SHREDDED_RETRY_WAIT).await;
            }
            other => break other,
        }
    };
    result.map_err(|e| match e {
        Error::VaultUnreachable { url, message } => Error::VaultUnreachable {
            url,
            message: format!(
                "{message}. File {file_id} is registered and K is kept sealed locally \
                 ({}): run the same command again once the vault is up, it resumes",
                state_path.display()
            ),
        },
        other => other,
    })?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use alloy::primitives::Address;

    use super::*;

    /// A node answering `/v1/info` with `mode` (absent when `None`) and key `0x11..`.
    async fn info_server(mode: Option<&'static str>) -> String {
        let mut info = serde_json::json!({
            "node_index": null, "encryption_key": format!("0x{}", "11".repeat(32)),
            "operator": null, "peer_id": "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
            "listen_addrs": [], "chain_id": 16602,
            "file_registry": Address::repeat_byte(2), "version": "0.1.0",
        });
        if let Some(mode) = mode {
            info["mode"] = mode.into();
        }
        let router = axum::Router::new().route(
            "/v1/info",
            axum::routing::get(move || {
                let info = info.clone();
                async move { axum::Json(info) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}")
    }

    fn vault_at(url: &str, pinned: Option<B256>) -> Vault {
        let mut net = crate::network::Network::builtin("galileo").unwrap();
        net.file_registry = Some(Address::repeat_byte(2));
        net.vault = Some(crate::network::VaultEndpoint {
            http: Some(url.to_owned()),
            key: pinned,
            ..Default::default()
        });
        let signer = alloy::signers::local::PrivateKeySigner::random();
        Vault::new(net, signer, None).unwrap()
    }

    #[tokio::test]
    async fn fail_only_a_custodial_node_with_the_pinned_key_is_used_as_the_vault() {
        let good = info_server(Some("custodial")).await;
        let key = vault_encryption_key(&vault_at(&good, None)).await.unwrap();
        assert_eq!(key.as_bytes(), &[0x11; 32]);
        let pinned = Some(B256::repeat_byte(0x11));
        vault_encryption_key(&vault_at(&good, pinned))
            .await
            .unwrap();

        let wrong = B256::repeat_byte(0x22);
        let text = vault_encryption_key(&vault_at(&good, Some(wrong)))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            text.contains(&format!("0x{}", "11".repeat(32))) && text.contains(&wrong.to_string()),
            "{text}"
        );

        let threshold = info_server(Some("threshold")).await;
        let text = vault_encryption_key(&vault_at(&threshold, None))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("threshold mode, not a custodial vault") && text.contains(&threshold),
            "{text}"
        );

        let old = info_server(None).await;
        let text = vault_encryption_key(&vault_at(&old, None))
            .await
            .unwrap_err()
            .to_string();
        assert!(text.contains("upgrade the vault"), "{text}");
    }
}
