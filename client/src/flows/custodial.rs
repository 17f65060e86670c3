//! The custodial vault as the owner's flows use it: which URL may be trusted as the vault,
//! which key K may be sealed to, and the deposit of K once the registered capsule names
//! that vault.
//!
//! The vault's `/v1/info` travels over plain HTTP, so the key it reports proves nothing: a
//! man in the middle can report its own. K is sealed only to a key that is either listed
//! (and not retired) in the network's NodeRegistry, or pinned by the user (`vault_key`,
//! `--vault-key`, the devnet manifest); a key the registry lists as retired takes no new K
//! even when pinned. Reads and shreds send no secret (an access request carries an
//! ephemeral response key, a shred is addressed to one holder), so they need only the
//! vault the registered capsule names; the K a vault releases is checked against the
//! capsule's commitment.

use std::path::Path;

use alloy::primitives::{Address, B256};
use zgvault_contracts::NodeRegistry;
use zgvault_proto::FileKey;
use zgvault_proto::request::KeyDeposit;
use zgvault_proto::sealbox::BoxPublicKey;
use zgvault_proto::wire::ErrorCode;

use super::{Session, chain_error};
use crate::error::Error;
use crate::keys::{Endpoint, deposit_key, fetch_node_info};

/// Deposits re-signed after a `SHREDDED` refusal (a shred signed in the same second).
const SHREDDED_RETRIES: u32 = 2;
/// How long to wait before re-signing: past the next whole second of `issuedAt`.
const SHREDDED_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(1100);

/// What `/v1/info` says a custodial vault's `mode` is.
const CUSTODIAL_MODE: &str = "custodial";

/// What a user does when a vault's key cannot be trusted.
const PIN_ADVICE: &str = "if this URL is your vault, get its encryption key from its \
                          operator over a channel you trust and pin it (`vault_key` in \
                          config.toml, or --vault-key 0x...); otherwise fix `vault_url` \
                          (--vault-url)";

/// Why a vault key may receive new file keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyTrust {
    /// Listed and active in this NodeRegistry.
    Registered(Address),
    /// Equal to the user's pinned key, and not retired in the registry (where there is one).
    Pinned,
    /// Both pinned and listed (and active) in this NodeRegistry.
    PinnedAndRegistered(Address),
}

impl std::fmt::Display for KeyTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyTrust::Registered(registry) => {
                write!(f, "registered in the NodeRegistry {registry}")
            }
            KeyTrust::Pinned => f.write_str("pinned (not listed in a NodeRegistry)"),
            KeyTrust::PinnedAndRegistered(registry) => {
                write!(f, "pinned, and registered in the NodeRegistry {registry}")
            }
        }
    }
}

/// What the NodeRegistry says about a vault key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Registered and not retired.
    Active,
    /// Retired at this block: no new file keys.
    Retired { at: u64 },
    /// Never registered there.
    Unlisted,
}

/// The configured custodial vault, checked to be a node in custodial mode serving this
/// network, with the encryption key its `/v1/info` reports (unauthenticated: compare it
/// with a registered capsule, or check it with [`trusted_vault_key`]).
pub(crate) async fn configured_vault(session: &Session) -> Result<(Endpoint, BoxPublicKey), Error> {
    let node = session.custodial_vault()?;
    let url = node.http.clone().ok_or(Error::VaultWithoutHttp)?;
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
            return Err(Error::NotAVault {
                url,
                mode: mode.to_owned(),
            });
        }
        None => return Err(Error::VaultTooOld { url }),
    }
    let registry = session.registry_address()?;
    if info.chain_id != session.network.chain_id || info.file_registry != registry {
        return Err(Error::VaultOtherNetwork {
            url,
            chain_id: info.chain_id,
            registry: info.file_registry,
            expected_chain_id: session.network.chain_id,
            expected_registry: registry,
        });
    }
    Ok((node, BoxPublicKey::from_bytes(info.enc_key)))
}

/// The configured vault's encryption key, if new file keys may be sealed to it: it must be
/// registered and active in the network's NodeRegistry, or equal the pinned key (and not be
/// retired there). Checked before K is sealed or anything is paid.
pub(crate) async fn trusted_vault_key(session: &Session) -> Result<BoxPublicKey, Error> {
    Ok(check_vault_key(session).await?.0)
}

/// Why the configured vault's key may receive new file keys (for `status`).
pub(crate) async fn vault_key_trust(session: &Session) -> Result<KeyTrust, Error> {
    Ok(check_vault_key(session).await?.1)
}

/// The configured vault's key and its trust, checked once per session.
async fn check_vault_key(session: &Session) -> Result<(BoxPublicKey, KeyTrust), Error> {
    session
        .vault_trust
        .get_or_try_init(|| read_vault_key(session))
        .await
        .copied()
}

async fn read_vault_key(session: &Session) -> Result<(BoxPublicKey, KeyTrust), Error> {
    let (node, reported) = configured_vault(session).await?;
    let key = B256::from(*reported.as_bytes());
    let pinned = session.network.vault.as_ref().and_then(|v| v.key);
    let standing = match session.network.node_registry {
        Some(registry) => Some((registry, standing(session, registry, key).await)),
        None => None,
    };
    let trust = decide(session, &node.to_string(), key, pinned, standing)?;
    Ok((reported, trust))
}

