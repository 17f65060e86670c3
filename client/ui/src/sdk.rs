//! The adapter: the only module that calls the SDK (`zgvault_client::flows` for the flows,
//! `zgvault_client::account` for the keystore and config). Every flow is the CLI's own
//! function, and the config file resolves into a network as the CLI's does
//! (`Config::network`); this file only turns the UI's inputs into the SDK's types and its
//! receipts into JSON.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use serde_json::{Value, json};
use zeroize::Zeroizing;
use zgvault_client::account::{self, Config, Passphrase, config_path};
use zgvault_client::flows::{self, Custody, GetStage, PutOptions, PutStage};
use zgvault_client::network::Network;

use crate::error::Error;

/// The signed-in user as the SDK's flows take them.
pub(crate) type FlowSession = flows::Session;

/// The unlocked user: what makes a [`FlowSession`], kept in memory (never the passphrase).
///
/// Each operation gets a fresh `FlowSession`. One session could serve them all as far as
/// transactions go (the SDK takes every nonce from the chain), but a session resolves the
/// key network and whether the vault's key may be trusted once and keeps them: right for
/// one CLI command, stale for a server that runs for days (a vault the registry retires
/// meanwhile must take no new key). Operations that send transactions still take turns
/// (`AppState::chain_turn`): two sent at once from one account would read the same
/// pending nonce from the chain.
pub(crate) struct Session {
    network: Network,
    signer: alloy::signers::local::PrivateKeySigner,
    manifest: Option<PathBuf>,
}

impl Session {
    /// A session, checked by making one SDK session (the channel to the nodes must build).
    fn new(
        network: Network,
        signer: alloy::signers::local::PrivateKeySigner,
        manifest: Option<PathBuf>,
    ) -> Result<Session, Error> {
        let session = Session {
            network,
            signer,
            manifest,
        };
        session.flow_session()?;
        Ok(session)
    }

    /// An SDK session for one operation.
    pub(crate) fn flow_session(&self) -> Result<FlowSession, Error> {
        Ok(FlowSession::new(
            self.network.clone(),
            self.signer.clone(),
            self.manifest.clone(),
        )?)
    }

    pub(crate) fn address(&self) -> Address {
        self.signer.address()
    }

    pub(crate) fn network_name(&self) -> &str {
        &self.network.name
    }

    pub(crate) fn chain_id(&self) -> u64 {
        self.network.chain_id
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("address", &self.address())
            .field("network", &self.network.name)
            .finish_non_exhaustive()
    }
}

pub(crate) use zgvault_client::account::state_dir;

/// What the start page needs to know before anyone signs in.
pub(crate) fn identity_state(network: Option<&str>) -> Result<Value, Error> {
    let path = config_path();
    let config = Config::load(&path)?;
    let keystore = config
        .as_ref()
        .map(|c| c.keystore.clone())
        .unwrap_or_else(|| Config::default().keystore);
    Ok(json!({
        "configured": config.is_some(),
        "keystoreExists": keystore.is_file(),
        "keystore": keystore,
        "config": path,
        "network": config.map(|c| c.network).or(network.map(str::to_owned))
            .unwrap_or_else(|| Config::default().network),
    }))
}

/// First run: a new key (or `import`, hex) in the CLI's keystore under `passphrase`, and
/// the config file, as `zgvault init` writes them. Refuses when a keystore exists.
pub(crate) fn create_identity(
    passphrase: &Passphrase,
    import: Option<Zeroizing<String>>,
    network: Option<&str>,
) -> Result<Session, Error> {
    let path = config_path();
    let mut config = Config::load(&path)?.unwrap_or_default();
    if let Some(n) = network {
        config.network = n.to_owned();
    }
    if config.keystore.is_file() {
        return Err(Error::Identity {
            message: format!(
                "a key already exists at {}: unlock it with its passphrase instead",
                config.keystore.display()
            ),
        });
    }
    // Check the network before writing anything.
    let (network, manifest) = config.network()?;
    let signer = account::create_keystore(&config.keystore, passphrase, import)?;
    config.store(&path)?;
    Session::new(network, signer, manifest)
}

