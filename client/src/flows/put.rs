//! `put`: seal with a fresh K, upload the ciphertext to 0G, protect K (encrypted to the
//! key network's BLS key set, split into Shamir shares, or held by the custodial vault),
//! register the file, deposit shares or K.
//!
//! Crash safety: before anything leaves the device, a state file
//! `<state>/pending/<fileId>.json` (0600) records the salt, the sealed copy and K sealed
//! under a key derived from the user's private key. Running `put` on the same file again
//! finds it and resumes (the upload is idempotent, registration happens once); it is
//! deleted only after the registration and every deposit exist, so K is never lost in
//! between. Two `put`s of one file never run at once (`lock.rs`).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use zgvault_contracts::FileRegistry::{Condition, Registration};
use zgvault_contracts::{file_id, policy};
use zgvault_proto::request::{CustodialCapsule, Scheme, ShareDeposit};
use zgvault_proto::sealbox::BoxPublicKey;
use zgvault_proto::threshold::{ShamirCommitments, ShamirShare, split_new_file_key};
use zgvault_proto::{FileKey, Suite};

pub(crate) use super::custodial::{deposit_custodial_key, trusted_vault_key};
use super::{Session, chain_error, state_dir, write_private};
use crate::account::{open_local, seal_local};
use crate::error::Error;
use crate::keys::deposit_share;
use crate::storage::{UploadOptions, upload_file};
use crate::zg::{FileRoot, RootHasher};

const PENDING_VERSION: u32 = 1;
/// Said when the chain fails during registration: nothing is lost.
const RESUME_NOTE: &str = "waiting for the registration (the upload is kept and K is sealed \
                           locally: run `zgvault put` on the same file again to resume)";

/// Who may read a file, as given on the command line (`--gate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Holders of an AccessPass for this file (`pass`).
    Pass,
    /// At least `min` base units of an ERC-20 (`erc20:ADDR:MIN`).
    Erc20 { token: Address, min: U256 },
    /// Any token (`erc721:ADDR`) or token `id` (`erc721:ADDR:ID`) of an ERC-721.
    Erc721 { token: Address, id: Option<U256> },
    /// At least `min` of ERC-1155 id `id` (`erc1155:ADDR:ID:MIN`).
    Erc1155 { token: Address, id: U256, min: U256 },
    /// Exactly these accounts, through the allow-list (`allow:ADDR,ADDR`).
    Allow(Vec<Address>),
    /// Everyone (`public`).
    Public,
}

impl FromStr for Gate {
    type Err = String;

    fn from_str(s: &str) -> Result<Gate, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let addr = |t: &str| {
            t.parse::<Address>()
                .map_err(|_| format!("{t:?} is not an address (0x + 40 hex digits)"))
        };
        let num = |t: &str| U256::from_str(t).map_err(|_| format!("{t:?} is not a number"));
        match parts.as_slice() {
            ["pass"] => Ok(Gate::Pass),
            ["public"] => Ok(Gate::Public),
            ["erc20", t, m] => Ok(Gate::Erc20 {
                token: addr(t)?,
                min: num(m)?,
            }),
            ["erc721", t] => Ok(Gate::Erc721 {
                token: addr(t)?,
                id: None,
            }),
            ["erc721", t, i] => Ok(Gate::Erc721 {
                token: addr(t)?,
                id: Some(num(i)?),
            }),
            ["erc1155", t, i, m] => Ok(Gate::Erc1155 {
                token: addr(t)?,
                id: num(i)?,
                min: num(m)?,
            }),
            ["allow", list] => list
                .split(',')
                .filter(|a| !a.is_empty())
                .map(addr)
                .collect::<Result<Vec<_>, _>>()
                .map(Gate::Allow),
            _ => Err(format!(
                "unknown gate {s:?}: use pass, public, erc20:ADDR:MIN, erc721:ADDR[:ID], \
                 erc1155:ADDR:ID:MIN or allow:ADDR,..."
            )),
        }
    }
}

