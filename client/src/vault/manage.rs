//! Owner and network commands: `grant`, `revoke`, `ls`, `info`, `policy`, `status`.
//! Grant and revoke change who may read without re-encrypting anything (DESIGN §3).

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use serde::Serialize;
use serde_json::{Value, json};
use zgvault_contracts::FileRegistry::Condition;
use zgvault_contracts::{AccessPass, reason_is_ok, reason_text};

use super::{Vault, chain_error};
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
}

/// What `revoke` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeReceipt {
    pub file_id: B256,
    pub from: Address,
    /// Passes burned.
    pub burned: Vec<U256>,
    /// Removed from the allow-list.
    pub disallowed: bool,
    /// Added to the deny list.
    pub denied: bool,
    pub txs: Vec<B256>,
    /// Whether the registry still lets them read (e.g. through a token gate).
    pub can_still_read: bool,
    pub reason: String,
}

/// One of my files, from its `FileRegistered` event and current record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSummary {
    pub file_id: B256,
    pub root_hash: B256,
    pub size: U256,
    pub scheme: u8,
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
}

async fn confirm<T>(
    vault: &Vault,
    during: &str,
    sent: Result<alloy::providers::PendingTransactionBuilder<T>, alloy::contract::Error>,
) -> Result<B256, Error>
where
    T: alloy::network::Network,
{
    let pending = sent.map_err(|e| {
        send_error(
            vault,
            during,
            e,
            "check the file id and that you are its owner (`zgvault info`)",
        )
    })?;
    let receipt = pending
        .get_receipt()
        .await
        .map_err(|e| chain_error(during, &vault.network, e))?;
    use alloy::network::ReceiptResponse;
    if !receipt.status() {
        return Err(Error::Reverted {
            during: during.to_owned(),
            reason: format!("transaction {} reverted", receipt.transaction_hash()),
            advice: "check the file id and that you are its owner (`zgvault info`)",
        });
    }
    Ok(receipt.transaction_hash())
}

/// A failed send: the chain unreachable, or the contract refusing (with `advice`).
pub(crate) fn send_error(
    vault: &Vault,
    during: &str,
    e: alloy::contract::Error,
    advice: &'static str,
) -> Error {
    match e {
        alloy::contract::Error::TransportError(t) if t.as_error_resp().is_none() => {
            chain_error(during, &vault.network, t)
        }
        e => Error::Reverted {
            during: during.to_owned(),
            reason: decode(e),
            advice,
        },
    }
}

/// A contract error with the custom revert decoded when it is one of ours.
pub(crate) fn decode(e: alloy::contract::Error) -> String {
    use zgvault_contracts::AccessPass::AccessPassErrors;
    use zgvault_contracts::FileRegistry::FileRegistryErrors;
    if let Some(d) = e.as_decoded_interface_error::<FileRegistryErrors>() {
        return format!("{d:?}");
    }
    if let Some(d) = e.as_decoded_interface_error::<AccessPassErrors>() {
        return format!("{d:?}");
    }
    e.to_string()
}

/// Only the owner may change a file; say so before paying for a reverting transaction.
async fn require_owner(vault: &Vault, file_id: B256) -> Result<(), Error> {
    let record = vault.record(file_id).await?;
    if record.owner != vault.address() {
        return Err(Error::Config {
            message: format!(
                "file {file_id} belongs to {}, not to you ({}): only its owner can change \
                 who may read it",
                record.owner,
                vault.address()
            ),
        });
    }
    Ok(())
}

pub(crate) async fn send_allow(
    vault: &Vault,
    file_id: B256,
    account: Address,
    allow: bool,
) -> Result<B256, Error> {
    let registry = vault.registry()?;
    if allow {
        confirm(
            vault,
            "adding to the allow-list",
            registry.allow(file_id, account).send().await,
        )
        .await
    } else {
        confirm(
            vault,
            "removing from the allow-list",
            registry.disallow(file_id, account).send().await,
        )
        .await
    }
}

/// Lets `to` read `file_id`: mints an AccessPass, or (`allow_list`) adds them to the
/// allow-list.
pub async fn grant(
    vault: &Vault,
    file_id: B256,
    to: Address,
    allow_list: bool,
) -> Result<GrantReceipt, Error> {
    require_owner(vault, file_id).await?;
    if allow_list {
        let tx = send_allow(vault, file_id, to, true).await?;
        return Ok(GrantReceipt {
            file_id,
            to,
            how: "allow",
            token_id: None,
            tx,
        });
    }
    let pass = AccessPass::new(vault.access_pass_address()?, vault.provider());
    let tx = confirm(
        vault,
        "minting an AccessPass",
        pass.mint(file_id, to).send().await,
    )
    .await?;
    let token_id = pass
        .PassMinted_filter()
        .topic1(file_id)
        .topic3(to.into_word())
        .from_block(vault.first_block())
        .query()
        .await
        .ok()
        .and_then(|logs| {
            logs.into_iter()
                .find(|(_, log)| log.transaction_hash == Some(tx))
                .map(|(ev, _)| ev.tokenId)
        });
    Ok(GrantReceipt {
        file_id,
        to,
        how: "pass",
        token_id,
        tx,
    })
}

