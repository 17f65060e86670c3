//! `put`: seal with a fresh K, upload the ciphertext to 0G, protect K (encrypted to the
//! key network's BLS key set, split into Shamir shares, or held by the custodial vault),
//! register the file, deposit shares or K.
//!
//! Crash safety: before anything leaves the device, a state file
//! `<state>/pending/<fileId>.json` (0600, `pending.rs`) records the salt, the sealed copy,
//! the custody plan and K sealed under a key derived from the user's private key. Running
//! `put` on the same file again finds it and resumes (the upload is idempotent,
//! registration happens once); it is deleted only after the registration and every deposit
//! exist, so K is never lost in between. Two `put`s of one file never run at once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use zgvault_contracts::FileRegistry::{Condition, Registration};
use zgvault_contracts::{file_id, policy};
use zgvault_proto::request::{CustodialCapsule, Scheme, ShareDeposit};
use zgvault_proto::sealbox::BoxPublicKey;
use zgvault_proto::threshold::split_new_file_key;
use zgvault_proto::{FileKey, Metadata, Suite};

pub(crate) use super::custodial::{deposit_custodial_key, trusted_vault_key};
use super::pending::{self, CustodyPlan, NewPut, PendingPut, ShamirPlan};
use super::{Session, create_private_dir};
use crate::error::{Error, io, quoted};
use crate::files::PRIVATE;
use crate::keys::deposit_share;
use crate::sealing::media_type_of;
use crate::storage::{UploadOptions, UploadReceipt, upload_file};
use crate::zg::{FileRoot, RootHasher};

/// Said when registration fails: nothing is lost.
const RESUME_ADVICE: &str = "the upload is kept and K is sealed locally: fix the cause (e.g. \
                             the --gate) and run `zgvault put` on the same file again to resume";

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
                .map_err(|_| format!("{} is not an address (0x + 40 hex digits)", quoted(t)))
        };
        let num = |t: &str| U256::from_str(t).map_err(|_| format!("{} is not a number", quoted(t)));
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
                "unknown gate {}: use pass, public, erc20:ADDR:MIN, erc721:ADDR[:ID], \
                 erc1155:ADDR:ID:MIN or allow:ADDR,...",
                quoted(s)
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
                "{} is not a custody mode: use threshold, shamir or custodial",
                quoted(other)
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

/// A put ready to upload: its state on disk, K, and the sealed copy's 0G root.
struct Prepared {
    path: PathBuf,
    state: PendingPut,
    key: FileKey,
    root: FileRoot,
    /// An earlier run had started it.
    resumed: bool,
}

/// Seals, uploads, protects K and registers `input`. `progress(stage, done, total)`.
pub async fn put(
    session: &Session,
    input: &Path,
    opts: &PutOptions,
    progress: &(dyn Fn(PutStage, u64, u64) + Sync),
) -> Result<PutReceipt, Error> {
    let source = std::fs::canonicalize(input).map_err(|e| io("find", input, e))?;
    let source_size = std::fs::metadata(&source)
        .map_err(|e| io("read", &source, e))?
        .len();
    let gates = Gate::compile(&opts.gates, session.access_pass_address()?);

    // One put of this file at a time: both would find (or both create) the same state.
    let _lock = pending::lock_put(session, &source)?;
    let put = match pending::find_put(session, &source, source_size) {
        Some((path, state)) => resume(session, path, state)?,
        None => {
            let mut file = std::fs::File::open(&source).map_err(|e| io("open", &source, e))?;
            let plain = Plaintext {
                source: &source,
                name: source
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                size: source_size,
                reader: &mut file,
            };
            start(session, plain, opts.custody, progress).await?
        }
    };
    finish(session, put, gates, opts, progress).await
}