/// `NodeRegistry.vault(key)` at the head block.
async fn standing(session: &Session, registry: Address, key: B256) -> Result<Standing, Error> {
    let entry = NodeRegistry::new(registry, session.provider())
        .vault(key)
        .call()
        .await
        .map_err(|e| {
            chain_error(
                "reading the vault list of the NodeRegistry",
                &session.network,
                e,
            )
        })?;
    Ok(if entry.encryptionKey != key {
        Standing::Unlisted
    } else if entry.retiredAt != 0 {
        Standing::Retired {
            at: entry.retiredAt,
        }
    } else {
        Standing::Active
    })
}

/// The rule: a pin that differs is refused; a key retired in the registry is refused; then
/// a pinned key is trusted, and an unpinned one only if the registry lists it as active.
/// `standing` is the NodeRegistry and what it says of the key; `None` when the network has
/// none.
fn decide(
    session: &Session,
    url: &str,
    key: B256,
    pinned: Option<B256>,
    standing: Option<(Address, Result<Standing, Error>)>,
) -> Result<KeyTrust, Error> {
    let untrusted = |why: String, advice: &str| Error::UntrustedVaultKey {
        url: url.to_owned(),
        key,
        why,
        advice: advice.to_owned(),
    };
    if let Some(pinned) = pinned
        && pinned != key
    {
        return Err(untrusted(
            format!(
                "is not the key pinned for it, {pinned} (`vault_key` in the config, \
                 --vault-key, or the devnet manifest)"
            ),
            "check that this URL is your vault, and fix `vault_url` or `vault_key`",
        ));
    }
    match (pinned, standing) {
        (_, Some((registry, Ok(Standing::Retired { at })))) => Err(untrusted(
            format!(
                "was retired in the NodeRegistry {registry} at block {at}: it takes no new \
                 file keys (files it holds already stay readable)"
            ),
            "use another vault (`vault_url`, --vault-url) or another custody \
             (--custody threshold)",
        )),
        (Some(_), Some((registry, Ok(Standing::Active)))) => {
            Ok(KeyTrust::PinnedAndRegistered(registry))
        }
        (Some(_), _) => Ok(KeyTrust::Pinned),
        (None, Some((registry, Ok(Standing::Active)))) => Ok(KeyTrust::Registered(registry)),
        (None, Some((registry, Ok(Standing::Unlisted)))) => Err(untrusted(
            format!(
                "is not a vault registered in the NodeRegistry {registry} of network {}, and \
                 no key is pinned",
                session.network.name
            ),
            PIN_ADVICE,
        )),
        (None, Some((registry, Err(e)))) => Err(untrusted(
            format!("could not be checked against the NodeRegistry {registry} ({e})"),
            &format!("run it again once the chain answers; or, {PIN_ADVICE}"),
        )),
        (None, None) => Err(untrusted(
            format!(
                "cannot be checked: network {} has no NodeRegistry address (`node_registry` \
                 in the config), and no key is pinned",
                session.network.name
            ),
            PIN_ADVICE,
        )),
    }
}

