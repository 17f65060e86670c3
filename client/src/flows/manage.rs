//! Owner and network commands: `grant`, `revoke`, `ls`, `info`, `policy`, `status`.
//! Grant and revoke change who may read without re-encrypting anything (DESIGN §3).

use std::time::Duration;

use alloy::network::Ethereum;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{PendingTransactionBuilder, Provider};
use alloy::sol_types::SolEvent;
use serde::Serialize;
use serde_json::{Value, json};
use zgvault_contracts::FileRegistry::{Condition, FileInfo};
use zgvault_contracts::{AccessPass, reason_is_ok, reason_text};

use super::events::scan_events;
use super::{Session, chain_error, now_secs};
use crate::error::Error;

/// How long a `/health` probe of a key node may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// What `grant` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantReceipt {
    pub file_id: B256,
    pub to: Address,
    /// `pass` (an AccessPass was minted) or `allow` (added to the allow-list).
    pub how: &'static str,
    /// The minted pass.
    pub token_id: Option<U256>,
    pub tx: B256,
    /// They were on the deny list (a `revoke` denies by default) and were taken off it
    /// first, in this transaction.
    pub undenied: Option<B256>,
}

/// What `revoke` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeReceipt {
    pub file_id: B256,
    pub from: Address,
    /// Passes burned: every live pass granted to them, wherever it had moved.
    pub burned: Vec<BurnedPass>,
    /// Removed from the allow-list.
    pub disallowed: bool,
    /// Added to the deny list.
    pub denied: bool,
    pub txs: Vec<B256>,
    /// Whether the registry still lets them read (e.g. through a token gate).
    pub can_still_read: bool,
    pub reason: String,
}

/// A pass `revoke` burned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnedPass {
    pub token_id: U256,
    /// Who held it when it was burned (not the revoked reader if they had moved it).
    pub holder: Address,
}

/// One of my files, from its `FileRegistered` event and current record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSummary {
    pub file_id: B256,
    pub root_hash: B256,
    pub size: U256,
    /// The registry's scheme code now (a custody move changes it).
    pub scheme: u8,
    /// The same, by name: `bls`, `shamir` or `custodial`.
    pub custody: &'static str,
    pub block: Option<u64>,
    /// The current owner (files can be transferred away).
    pub owner: Address,
}

/// A storage node's state in `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageNodeStatus {
    pub url: String,
    pub ok: bool,
    pub detail: String,
}

/// A key node's state in `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyNodeStatus {
    pub index: u32,
    pub http: Option<String>,
    pub p2p: Option<String>,
    pub healthy: bool,
    pub detail: String,
}

/// `status`: the network as this client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub network: String,
    pub rpc_url: String,
    pub chain_id: u64,
    pub block: u64,
    pub account: Address,
    pub balance_wei: String,
    pub storage_nodes: Vec<StorageNodeStatus>,
    pub storage_error: Option<String>,
    pub epoch: Option<u64>,
    pub threshold: Option<u32>,
    pub key_nodes: Vec<KeyNodeStatus>,
    pub key_network_error: Option<String>,
    /// The custodial vault, when the network has one.
    pub vault: Option<VaultStatus>,
}

/// The custodial vault's state in `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultStatus {
    pub http: Option<String>,
    pub healthy: bool,
    pub detail: String,
    /// Whether new file keys may be sealed to the key it reports, and why: `registered in
    /// the NodeRegistry 0x…` or `pinned`; otherwise why not.
    pub key: String,
    /// New file keys may be sealed to it (`put --custody custodial`, `custody --to custodial`).
    pub key_trusted: bool,
}

/// What to check when an owner's transaction fails.
const OWNER_ADVICE: &str = "check the file id and that you are its owner (`zgvault info`)";

async fn confirm(
    session: &Session,
    during: &str,
    sent: Result<PendingTransactionBuilder<Ethereum>, alloy::contract::Error>,
) -> Result<B256, Error> {
    Ok(session
        .confirm(during, sent, OWNER_ADVICE)
        .await?
        .transaction_hash)
}