/// [`put`] of a plaintext that is not a file: exactly `size` bytes read from `reader` (the
/// web app passes a browser's upload as it arrives), sealed straight into the sealed copy in
/// `pending/`, so the plaintext is never written to disk. `name` is the file's name as
/// sealed in its metadata (its media type comes from its extension). Such a put cannot be
/// resumed by putting the same source again (there is none to match): if it stops after
/// sealing, its state stays in `pending/` under `name` (listed by `ls`) until shredded. A
/// reader that ends early or runs past `size` fails it before anything is paid.
pub async fn put_reader(
    session: &Session,
    name: &str,
    size: u64,
    reader: &mut (dyn Read + Send),
    opts: &PutOptions,
    progress: &(dyn Fn(PutStage, u64, u64) + Sync),
) -> Result<PutReceipt, Error> {
    let gates = Gate::compile(&opts.gates, session.access_pass_address()?);
    let source = PathBuf::from(name);
    let _lock = pending::lock_put(session, &source)?;
    let plain = Plaintext {
        source: &source,
        name: name.to_owned(),
        size,
        reader,
    };
    let put = start(session, plain, opts.custody, progress).await?;
    finish(session, put, gates, opts, progress).await
}

/// What a fresh put seals: `size` bytes from `reader`, recorded in its state as `source`.
struct Plaintext<'a> {
    source: &'a Path,
    name: String,
    size: u64,
    reader: &'a mut (dyn Read + Send),
}

/// Uploads, registers, grants and deposits a sealed put, then forgets its state.
async fn finish(
    session: &Session,
    put: Prepared,
    (clauses, allow): (Vec<Vec<Condition>>, Vec<Address>),
    opts: &PutOptions,
    progress: &(dyn Fn(PutStage, u64, u64) + Sync),
) -> Result<PutReceipt, Error> {
    let file_id = put.state.file_id;
    // Registered already (a crash after `register`, before the state was deleted)?
    let registered = session.exists(file_id).await?;

    let connected = session.network.connect().await?;
    let upload_opts = UploadOptions {
        journal: Some(put.state.journal()),
        ..UploadOptions::default()
    };
    let receipt = upload_file(
        session.provider(),
        connected.flow,
        session.address(),
        &connected.nodes,
        &put.state.sealed,
        &put.root,
        &upload_opts,
        &|done, total| progress(PutStage::Uploading, done, total),
    )
    .await?;

    let register_tx = match registered {
        true => None,
        false => Some(register(session, &put, &receipt, opts.not_after, clauses, progress).await?),
    };
    for account in &allow {
        super::manage::send_allow(session, file_id, *account, true).await?;
    }
    let vault = deliver(session, &put).await?;
    // The registration exists and every holder has what it needs: K lives in the capsule
    // (or with its holders) now; forget the local copy.
    put.state.remove(&put.path)?;
    Ok(PutReceipt {
        file_id,
        root_hash: receipt.root,
        owner: session.address(),
        size: put.root.size(),
        tx_seq: receipt.tx_seq,
        upload_tx: receipt.tx_hash,
        fee_wei: receipt.fee.to_string(),
        register_tx,
        allowed: allow,
        resumed: put.resumed,
        custody: put.state.custody.custody(),
        vault,
    })
}

/// A fresh `put`: K (split for Shamir), salt, sealed copy and state file, written before
/// anything leaves the device or is paid. The sealed copy's root is computed while sealing.
async fn start(
    session: &Session,
    plain: Plaintext<'_>,
    custody: Custody,
    progress: &(dyn Fn(PutStage, u64, u64) + Sync),
) -> Result<Prepared, Error> {
    let salt = B256::from(*FileKey::generate()?.as_bytes());
    let id = file_id(session.address(), salt);
    let (key, plan) = match custody {
        Custody::Threshold => (FileKey::generate()?, CustodyPlan::Threshold),
        Custody::Custodial => {
            // Before anything is sealed or paid: is there a vault to hold K, with a key the
            // registry lists or the user pinned?
            trusted_vault_key(session).await?;
            (FileKey::generate()?, CustodyPlan::Custodial)
        }
        Custody::Shamir => {
            let keys = session.key_network().await?;
            let split = split_new_file_key(keys.threshold as usize, keys.nodes.len())?;
            let plan = ShamirPlan::new(session, id, &split)?;
            (split.key, CustodyPlan::Shamir(plan))
        }
    };
    let dir = pending::pending_dir();
    create_private_dir(&dir)?;
    // Ciphertext only, but nobody else needs to read it either.
    let sealed = dir.join(format!("{id}.zgv"));
    let Plaintext {
        source,
        name,
        size: source_size,
        reader,
    } = plain;
    let metadata = Metadata::new(&name, media_type_of(Path::new(&name)), source_size);
    let made = crate::sealing::seal_reader_with_mode(
        reader,
        source,
        metadata,
        &sealed,
        &key,
        Suite::default(),
        PRIVATE,
        &|n| progress(PutStage::Sealing, n, source_size),
    )?;
    let new = NewPut {
        source: source.to_owned(),
        source_size,
        salt,
        file_id: id,
        root_hash: made.root.root(),
        sealed,
        custody: plan,
    };
    let (path, state) = PendingPut::create(session, new, &key)?;
    Ok(Prepared {
        path,
        state,
        key,
        root: made.root,
        resumed: false,
    })
}