/// Later runs: unlock the keystore the config names.
pub(crate) fn unlock(passphrase: &Passphrase) -> Result<Session, Error> {
    let path = config_path();
    let config = Config::load(&path)?.ok_or_else(|| Error::Identity {
        message: format!(
            "no identity yet ({} does not exist): create one or import a key",
            path.display()
        ),
    })?;
    let (network, manifest) = config.network()?;
    let signer = match account::load_keystore(&config.keystore, passphrase) {
        Ok(signer) => signer,
        // The CLI's message names its environment variable and prompt; here it is a form.
        Err(zgvault_client::Error::Keystore { path, .. }) if path.is_file() => {
            return Err(Error::Identity {
                message: format!(
                    "this passphrase does not unlock the key in {}: type it again (it is \
                     the one chosen when the key was made)",
                    path.display()
                ),
            });
        }
        Err(e) => return Err(e.into()),
    };
    Session::new(network, signer, manifest)
}

pub(crate) fn passphrase(text: String) -> Passphrase {
    Passphrase::new(text)
}

/// A progress stage of `put` or `get` as the page names it.
pub(crate) fn put_stage(stage: PutStage) -> &'static str {
    match stage {
        PutStage::Sealing => "sealing",
        PutStage::Uploading => "uploading to 0G",
        PutStage::Registering => "registering",
    }
}

pub(crate) fn get_stage(stage: GetStage) -> &'static str {
    match stage {
        GetStage::Confirming => "waiting for confirmations",
        GetStage::Key => "getting the key",
        GetStage::Download => "downloading from 0G",
    }
}

/// Who may read, in the CLI's `--gate` syntax (`pass`, `allow:ADDR,…`, `erc20:ADDR:MIN`,
/// `erc721:ADDR[:ID]`, `erc1155:ADDR:ID:MIN`, `public`); parsed by the SDK.
fn gates(texts: &[String]) -> Result<Vec<flows::Gate>, Error> {
    texts
        .iter()
        .map(|t| t.parse().map_err(|message| Error::BadRequest { message }))
        .collect()
}

fn custody(text: &str) -> Result<Custody, Error> {
    text.parse()
        .map_err(|message| Error::BadRequest { message })
}

/// The settings of `zgvault put` (`--gate`, `--custody`, `--not-after`).
pub(crate) fn put_options(
    gate_texts: &[String],
    custody_text: &str,
    not_after: u64,
) -> Result<PutOptions, Error> {
    Ok(PutOptions {
        gates: gates(gate_texts)?,
        not_after,
        custody: custody(custody_text)?,
    })
}

/// `zgvault put`, of `size` bytes read from `plaintext` (a browser's upload as it arrives):
/// sealed on the way, never written to disk.
pub(crate) async fn put_reader(
    user: &FlowSession,
    name: &str,
    size: u64,
    plaintext: &mut (dyn std::io::Read + Send),
    opts: &PutOptions,
    progress: &(dyn Fn(PutStage, u64, u64) + Sync),
) -> Result<Value, Error> {
    to_json(&flows::put_reader(user, name, size, plaintext, opts, progress).await?)
}

/// `zgvault get`: K recovered, ciphertext verified, plaintext written to `out`.
pub(crate) async fn get(
    user: &FlowSession,
    file_id: B256,
    out: &Path,
    progress: &(dyn Fn(GetStage, u64, u64) + Sync),
) -> Result<Value, Error> {
    to_json(&flows::get(user, file_id, out, progress).await?)
}

/// `zgvault ls`.
pub(crate) async fn list(user: &FlowSession) -> Result<Value, Error> {
    to_json(&flows::list_files(user, &|_, _| {}).await?)
}

/// `zgvault info`.
pub(crate) async fn info(user: &FlowSession, file_id: B256) -> Result<Value, Error> {
    Ok(flows::info(user, file_id).await?)
}