/// Only the owner may change a file; say so (and who the owner is) before paying for a
/// reverting transaction. `action` completes "only its owner can …".
async fn require_owner(
    session: &Session,
    file_id: B256,
    action: &'static str,
) -> Result<FileInfo, Error> {
    let record = session.record(file_id).await?;
    if record.owner != session.address() {
        return Err(Error::NotOwner {
            file_id,
            owner: record.owner,
            user: session.address(),
            action,
        });
    }
    Ok(record)
}

/// What `require_owner` says for changes of access.
const CHANGE_ACCESS: &str = "change who may read it";

pub(crate) async fn send_allow(
    session: &Session,
    file_id: B256,
    account: Address,
    allow: bool,
) -> Result<B256, Error> {
    let registry = session.registry()?;
    if allow {
        confirm(
            session,
            "adding to the allow-list",
            registry.allow(file_id, account).send().await,
        )
        .await
    } else {
        confirm(
            session,
            "removing from the allow-list",
            registry.disallow(file_id, account).send().await,
        )
        .await
    }
}

/// Lets `to` read `file_id`: takes them off the deny list if a revoke put them there, then
/// mints an AccessPass, or (`allow_list`) adds them to the allow-list.
pub async fn grant(
    session: &Session,
    file_id: B256,
    to: Address,
    allow_list: bool,
) -> Result<GrantReceipt, Error> {
    require_owner(session, file_id, CHANGE_ACCESS).await?;
    let registry = session.registry()?;
    let denied = registry
        .isDenied(file_id, to)
        .call()
        .await
        .map_err(|e| chain_error("reading the deny list", &session.network, e))?;
    let undenied = if denied {
        Some(
            confirm(
                session,
                "removing from the deny list",
                registry.undeny(file_id, to).send().await,
            )
            .await?,
        )
    } else {
        None
    };
    if allow_list {
        let tx = send_allow(session, file_id, to, true).await?;
        return Ok(GrantReceipt {
            file_id,
            to,
            how: "allow",
            token_id: None,
            tx,
            undenied,
        });
    }
    let pass_address = session.access_pass_address()?;
    let pass = AccessPass::new(pass_address, session.provider());
    let receipt = session
        .confirm(
            "minting an AccessPass",
            pass.mint(file_id, to).send().await,
            OWNER_ADVICE,
        )
        .await?;
    // The token id is in the mint's own receipt: no event scan needed.
    let token_id = receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == pass_address)
        .filter_map(|log| AccessPass::PassMinted::decode_log(&log.inner).ok())
        .find(|ev| ev.fileId == file_id && ev.to == to)
        .map(|ev| ev.tokenId);
    Ok(GrantReceipt {
        file_id,
        to,
        how: "pass",
        token_id,
        tx: receipt.transaction_hash,
        undenied,
    })
}