impl Gate {
    /// The policy clauses (OR) and allow-list entries of a set of gates.
    pub fn compile(gates: &[Gate], access_pass: Address) -> (Vec<Vec<Condition>>, Vec<Address>) {
        let mut clauses = Vec::new();
        let mut allow = Vec::new();
        for g in gates {
            match g {
                Gate::Pass => clauses.push(vec![policy::access_pass(access_pass)]),
                Gate::Public => clauses.extend(policy::public()),
                Gate::Erc20 { token, min } => clauses.push(vec![policy::erc20(*token, *min)]),
                Gate::Erc721 { token, id: None } => {
                    clauses.push(vec![policy::erc721_any(*token, U256::from(1))])
                }
                Gate::Erc721 {
                    token,
                    id: Some(id),
                } => clauses.push(vec![policy::erc721_id(*token, *id)]),
                Gate::Erc1155 { token, id, min } => {
                    clauses.push(vec![policy::erc1155(*token, *id, *min)])
                }
                Gate::Allow(list) => allow.extend(list.iter().copied()),
            }
        }
        (clauses, allow)
    }
}

/// How to `put`.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Who may read; empty means owner only (plus any `allow:` entries).
    pub gates: Vec<Gate>,
    /// Unix time after which nobody but the owner may read (0: never).
    pub not_after: u64,
    /// How K is protected.
    pub custody: Custody,
}

/// How a file's K is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Custody {
    /// K sealed to the file under the network's BLS key set; nodes return signature shares
    /// on the file's capsule label.
    #[default]
    Threshold,
    /// K split with Feldman VSS; each node holds one share, deposited by the owner.
    Shamir,
    /// K held by one custodial vault under its KEK (an HSM), deposited by the owner.
    Custodial,
}

impl Custody {
    /// The name used on the command line and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Custody::Threshold => "threshold",
            Custody::Shamir => "shamir",
            Custody::Custodial => "custodial",
        }
    }

    /// The scheme protecting K in this custody; its `as_u8` is the registry's code.
    pub const fn scheme(self) -> Scheme {
        match self {
            Custody::Threshold => Scheme::Bls,
            Custody::Shamir => Scheme::Shamir,
            Custody::Custodial => Scheme::Custodial,
        }
    }

    /// The custody a registered scheme stands for.
    pub const fn of_scheme(scheme: Scheme) -> Custody {
        match scheme {
            Scheme::Bls => Custody::Threshold,
            Scheme::Shamir => Custody::Shamir,
            Scheme::Custodial => Custody::Custodial,
        }
    }
}

impl FromStr for Custody {
    type Err = String;
    fn from_str(s: &str) -> Result<Custody, String> {
        match s {
            "threshold" | "bls" => Ok(Custody::Threshold),
            "shamir" => Ok(Custody::Shamir),
            "custodial" | "vault" => Ok(Custody::Custodial),
            other => Err(format!(
                "{other:?} is not a custody mode: use threshold, shamir or custodial"
            )),
        }
    }
}

/// What `put` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutReceipt {
    pub file_id: B256,
    pub root_hash: B256,
    pub owner: Address,
    /// Sealed (uploaded) size in bytes.
    pub size: u64,
    pub tx_seq: u64,
    /// The `Flow.submit` transaction; `None` when the network already had the data.
    pub upload_tx: Option<B256>,
    pub fee_wei: String,
    /// The `FileRegistry.register` transaction; `None` if a previous run registered it.
    pub register_tx: Option<B256>,
    /// Accounts added to the allow-list.
    pub allowed: Vec<Address>,
    /// This run finished a `put` an earlier run had started.
    pub resumed: bool,
    /// How K is protected.
    pub custody: Custody,
    /// The custodial vault holding K (custodial custody).
    pub vault: Option<String>,
}