/// Stops future key releases to `from`: burns every pass minted to them that they still
/// hold, removes them from the allow-list, and with `deny` adds them to the deny list.
pub async fn revoke(
    vault: &Vault,
    file_id: B256,
    from: Address,
    deny: bool,
) -> Result<RevokeReceipt, Error> {
    require_owner(vault, file_id).await?;
    let registry = vault.registry()?;
    let pass = AccessPass::new(vault.access_pass_address()?, vault.provider());
    let minted = pass
        .PassMinted_filter()
        .topic1(file_id)
        .from_block(vault.first_block())
        .query()
        .await
        .map_err(|e| chain_error("reading PassMinted events", &vault.network, e))?;
    let mut burned = Vec::new();
    let mut txs = Vec::new();
    for (ev, _) in minted {
        // Burned passes revert `ownerOf`; passes moved to someone else are not theirs.
        let holder = pass.ownerOf(ev.tokenId).call().await.ok();
        if holder == Some(from) {
            let tx = confirm(
                vault,
                "burning an AccessPass",
                pass.burn(ev.tokenId).send().await,
            )
            .await?;
            burned.push(ev.tokenId);
            txs.push(tx);
        }
    }
    let allowed = registry
        .isAllowed(file_id, from)
        .call()
        .await
        .map_err(|e| chain_error("reading the allow-list", &vault.network, e))?;
    if allowed {
        txs.push(send_allow(vault, file_id, from, false).await?);
    }
    if deny {
        txs.push(
            confirm(
                vault,
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
        .map_err(|e| chain_error("checking access", &vault.network, e))?;
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

/// Files registered by this account (from `FileRegistered` events).
pub async fn list_files(vault: &Vault) -> Result<Vec<FileSummary>, Error> {
    let registry = vault.registry()?;
    let events = registry
        .FileRegistered_filter()
        .topic2(vault.address().into_word())
        .from_block(vault.first_block())
        .query()
        .await
        .map_err(|e| chain_error("reading FileRegistered events", &vault.network, e))?;
    let mut out = Vec::with_capacity(events.len());
    for (ev, log) in events {
        let owner = registry
            .fileOwner(ev.fileId)
            .call()
            .await
            .map_err(|e| chain_error("reading a file's owner", &vault.network, e))?;
        out.push(FileSummary {
            file_id: ev.fileId,
            root_hash: ev.rootHash,
            size: ev.size,
            scheme: ev.scheme,
            block: log.block_number,
            owner,
        });
    }
    Ok(out)
}

/// Everything the registry knows about `file_id`, and whether this account may read it.
pub async fn info(vault: &Vault, file_id: B256) -> Result<Value, Error> {
    let record = vault.record(file_id).await?;
    let registry = vault.registry()?;
    let policy = registry
        .policyOf(file_id)
        .call()
        .await
        .map_err(|e| chain_error("reading the policy", &vault.network, e))?;
    let check = registry
        .accessCheck(file_id, vault.address())
        .call()
        .await
        .map_err(|e| chain_error("checking access", &vault.network, e))?;
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
        "registeredAt": record.registeredAt,
        "policy": describe_policy(&policy),
        "you": {
            "address": vault.address(),
            "canRead": reason_is_ok(check.reason),
            "reason": reason_text(check.reason),
        },
    }))
}

/// Replaces the policy of `file_id` (owner only).
pub async fn set_policy(
    vault: &Vault,
    file_id: B256,
    policy: Vec<Vec<Condition>>,
) -> Result<B256, Error> {
    require_owner(vault, file_id).await?;
    let registry = vault.registry()?;
    confirm(
        vault,
        "setting the policy",
        registry.setPolicy(file_id, policy).send().await,
    )
    .await
}

fn scheme_name(scheme: u8) -> &'static str {
    match scheme {
        zgvault_contracts::SCHEME_BLS => "bls",
        zgvault_contracts::SCHEME_SHAMIR => "shamir",
        zgvault_contracts::SCHEME_CUSTODIAL => "custodial",
        _ => "unknown",
    }
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
pub async fn status(vault: &Vault) -> Result<StatusReport, Error> {
    let net = &vault.network;
    let provider = vault.provider();
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| chain_error("asking for the chain id", net, e))?;
    if chain_id != net.chain_id {
        return Err(Error::WrongChain {
            endpoint: net.rpc_url.clone(),
            expected: net.chain_id,
            got: chain_id,
        });
    }
    let block = vault.head().await?;
    let balance = provider
        .get_balance(vault.address())
        .await
        .map_err(|e| chain_error("reading the balance", net, e))?;

    let (storage_nodes, storage_error) = match net.connect().await {
        Ok(c) => {
            let mut list = Vec::new();
            for node in &c.nodes {
                let (ok, detail) = match node.status().await {
                    Ok(s) => (true, format!("{s:?}")),
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

    let (epoch, threshold, key_nodes, key_network_error) = match vault.key_network().await {
        Ok(k) => {
            let http = alloy::transports::http::reqwest::Client::builder()
                .timeout(HEALTH_TIMEOUT)
                .build()
                .map_err(|e| Error::Config {
                    message: format!("cannot build an HTTP client: {e}"),
                })?;
            let mut list = Vec::new();
            for node in &k.nodes {
                let (healthy, detail) = match &node.http {
                    Some(url) => match http.get(format!("{url}/health")).send().await {
                        Ok(r) => (r.status().is_success(), format!("HTTP {}", r.status())),
                        Err(e) => (false, format!("unreachable: {e}")),
                    },
                    None => (false, "no HTTP URL known (libp2p only)".to_owned()),
                };
                list.push(KeyNodeStatus {
                    index: node.index,
                    http: node.http.clone(),
                    p2p: node.p2p.as_ref().map(|(p, a)| format!("{a}/p2p/{p}")),
                    healthy,
                    detail,
                });
            }
            (Some(k.epoch), Some(k.threshold), list, None)
        }
        Err(e) => (None, None, Vec::new(), Some(e.to_string())),
    };
    Ok(StatusReport {
        network: net.name.clone(),
        rpc_url: net.rpc_url.clone(),
        chain_id,
        block,
        account: vault.address(),
        balance_wei: balance.to_string(),
        storage_nodes,
        storage_error,
        epoch,
        threshold,
        key_nodes,
        key_network_error,
    })
}