/// Deposits K with the vault the registered capsule names; returns the vault's address.
/// The file must be registered as custodial with a capsule committing to `key`.
pub(crate) async fn deposit_custodial_key(
    session: &Session,
    state_path: &Path,
    file_id: B256,
    key: &FileKey,
) -> Result<String, Error> {
    let file = session.file_ref(file_id)?;
    let capsule = session.custodial_capsule(file_id).await?;
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
    // K goes only to a key the owner may trust now (the capsule may have been registered by
    // an earlier run, before the vault was retired), and only to the vault the capsule names.
    let keep = |e| kept(e, file_id, state_path);
    let trusted = trusted_vault_key(session).await.map_err(keep)?;
    let node = session.custodial_vault()?;
    let url = node.to_string();
    if trusted != capsule.vault_key {
        return Err(Error::Custody {
            file_id,
            message: format!(
                "the registered capsule names the custodial vault with key 0x{}, but the \
                 configured vault {url} has key 0x{}: nothing was deposited, and K stays sealed \
                 locally in {}; set `vault_url` (or pass --vault-url) to the vault the capsule \
                 names and run the same command again",
                hex::encode(capsule.vault_key.as_bytes()),
                hex::encode(trusted.as_bytes()),
                state_path.display()
            ),
        });
    }
    let mut attempt = 0;
    let result = loop {
        let deposit = KeyDeposit::new(file, key, &capsule.vault_key, super::now_secs())?
            .sign(session.signer().credential())?;
        match deposit_key(session.channel(), &node, deposit).await {
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
    result.map_err(keep)?;
    Ok(url)
}

/// A deposit that could not be made: says that K is kept locally and how to resume.
fn kept(e: Error, file_id: B256, state_path: &Path) -> Error {
    match e {
        Error::VaultUnreachable { url, message } => Error::VaultUnreachable {
            url,
            message: format!(
                "{message}. File {file_id} is registered and K is kept sealed locally \
                 ({}): run the same command again once the vault is up, it resumes",
                state_path.display()
            ),
        },
        Error::UntrustedVaultKey {
            url,
            key,
            why,
            advice,
        } => Error::UntrustedVaultKey {
            url,
            key,
            why,
            advice: format!(
                "{advice}. File {file_id} is registered and K is kept sealed locally ({}), \
                 sent nowhere: keep that file, and run the same command again once the vault \
                 the file names can be trusted",
                state_path.display()
            ),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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

    /// A user of a network whose vault is at `url`, with the key `pinned`, and a
    /// NodeRegistry behind an RPC that refuses connections when `registry` is set.
    fn vault_at(url: &str, pinned: Option<B256>, registry: bool) -> Session {
        let mut net = crate::network::Network::builtin("galileo").unwrap();
        net.rpc_url = "http://127.0.0.1:1".parse().unwrap();
        net.file_registry = Some(Address::repeat_byte(2));
        net.node_registry = registry.then(|| Address::repeat_byte(3));
        net.vault = Some(crate::network::VaultEndpoint {
            http: Some(url.to_owned()),
            key: pinned,
            ..Default::default()
        });
        let signer = alloy::signers::local::PrivateKeySigner::random();
        Session::new(net, signer, None).unwrap()
    }

    #[tokio::test]
    async fn fail_only_a_custodial_node_serving_this_network_is_used_as_the_vault() {
        let good = info_server(Some("custodial")).await;
        let (node, key) = configured_vault(&vault_at(&good, None, false))
            .await
            .unwrap();
        assert_eq!(key.as_bytes(), &[0x11; 32]);
        assert_eq!(node.to_string(), good);

        let threshold = info_server(Some("threshold")).await;
        let text = configured_vault(&vault_at(&threshold, None, false))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("threshold mode, not a custodial vault") && text.contains(&threshold),
            "{text}"
        );

        let old = info_server(None).await;
        let text = configured_vault(&vault_at(&old, None, false))
            .await
            .unwrap_err()
            .to_string();
        assert!(text.contains("upgrade the vault"), "{text}");
    }

    #[tokio::test]
    async fn fail_an_unpinned_vault_key_is_refused_without_a_registry_that_lists_it() {
        let good = info_server(Some("custodial")).await;
        let reported = format!("0x{}", "11".repeat(32));
        // No NodeRegistry, no pin: refused, saying how to pin.
        let text = trusted_vault_key(&vault_at(&good, None, false))
            .await
            .unwrap_err()
            .to_string();
        for part in [
            &reported,
            "no NodeRegistry address",
            "--vault-key",
            "vault_key",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        // A registry that cannot be read: refused (fail closed), unless pinned.
        let text = trusted_vault_key(&vault_at(&good, None, true))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("could not be checked against the NodeRegistry")
                && text.contains("--vault-key"),
            "{text}"
        );
        // The pinned key: trusted with or without a registry entry.
        let pinned = Some(B256::repeat_byte(0x11));
        for registry in [false, true] {
            let session = vault_at(&good, pinned, registry);
            let key = trusted_vault_key(&session).await.unwrap();
            assert_eq!(key.as_bytes(), &[0x11; 32]);
            assert_eq!(vault_key_trust(&session).await.unwrap(), KeyTrust::Pinned);
        }
        // Another pinned key: refused, naming both.
        let wrong = B256::repeat_byte(0x22);
        let text = trusted_vault_key(&vault_at(&good, Some(wrong), true))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            text.contains(&reported) && text.contains(&wrong.to_string()),
            "{text}"
        );
    }

    #[test]
    fn fail_the_registry_decides_for_unpinned_keys_and_retirement_binds_pins_too() {
        let session = vault_at("http://127.0.0.1:1", None, true);
        let registry = Address::repeat_byte(3);
        let key = B256::repeat_byte(0x11);
        let decide = |pinned, standing: Option<Result<Standing, Error>>| {
            decide(
                &session,
                "http://v",
                key,
                pinned,
                standing.map(|s| (registry, s)),
            )
        };
        assert_eq!(
            decide(None, Some(Ok(Standing::Active))).unwrap(),
            KeyTrust::Registered(registry)
        );
        let text = decide(None, Some(Ok(Standing::Unlisted)))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("is not a vault registered in the NodeRegistry")
                && text.contains(&registry.to_string())
                && text.contains("--vault-key"),
            "{text}"
        );
        for pinned in [None, Some(key)] {
            let text = decide(pinned, Some(Ok(Standing::Retired { at: 42 })))
                .unwrap_err()
                .to_string();
            assert!(
                text.contains("retired in the NodeRegistry")
                    && text.contains("block 42")
                    && text.contains("--custody threshold"),
                "{text}"
            );
        }
        assert_eq!(
            decide(Some(key), Some(Ok(Standing::Unlisted))).unwrap(),
            KeyTrust::Pinned,
            "a pin works where the registry has no entry"
        );
        assert_eq!(
            decide(Some(key), Some(Ok(Standing::Active))).unwrap(),
            KeyTrust::PinnedAndRegistered(registry)
        );
    }
}