/// Steps reported to the caller's progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStage {
    /// Sealing: plaintext bytes consumed of the total.
    Sealing,
    /// Uploading: segments acknowledged of the total.
    Uploading,
    /// Registering in the FileRegistry.
    Registering,
}

/// An unfinished `put` on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingPut {
    version: u32,
    /// The plaintext this is a sealed copy of (absolute).
    pub source: PathBuf,
    pub source_size: u64,
    pub owner: Address,
    pub chain_id: u64,
    pub registry: Address,
    pub salt: B256,
    pub file_id: B256,
    pub root_hash: B256,
    /// The sealed copy being uploaded.
    pub sealed: PathBuf,
    /// K sealed under the owner's key (hex); never K itself.
    sealed_key: String,
    /// Shamir custody: what still has to reach the nodes after registration.
    #[serde(default)]
    shamir: Option<PendingShamir>,
    /// Custodial custody: K still has to reach the vault after registration.
    #[serde(default)]
    custodial: bool,
}

/// The Shamir split of a pending `put`, kept until every node acknowledged its share.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingShamir {
    /// The Feldman commitments (hex): registered as the file's capsule.
    commitments: String,
    /// Share i sealed under the owner's key (hex), in node order.
    shares: Vec<String>,
}

fn pending_dir() -> PathBuf {
    state_dir().join("pending")
}

/// Every unfinished `put` in the state folder (unreadable files are skipped).
pub fn pending_puts() -> Vec<(PathBuf, PendingPut)> {
    let Ok(entries) = std::fs::read_dir(pending_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let state: PendingPut = serde_json::from_str(&text).ok()?;
            Some((p, state))
        })
        .collect()
}