/// An unfinished `put` found on disk: K unsealed, and the sealed copy checked to be the one
/// the state recorded.
fn resume(session: &Session, path: PathBuf, state: PendingPut) -> Result<Prepared, Error> {
    let key = pending::unseal(session, &path, &state)?;
    let root = hash_sealed(&state.sealed)?;
    if root.root() != state.root_hash {
        return Err(Error::PendingState {
            path,
            message: format!("the sealed copy {} was changed", state.sealed.display()),
        });
    }
    Ok(Prepared {
        path,
        state,
        key,
        root,
        resumed: true,
    })
}

/// Registers the file with the capsule its custody plan calls for; returns the transaction.
async fn register(
    session: &Session,
    put: &Prepared,
    receipt: &UploadReceipt,
    not_after: u64,
    policy: Vec<Vec<Condition>>,
    progress: &(dyn Fn(PutStage, u64, u64) + Sync),
) -> Result<B256, Error> {
    progress(PutStage::Registering, 0, 1);
    let file = session.file_ref(put.state.file_id)?;
    let capsule = match &put.state.custody {
        CustodyPlan::Threshold => session
            .key_network()
            .await?
            .key_set
            .encrypt_file_key(&file, &put.key)?
            .to_bytes(),
        CustodyPlan::Shamir(plan) => plan.commitments(&put.path)?.to_bytes(),
        CustodyPlan::Custodial => {
            let vault_key = trusted_vault_key(session).await?;
            CustodialCapsule::new(&file, vault_key, &put.key).to_bytes()
        }
    };
    let registration = Registration {
        rootHash: receipt.root,
        txSeq: U256::from(receipt.tx_seq),
        size: U256::from(put.root.size()),
        scheme: put.state.custody.custody().scheme().as_u8(),
        capsule: Bytes::from(capsule),
        notBefore: 0,
        notAfter: not_after,
        policy,
    };
    let sent = session
        .registry()?
        .register(put.state.salt, registration)
        .send()
        .await;
    let during = format!("registering file {}", put.state.file_id);
    let r = session.confirm(&during, sent, RESUME_ADVICE).await?;
    progress(PutStage::Registering, 1, 1);
    Ok(r.transaction_hash)
}

/// Hands K to whoever its custody plan names, once the registration exists (holders check
/// the owner and the capsule on-chain). Returns the vault's address for custodial custody.
async fn deliver(session: &Session, put: &Prepared) -> Result<Option<String>, Error> {
    let file_id = put.state.file_id;
    match &put.state.custody {
        CustodyPlan::Threshold => Ok(None),
        CustodyPlan::Shamir(plan) => {
            deposit_shares(session, put, plan).await?;
            Ok(None)
        }
        CustodyPlan::Custodial => deposit_custodial_key(session, &put.path, file_id, &put.key)
            .await
            .map(Some),
    }
}

/// Sends every node its share. All must acknowledge; otherwise the pending state stays for
/// a retry.
async fn deposit_shares(session: &Session, put: &Prepared, plan: &ShamirPlan) -> Result<(), Error> {
    let commitments = plan.commitments(&put.path)?;
    let keys = session.key_network().await?;
    let file = session.file_ref(put.state.file_id)?;
    for share in plan.shares(session, &put.path, put.state.file_id)? {
        let index = share.node_index();
        let node = keys
            .nodes
            .iter()
            .find(|n| n.index == index)
            .ok_or_else(|| Error::PendingState {
                path: put.path.clone(),
                message: format!("no key node {index} in the NodeRegistry to hold share {index}"),
            })?;
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

fn hash_sealed(path: &Path) -> Result<FileRoot, Error> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| io("read the sealed copy", path, e))?;
    let mut h = RootHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| io("read the sealed copy", path, e))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default())?;
    }
    h.finish()
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
}