/// Stops future key releases to `from`: burns every live pass minted to them, wherever it
/// has moved since (a pass is transferable, so a holder could otherwise hand it to another
/// account ahead of the burn), removes them from the allow-list, and with `deny` adds them
/// to the deny list (the CLI's default).
/// `progress(done, total)` counts the blocks scanned for passes on long scans.
pub async fn revoke(
    session: &Session,
    file_id: B256,
    from: Address,
    deny: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<RevokeReceipt, Error> {
    require_owner(session, file_id, CHANGE_ACCESS).await?;
    let registry = session.registry()?;
    let pass = AccessPass::new(session.access_pass_address()?, session.provider());
    let minted: Vec<(AccessPass::PassMinted, _)> = scan_events(
        session,
        pass.PassMinted_filter().topic1(file_id).filter,
        "PassMinted events",
        progress,
    )
    .await?;
    let mut burned = Vec::new();
    let mut txs = Vec::new();
    for (ev, _) in minted {
        if ev.to != from {
            continue;
        }
        // Burned passes revert `ownerOf`. A pass granted to `from` and moved on is still
        // their grant: burn it where it is (the file owner may burn any pass of the file).
        let Ok(holder) = pass.ownerOf(ev.tokenId).call().await else {
            continue;
        };
        let tx = confirm(
            session,
            "burning an AccessPass",
            pass.burn(ev.tokenId).send().await,
        )
        .await?;
        burned.push(BurnedPass {
            token_id: ev.tokenId,
            holder,
        });
        txs.push(tx);
    }
    let allowed = registry
        .isAllowed(file_id, from)
        .call()
        .await
        .map_err(|e| chain_error("reading the allow-list", &session.network, e))?;
    if allowed {
        txs.push(send_allow(session, file_id, from, false).await?);
    }
    if deny {
        txs.push(
            confirm(
                session,
                "adding to the deny list",
                registry.deny(file_id, from).send().await,
            )
            .await?,
        );
    }
    let check = registry
        .accessCheck(file_id, from)
        .call()
        .await
        .map_err(|e| chain_error("checking access", &session.network, e))?;
    Ok(RevokeReceipt {
        file_id,
        from,
        burned,
        disallowed: allowed,
        denied: deny,
        txs,
        can_still_read: check.ok,
        reason: reason_text(check.reason).to_owned(),
    })
}

/// Files registered by this account (from `FileRegistered` events). `progress(done,
/// total)` counts the blocks scanned on long scans.
pub async fn list_files(
    session: &Session,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<FileSummary>, Error> {
    let registry = session.registry()?;
    let events: Vec<(zgvault_contracts::FileRegistry::FileRegistered, _)> = scan_events(
        session,
        registry
            .FileRegistered_filter()
            .topic2(session.address().into_word())
            .filter,
        "FileRegistered events",
        progress,
    )
    .await?;
    let mut out = Vec::with_capacity(events.len());
    for (ev, log) in events {
        // The current record: the owner and the scheme may have changed since registration.
        let now = registry
            .getFile(ev.fileId)
            .call()
            .await
            .map_err(|e| chain_error("reading a file record", &session.network, e))?;
        out.push(FileSummary {
            file_id: ev.fileId,
            root_hash: ev.rootHash,
            size: ev.size,
            scheme: now.scheme,
            custody: scheme_name(now.scheme),
            block: log.block_number,
            owner: now.owner,
        });
    }
    Ok(out)
}

/// Everything the registry knows about `file_id`, and whether this account may read it.
pub async fn info(session: &Session, file_id: B256) -> Result<Value, Error> {
    let record = session.record(file_id).await?;
    let registry = session.registry()?;
    let policy = registry
        .policyOf(file_id)
        .call()
        .await
        .map_err(|e| chain_error("reading the policy", &session.network, e))?;
    let check = registry
        .accessCheck(file_id, session.address())
        .call()
        .await
        .map_err(|e| chain_error("checking access", &session.network, e))?;
    Ok(json!({
        "fileId": file_id,
        "owner": record.owner,
        "pendingOwner": record.pendingOwner,
        "rootHash": record.rootHash,
        "txSeq": record.txSeq.to_string(),
        "size": record.size.to_string(),
        "scheme": scheme_name(record.scheme),
        "capsuleHash": record.capsuleHash,
        "notBefore": record.notBefore,
        "notAfter": record.notAfter,
        "notBeforeUtc": bound_utc(record.notBefore),
        "notAfterUtc": bound_utc(record.notAfter),
        "window": describe_window(record.notBefore, record.notAfter, now_secs()),
        "registeredAt": record.registeredAt,
        "policy": describe_policy(&policy),
        "you": {
            "address": session.address(),
            "canRead": reason_is_ok(check.reason),
            "reason": reason_text(check.reason),
        },
    }))
}

/// Replaces the policy of `file_id` (owner only).
pub async fn set_policy(
    session: &Session,
    file_id: B256,
    policy: Vec<Vec<Condition>>,
) -> Result<B256, Error> {
    require_owner(session, file_id, CHANGE_ACCESS).await?;
    let registry = session.registry()?;
    confirm(
        session,
        "setting the policy",
        registry.setPolicy(file_id, policy).send().await,
    )
    .await
}

impl Session {
    /// Sets the access window of `file_id` (owner only): other readers get the key only
    /// from `not_before` through `not_after` (Unix seconds, by block time). `None` keeps
    /// that bound as it is, `Some(0)` removes it. Returns the transaction, or `None` when
    /// the window already is this one. The owner is never bound by the window.
    pub async fn set_window(
        &self,
        file_id: B256,
        not_before: Option<u64>,
        not_after: Option<u64>,
    ) -> Result<Option<B256>, Error> {
        let record = require_owner(self, file_id, "change its access window").await?;
        let nb = not_before.unwrap_or(record.notBefore);
        let na = not_after.unwrap_or(record.notAfter);
        check_window(nb, not_before.is_none(), na, not_after.is_none())?;
        if (nb, na) == (record.notBefore, record.notAfter) {
            return Ok(None);
        }
        let registry = self.registry()?;
        confirm(
            self,
            "setting the access window",
            registry.setWindow(file_id, nb, na).send().await,
        )
        .await
        .map(Some)
    }
}

/// A window must open before it closes; say so before paying for a transaction. A
/// `kept` bound is the file's current one.
fn check_window(nb: u64, nb_kept: bool, na: u64, na_kept: bool) -> Result<(), Error> {
    if nb == 0 || na == 0 || nb < na {
        return Ok(());
    }
    Err(Error::EmptyWindow {
        not_before: nb,
        not_before_kept: nb_kept,
        not_after: na,
        not_after_kept: na_kept,
    })
}

/// A window bound as RFC 3339 UTC, or `None` for 0 (no bound).
fn bound_utc(secs: u64) -> Option<String> {
    (secs != 0).then(|| utc(secs))
}

/// Unix seconds as RFC 3339 UTC, e.g. `2026-12-31T23:59:59Z`.
pub(crate) fn utc(secs: u64) -> String {
    // Civil from days (Howard Hinnant's algorithm); u64 seconds / 86 400 fits an i64.
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// The access window in words, as of `now`.
pub(crate) fn describe_window(nb: u64, na: u64, now: u64) -> String {
    let state = if nb != 0 && now < nb {
        " (not open yet: only the owner can read)"
    } else if na != 0 && now > na {
        " (ended: only the owner can read)"
    } else {
        ""
    };
    let span = match (nb, na) {
        (0, 0) => "no time limit".to_owned(),
        (nb, 0) => format!("from {}", utc(nb)),
        (0, na) => format!("until {}", utc(na)),
        (nb, na) => format!("from {} until {}", utc(nb), utc(na)),
    };
    format!("{span}{state}")
}

fn scheme_name(scheme: u8) -> &'static str {
    zgvault_proto::request::Scheme::from_u8(scheme).map_or("unknown", |s| s.name())
}

/// A policy as readable JSON: an OR of clauses, each an AND of conditions.
pub(crate) fn describe_policy(policy: &[Vec<Condition>]) -> Value {
    use zgvault_contracts::*;
    let clauses: Vec<Value> = policy
        .iter()
        .map(|clause| {
            Value::Array(
                clause
                    .iter()
                    .map(|c| match c.kind {
                        KIND_ACCESS_PASS => json!({"pass": c.token, "file": c.id.to_string()}),
                        KIND_ERC721_ANY => json!({"erc721": c.token, "min": c.min.to_string()}),
                        KIND_ERC721_ID => json!({"erc721": c.token, "id": c.id.to_string()}),
                        KIND_ERC1155 => json!({"erc1155": c.token, "id": c.id.to_string(), "min": c.min.to_string()}),
                        KIND_ERC20 => json!({"erc20": c.token, "min": c.min.to_string()}),
                        KIND_NOT_BEFORE => json!({"notBefore": c.min.to_string()}),
                        KIND_NOT_AFTER => json!({"notAfter": c.min.to_string()}),
                        k => json!({"unknownKind": k}),
                    })
                    .collect(),
            )
        })
        .collect();
    json!({ "anyOf": clauses })
}

/// The chain, the storage nodes, and the key network.
pub async fn status(session: &Session) -> Result<StatusReport, Error> {
    let net = &session.network;
    let provider = session.provider();
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| chain_error("asking for the chain id", net, e))?;
    if chain_id != net.chain_id {
        return Err(Error::WrongChain {
            endpoint: net.rpc_url.to_string(),
            expected: net.chain_id,
            got: chain_id,
        });
    }
    let block = session.head().await?;
    let balance = provider
        .get_balance(session.address())
        .await
        .map_err(|e| chain_error("reading the balance", net, e))?;

    let (storage_nodes, storage_error) = match net.connect().await {
        Ok(c) => {
            let mut list = Vec::new();
            for node in &c.nodes {
                let (ok, detail) = match node.status().await {
                    Ok(s) => (
                        true,
                        format!(
                            "{} peers, log synced to block {}, next tx {}",
                            s.connected_peers, s.log_sync_height, s.next_tx_seq
                        ),
                    ),
                    Err(e) => (false, e.to_string()),
                };
                list.push(StorageNodeStatus {
                    url: node.url().to_owned(),
                    ok,
                    detail,
                });
            }
            (list, None)
        }
        Err(e) => (Vec::new(), Some(e.to_string())),
    };

    let (epoch, threshold, key_nodes, key_network_error) = match session.key_network().await {
        Ok(k) => {
            let mut list = Vec::new();
            for node in &k.nodes {
                let (healthy, detail) = match &node.endpoint.http {
                    Some(url) => health_of(url).await?,
                    None => (false, "no HTTP URL known (libp2p only)".to_owned()),
                };
                list.push(KeyNodeStatus {
                    index: node.index,
                    http: node.endpoint.http.clone(),
                    p2p: node
                        .endpoint
                        .p2p
                        .as_ref()
                        .map(|(p, a)| format!("{a}/p2p/{p}")),
                    healthy,
                    detail,
                });
            }
            (Some(k.epoch), Some(k.threshold), list, None)
        }
        Err(e) => (None, None, Vec::new(), Some(e.to_string())),
    };
    let vault_status = match &net.vault {
        None => None,
        Some(endpoint) => Some(match &endpoint.http {
            Some(url) => {
                let (healthy, detail) = health_of(url).await?;
                let (key, key_trusted) = match super::custodial::vault_key_trust(session).await {
                    Ok(trust) => (trust.to_string(), true),
                    Err(e) => (e.to_string(), false),
                };
                VaultStatus {
                    http: Some(url.clone()),
                    healthy,
                    detail,
                    key,
                    key_trusted,
                }
            }
            None => VaultStatus {
                http: None,
                healthy: false,
                detail: "no HTTP URL known (libp2p only)".to_owned(),
                key: "unknown: no HTTP URL to read it from".to_owned(),
                key_trusted: false,
            },
        }),
    };
    Ok(StatusReport {
        network: net.name.clone(),
        rpc_url: net.rpc_url.to_string(),
        chain_id,
        block,
        account: session.address(),
        balance_wei: balance.to_string(),
        storage_nodes,
        storage_error,
        epoch,
        threshold,
        key_nodes,
        key_network_error,
        vault: vault_status,
    })
}

/// `GET {url}/health` of a key node or the vault: whether it answered 200, and what it said.
async fn health_of(url: &str) -> Result<(bool, String), Error> {
    let http = alloy::transports::http::reqwest::Client::builder()
        .timeout(HEALTH_TIMEOUT)
        .build()
        .map_err(|_| Error::Internal {
            what: "HTTP client for health probes",
        })?;
    Ok(match http.get(format!("{url}/health")).send().await {
        Ok(r) => (r.status().is_success(), format!("HTTP {}", r.status())),
        Err(e) => (false, format!("unreachable: {e}")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(utc(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn windows_in_words() {
        let (a, b) = (1_700_000_000, 1_800_000_000);
        assert_eq!(describe_window(0, 0, a), "no time limit");
        assert_eq!(describe_window(a, 0, a), "from 2023-11-14T22:13:20Z");
        assert!(describe_window(0, a, b).contains("ended"));
        assert!(describe_window(b, 0, a).contains("not open yet"));
        assert_eq!(
            describe_window(a, b, a + 1),
            "from 2023-11-14T22:13:20Z until 2027-01-15T08:00:00Z"
        );
    }

    #[test]
    fn empty_windows_are_refused_before_any_transaction() {
        assert!(check_window(0, false, 0, false).is_ok());
        assert!(check_window(5, false, 0, true).is_ok());
        assert!(check_window(0, true, 5, false).is_ok());
        assert!(check_window(5, false, 6, false).is_ok());
        for (nb, na) in [(6, 5), (5, 5)] {
            let text = check_window(nb, true, na, false).unwrap_err().to_string();
            assert!(
                text.contains("not earlier than") && text.contains("its current value"),
                "{text}"
            );
        }
    }
}