/// Seals, uploads, protects K and registers `input`. `progress(stage, done, total)`.
pub async fn put(
    session: &Session,
    input: &Path,
    opts: &PutOptions,
    progress: &(dyn Fn(PutStage, u64, u64) + Sync),
) -> Result<PutReceipt, Error> {
    let source = std::fs::canonicalize(input).map_err(|e| Error::Io {
        action: "find",
        path: input.to_owned(),
        source: e,
    })?;
    let source_size = std::fs::metadata(&source)
        .map_err(|e| Error::Io {
            action: "read",
            path: source.clone(),
            source: e,
        })?
        .len();
    let owner = session.address();
    let registry = session.registry_address()?;
    let access_pass = session.access_pass_address()?;
    let (clauses, allow) = Gate::compile(&opts.gates, access_pass);

    // One put of this file at a time: both would find (or both create) the same state.
    let _lock = super::lock::lock(
        &put_lock_name(&source, owner, session.network.chain_id, registry),
        &format!("put of {}", source.display()),
    )?;
    let found = pending_puts().into_iter().find(|(_, p)| {
        p.source == source
            && p.source_size == source_size
            && p.owner == owner
            && p.chain_id == session.network.chain_id
            && p.registry == registry
    });
    let resumed = found.is_some();
    let (state_path, state, key) = match found {
        Some((path, state)) => {
            let key = unseal_key(session, &path, &state)?;
            (path, state, key)
        }
        None => {
            let shamir = match opts.custody {
                Custody::Threshold | Custody::Custodial => None,
                Custody::Shamir => {
                    let keys = session.key_network().await?;
                    Some((keys.threshold as usize, keys.nodes.len()))
                }
            };
            if opts.custody == Custody::Custodial {
                // Before anything is sealed or paid: is there a vault to hold K, with a key
                // the registry lists or the user pinned?
                trusted_vault_key(session).await?;
            }
            let custodial = opts.custody == Custody::Custodial;
            start(
                session,
                &source,
                source_size,
                registry,
                (shamir, custodial),
                progress,
            )?
        }
    };
    let file = session.file_ref(state.file_id)?;

    // Registered already (a crash after `register`, before the state was deleted)?
    let reg = session.registry()?;
    let exists = reg
        .exists(state.file_id)
        .call()
        .await
        .map_err(|e| chain_error("looking the file up", &session.network, e))?;

    let root = hash_sealed(&state.sealed)?;
    if root.root() != state.root_hash {
        return Err(Error::PendingState {
            path: state_path,
            message: format!("the sealed copy {} was changed", state.sealed.display()),
        });
    }
    let connected = session.network.connect().await?;
    let journal = state.sealed.with_extension("journal");
    let upload_opts = UploadOptions {
        journal: Some(journal.clone()),
        ..UploadOptions::default()
    };
    let receipt = upload_file(
        session.provider(),
        connected.flow,
        owner,
        &connected.nodes,
        &state.sealed,
        &root,
        &upload_opts,
        &|done, total| progress(PutStage::Uploading, done, total),
    )
    .await?;

    let mut register_tx = None;
    if !exists {
        progress(PutStage::Registering, 0, 1);
        let (custody, capsule) = match &state.shamir {
            None if state.custodial => {
                let vault_key = trusted_vault_key(session).await?;
                (
                    Custody::Custodial,
                    CustodialCapsule::new(&file, vault_key, &key).to_bytes(),
                )
            }
            None => {
                let keys = session.key_network().await?;
                (
                    Custody::Threshold,
                    keys.key_set.encrypt_file_key(&file, &key)?.to_bytes(),
                )
            }
            Some(shamir) => (
                Custody::Shamir,
                commitments_of(&state_path, shamir)?.to_bytes(),
            ),
        };
        let registration = Registration {
            rootHash: receipt.root,
            txSeq: U256::from(receipt.tx_seq),
            size: U256::from(root.size()),
            scheme: custody.scheme().as_u8(),
            capsule: Bytes::from(capsule),
            notBefore: 0,
            notAfter: opts.not_after,
            policy: clauses,
        };
        let r = reg
            .register(state.salt, registration)
            .send()
            .await
            .map_err(|e| register_error(session, state.file_id, e))?
            .get_receipt()
            .await
            .map_err(|e| chain_error(RESUME_NOTE, &session.network, e))?;
        if !r.status() {
            return Err(Error::Reverted {
                during: format!("registering file {}", state.file_id),
                reason: format!("transaction {} reverted", r.transaction_hash),
                advice: "the upload is kept and K is sealed locally: run `zgvault put` on \
                         the same file again to resume",
            });
        }
        register_tx = Some(r.transaction_hash);
        progress(PutStage::Registering, 1, 1);
    }
    for account in &allow {
        super::manage::send_allow(session, state.file_id, *account, true).await?;
    }
    if let Some(shamir) = &state.shamir {
        deposit_shares(session, &state_path, &state, shamir).await?;
    }
    let mut vault_url = None;
    if state.custodial {
        vault_url = Some(deposit_custodial_key(session, &state_path, state.file_id, &key).await?);
    }
    let custody = match (&state.shamir, state.custodial) {
        (Some(_), _) => Custody::Shamir,
        (None, true) => Custody::Custodial,
        (None, false) => Custody::Threshold,
    };

    // The registration exists: K lives in the capsule now; forget the local copy. The sealed
    // copy and the journal are leftovers of the upload; the state file holds K, so failing
    // to delete it is an error the user must hear about.
    for p in [&state.sealed, &journal] {
        if let Err(e) = super::remove_if_present(p) {
            tracing::warn!(path = %p.display(), error = %e, "could not delete an upload leftover");
        }
    }
    super::remove_if_present(&state_path).map_err(|source| Error::KeyStateNotRemoved {
        file_id: state.file_id,
        path: state_path.clone(),
        source,
    })?;
    Ok(PutReceipt {
        file_id: state.file_id,
        root_hash: receipt.root,
        owner,
        size: root.size(),
        tx_seq: receipt.tx_seq,
        upload_tx: receipt.tx_hash,
        fee_wei: receipt.fee.to_string(),
        register_tx,
        allowed: allow,
        resumed,
        custody,
        vault: vault_url,
    })
}