/// `zgvault grant` (`allow_list`: the allow-list instead of a pass).
pub(crate) async fn grant(
    user: &FlowSession,
    file_id: B256,
    to: Address,
    allow_list: bool,
) -> Result<Value, Error> {
    to_json(&flows::grant(user, file_id, to, allow_list).await?)
}

/// `zgvault revoke`.
pub(crate) async fn revoke(
    user: &FlowSession,
    file_id: B256,
    from: Address,
    deny: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Value, Error> {
    to_json(&flows::revoke(user, file_id, from, deny, progress).await?)
}

/// `zgvault policy --not-before/--not-after` (`None` keeps a bound, `Some(0)` removes it).
pub(crate) async fn set_window(
    user: &FlowSession,
    file_id: B256,
    not_before: Option<u64>,
    not_after: Option<u64>,
) -> Result<Value, Error> {
    let tx = user.set_window(file_id, not_before, not_after).await?;
    Ok(json!({ "fileId": file_id, "tx": tx, "unchanged": tx.is_none() }))
}

/// `zgvault policy --set`: replaces who may read (the gates' policy clauses; `allow:`
/// entries are granted one by one, as `put` does).
pub(crate) async fn set_policy(
    user: &FlowSession,
    file_id: B256,
    gate_texts: &[String],
) -> Result<Value, Error> {
    let access_pass = user.network.access_pass.ok_or_else(|| Error::BadRequest {
        message: format!("network {} has no AccessPass contract", user.network.name),
    })?;
    let (clauses, allow) = flows::Gate::compile(&gates(gate_texts)?, access_pass);
    let tx = flows::set_policy(user, file_id, clauses).await?;
    let mut allowed = Vec::new();
    for account in allow {
        allowed.push(to_json(&flows::grant(user, file_id, account, true).await?)?);
    }
    Ok(json!({ "fileId": file_id, "tx": tx, "allowed": allowed }))
}

/// `zgvault custody --to`.
pub(crate) async fn move_custody(
    user: &FlowSession,
    file_id: B256,
    to: &str,
    progress: &(dyn Fn(&'static str) + Sync),
) -> Result<Value, Error> {
    to_json(&flows::move_custody(user, file_id, custody(to)?, progress).await?)
}

/// `zgvault shred`.
pub(crate) async fn shred(user: &FlowSession, file_id: B256) -> Result<Value, Error> {
    to_json(&flows::shred(user, file_id).await?)
}

/// What `shred` never undoes (the SDK's own sentence).
pub(crate) const SHRED_NOTE: &str = flows::SHRED_NOTE;

/// `zgvault status`.
pub(crate) async fn status(user: &FlowSession) -> Result<Value, Error> {
    to_json(&flows::status(user).await?)
}

/// Whether an SDK error is the chain's or the nodes' "no": the page shows the refusal
/// page for these.
pub(crate) fn is_access_denied(e: &Error) -> bool {
    matches!(
        e,
        Error::Sdk(zgvault_client::Error::AccessDenied { .. })
            | Error::Sdk(zgvault_client::Error::KeyRequestRefused { .. })
    )
}

/// The registry's "no" for this account, from an [`info`] answer, as the SDK's error
/// (the page shows its reason: revoked, window ended or not open, no pass); `None` when
/// it may read.
pub(crate) fn refusal(user: &FlowSession, file_id: B256, info: &Value) -> Option<Error> {
    if info["you"]["canRead"] != json!(false) {
        return None;
    }
    Some(Error::Sdk(zgvault_client::Error::AccessDenied {
        file_id,
        user: user.address(),
        owner: info["owner"]
            .as_str()
            .and_then(|o| o.parse().ok())
            .unwrap_or_default(),
        reason: info["you"]["reason"]
            .as_str()
            .unwrap_or("refused")
            .to_owned(),
    }))
}

fn to_json(value: &impl serde::Serialize) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::BadRequest {
        message: format!("cannot encode the answer: {e}"),
    })
}