/// A fresh `put`: K, salt, sealed copy and state file, written before any upload.
fn start(
    session: &Session,
    source: &Path,
    source_size: u64,
    registry: Address,
    (shamir, custodial): (Option<(usize, usize)>, bool),
    progress: &(dyn Fn(PutStage, u64, u64) + Sync),
) -> Result<(PathBuf, PendingPut, FileKey), Error> {
    let salt = B256::from(*FileKey::generate()?.as_bytes());
    let owner = session.address();
    let id = file_id(owner, salt);
    let (key, pending_shamir) = match shamir {
        None => (FileKey::generate()?, None),
        Some((needed, nodes)) => {
            let split = split_new_file_key(needed, nodes)?;
            let shares = split
                .shares
                .iter()
                .map(|share| {
                    let aad = share_aad(id, share.node_index());
                    seal_local(session.signer(), share.to_bytes().as_slice(), &aad).map(hex::encode)
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let pending = PendingShamir {
                commitments: hex::encode(split.commitments.to_bytes()),
                shares,
            };
            (split.key, Some(pending))
        }
    };
    let dir = pending_dir();
    super::create_private_dir(&dir)?;
    let sealed = dir.join(format!("{id}.zgv"));
    let made = crate::sealing::seal_file(source, &sealed, &key, Suite::default(), &|n| {
        progress(PutStage::Sealing, n, source_size)
    })?;
    {
        // Ciphertext only, but nobody else needs to read it either.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sealed, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            Error::Io {
                action: "restrict the permissions of",
                path: sealed.clone(),
                source: e,
            }
        })?;
    }
    let sealed_key = seal_local(session.signer(), key.as_bytes(), id.as_slice())?;
    let state = PendingPut {
        version: PENDING_VERSION,
        source: source.to_owned(),
        source_size,
        owner,
        chain_id: session.network.chain_id,
        registry,
        salt,
        file_id: id,
        root_hash: made.root.root(),
        sealed,
        sealed_key: hex::encode(sealed_key),
        shamir: pending_shamir,
        custodial,
    };
    let path = dir.join(format!("{id}.json"));
    write_state(&path, &state)?;
    Ok((path, state, key))
}

fn write_state(path: &Path, state: &PendingPut) -> Result<(), Error> {
    let text = serde_json::to_vec_pretty(state).map_err(|_| Error::Internal {
        what: "serializing the pending state",
    })?;
    write_private(path, &text)
}

/// The lock of `put`s of one source file by one account on one registry.
pub(crate) fn put_lock_name(
    source: &Path,
    owner: Address,
    chain_id: u64,
    registry: Address,
) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut id = source.as_os_str().as_bytes().to_vec();
    id.extend_from_slice(owner.as_slice());
    id.extend_from_slice(&chain_id.to_be_bytes());
    id.extend_from_slice(registry.as_slice());
    let hash = alloy::primitives::keccak256(&id);
    format!("put-{}", hex::encode(hash.get(..12).unwrap_or_default()))
}

fn share_aad(file_id: B256, index: u32) -> Vec<u8> {
    let mut aad = file_id.to_vec();
    aad.extend_from_slice(&index.to_be_bytes());
    aad
}

fn commitments_of(path: &Path, shamir: &PendingShamir) -> Result<ShamirCommitments, Error> {
    let bytes = hex::decode(&shamir.commitments).map_err(|_| Error::PendingState {
        path: path.to_owned(),
        message: "the Shamir commitments are not hex".into(),
    })?;
    Ok(ShamirCommitments::from_bytes(&bytes)?)
}

/// Sends every node its share (after the registration exists: nodes check the owner
/// on-chain). All must acknowledge; otherwise the pending state stays for a retry.
async fn deposit_shares(
    session: &Session,
    path: &Path,
    state: &PendingPut,
    shamir: &PendingShamir,
) -> Result<(), Error> {
    let bad = |message: String| Error::PendingState {
        path: path.to_owned(),
        message,
    };
    let commitments = commitments_of(path, shamir)?;
    let keys = session.key_network().await?;
    let file = session.file_ref(state.file_id)?;
    for (i, sealed) in shamir.shares.iter().enumerate() {
        let index = u32::try_from(i).map_err(|_| bad("too many shares".into()))?;
        let node = keys
            .nodes
            .iter()
            .find(|n| n.index == index)
            .ok_or_else(|| {
                bad(format!(
                    "no key node {index} in the NodeRegistry to hold share {index}"
                ))
            })?;
        let sealed = hex::decode(sealed).map_err(|_| bad(format!("share {index} is not hex")))?;
        let plain = open_local(session.signer(), &sealed, &share_aad(state.file_id, index))?
            .ok_or_else(|| {
                bad(format!(
                    "share {index} does not open with this account's key"
                ))
            })?;
        let share = ShamirShare::from_bytes(index, &plain)?;
        let deposit = ShareDeposit::new(
            file,
            &share,
            &BoxPublicKey::from_bytes(node.enc_key),
            commitments.clone(),
            super::now_secs(),
        )?
        .sign(session.signer().credential())?;
        deposit_share(session.channel(), node, deposit).await?;
    }
    Ok(())
}

fn unseal_key(session: &Session, path: &Path, state: &PendingPut) -> Result<FileKey, Error> {
    let bad = |message: &str| Error::PendingState {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    if state.version != PENDING_VERSION {
        return Err(bad("unknown version"));
    }
    let sealed = hex::decode(&state.sealed_key).map_err(|_| bad("the sealed key is not hex"))?;
    let plain = open_local(session.signer(), &sealed, state.file_id.as_slice())?
        .ok_or_else(|| bad("the file key does not open with this account's key"))?;
    Ok(FileKey::from_slice(&plain)?)
}

fn hash_sealed(path: &Path) -> Result<FileRoot, Error> {
    use std::io::Read;
    let io = |e| Error::Io {
        action: "read the sealed copy",
        path: path.to_owned(),
        source: e,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = RootHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default())?;
    }
    h.finish()
}

fn register_error(session: &Session, file_id: B256, e: alloy::contract::Error) -> Error {
    super::manage::send_error(
        session,
        &format!("registering file {file_id}"),
        e,
        "the upload is kept and K is sealed locally: fix the cause (e.g. the --gate) and \
         run `zgvault put` on the same file again to resume",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn custody_modes_parse_and_name_the_real_ones_when_wrong() {
        for (text, custody) in [
            ("threshold", Custody::Threshold),
            ("bls", Custody::Threshold),
            ("shamir", Custody::Shamir),
            ("custodial", Custody::Custodial),
        ] {
            assert_eq!(text.parse::<Custody>().unwrap(), custody);
        }
        assert_eq!(Custody::Custodial.name(), "custodial");
        let err = "hsm".parse::<Custody>().unwrap_err();
        assert!(err.contains("threshold, shamir or custodial"), "{err}");
    }

    #[test]
    fn put_locks_differ_per_file_account_and_network() {
        let (a, r) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let base = put_lock_name(Path::new("/x/a.csv"), a, 1, r);
        assert_eq!(base, put_lock_name(Path::new("/x/a.csv"), a, 1, r));
        assert!(base.starts_with("put-") && base.len() == 4 + 24, "{base}");
        for other in [
            put_lock_name(Path::new("/x/b.csv"), a, 1, r),
            put_lock_name(Path::new("/x/a.csv"), r, 1, r),
            put_lock_name(Path::new("/x/a.csv"), a, 2, r),
            put_lock_name(Path::new("/x/a.csv"), a, 1, a),
        ] {
            assert_ne!(base, other);
        }
    }
}
