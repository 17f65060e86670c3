//! Shared fixtures for the node's tests: a test double of the chain (a fake of an external
//! system, for handler tests only; the end-to-end tests use anvil) and request builders.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

pub mod anvil;
pub mod audit;
pub mod registry;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, B256};
use futures::future::BoxFuture;
use k256::ecdsa::SigningKey;
use tokio::sync::Notify;
use zgvault_contracts::{
    REASON_OK_ALLOWED, REASON_POLICY_NOT_MET, SCHEME_BLS, SCHEME_CUSTODIAL, SCHEME_SHAMIR,
};
use zgvault_node::{
    Chain, Error, FileRecord, KekConfig, KeyService, NodeConfig, NodeKeys, ShareStore, Vault,
    VaultConfig,
};
use zgvault_proto::{
    FileKey,
    request::{
        AccessRequest, CustodialCapsule, FileRef, KeyDeposit, Scheme, ShareDeposit, Shred,
        SignedAccessRequest, address_of,
    },
    sealbox::{BoxPublicKey, BoxSecretKey},
    threshold::{BlsCapsule, BlsKeySet, ShamirSplit, deal_bls_key_set, split_new_file_key},
    wire::{KeyRequest, encode_request},
};

pub const CHAIN_ID: u64 = 31337;
pub const HEAD: u64 = 1_000;

pub fn registry() -> Address {
    Address::repeat_byte(0x11)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The test double's state: one chain, edited by the tests.
#[derive(Debug, Default)]
pub struct FakeState {
    pub head: u64,
    pub files: HashMap<B256, FileRecord>,
    /// Registered capsule bytes (custodial files).
    pub capsules: HashMap<B256, Vec<u8>>,
    pub allowed: HashSet<(B256, Address)>,
    /// Every call fails (RPC down).
    pub fail: bool,
    /// Every call hangs until its timeout.
    pub hang: bool,
}

#[derive(Debug, Default)]
pub struct FakeChain {
    pub state: Mutex<FakeState>,
    pub calls: AtomicUsize,
    /// Notified when a call starts (to know a request reached the chain).
    pub entered: Notify,
}

impl FakeChain {
    pub fn new() -> Arc<Self> {
        let chain = Self::default();
        chain.state.lock().unwrap().head = HEAD;
        Arc::new(chain)
    }

    fn answer<T: Send + 'static>(
        &self,
        call: &'static str,
        f: impl FnOnce(&FakeState) -> T + Send,
    ) -> BoxFuture<'_, Result<T, Error>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.entered.notify_one();
        let (fail, hang) = {
            let s = self.state.lock().unwrap();
            (s.fail, s.hang)
        };
        let value = (!fail && !hang).then(|| f(&self.state.lock().unwrap()));
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            value.ok_or(Error::Chain {
                call,
                detail: "connection refused (test double)".into(),
            })
        })
    }
}

impl Chain for FakeChain {
    fn chain_id(&self) -> BoxFuture<'_, Result<u64, Error>> {
        self.answer("eth_chainId", |_| CHAIN_ID)
    }
    fn head(&self) -> BoxFuture<'_, Result<u64, Error>> {
        self.answer("eth_blockNumber", |s| s.head)
    }
    fn file(
        &self,
        file_id: B256,
        _block: Option<u64>,
    ) -> BoxFuture<'_, Result<Option<FileRecord>, Error>> {
        self.answer("getFile", move |s| s.files.get(&file_id).copied())
    }
    fn capsule(
        &self,
        file_id: B256,
        _block: Option<u64>,
    ) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>> {
        self.answer("capsuleOf", move |s| s.capsules.get(&file_id).cloned())
    }
    fn can_access(
        &self,
        file_id: B256,
        user: Address,
        _block: u64,
    ) -> BoxFuture<'_, Result<bool, Error>> {
        self.answer("canAccess", move |s| s.allowed.contains(&(file_id, user)))
    }
    fn access_check(
        &self,
        file_id: B256,
        user: Address,
        _block: u64,
    ) -> BoxFuture<'_, Result<(bool, u8), Error>> {
        self.answer("accessCheck", move |s| {
            if s.allowed.contains(&(file_id, user)) {
                (true, REASON_OK_ALLOWED)
            } else {
                (false, REASON_POLICY_NOT_MET)
            }
        })
    }
}

/// A node (share `index` of a 2-of-3 BLS key set) with a fake chain, and a requester.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub chain: Arc<FakeChain>,
    pub service: KeyService,
    pub key_set: BlsKeySet,
    pub owner: SigningKey,
    pub reader: SigningKey,
    pub stranger: SigningKey,
}

pub fn default_config(dir: &std::path::Path) -> NodeConfig {
    let mut config = NodeConfig {
        data_dir: dir.to_owned(),
        ..NodeConfig::default()
    };
    config.chain.chain_id = CHAIN_ID;
    config.chain.file_registry = registry();
    config
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    pub fn with_config(edit: impl FnOnce(&mut NodeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = default_config(dir.path());
        edit(&mut config);
        let (key_set, shares) = deal_bls_key_set(2, 3).unwrap();
        let keys = NodeKeys::load_or_create(dir.path()).unwrap();
        let store = ShareStore::open(dir.path(), &keys.store).unwrap();
        store.put_bls_share(&shares[0]).unwrap();
        let chain = FakeChain::new();
        let service = KeyService::new(&config, keys, store, chain.clone()).unwrap();
        Self {
            dir,
            chain,
            service,
            key_set,
            owner: SigningKey::from_slice(&[1; 32]).unwrap(),
            reader: SigningKey::from_slice(&[2; 32]).unwrap(),
            stranger: SigningKey::from_slice(&[3; 32]).unwrap(),
        }
    }

    pub fn file_ref(&self, id: u8) -> FileRef {
        FileRef {
            chain_id: CHAIN_ID,
            registry: registry(),
            file_id: B256::repeat_byte(id),
        }
    }

    /// Registers a BLS file readable by `reader`; returns its capsule.
    pub fn bls_file(&self, id: u8) -> BlsCapsule {
        let file = self.file_ref(id);
        let capsule = self
            .key_set
            .encrypt_file_key(&file, &FileKey::generate().unwrap())
            .unwrap();
        let mut state = self.chain.state.lock().unwrap();
        state.files.insert(
            file.file_id,
            FileRecord {
                owner: address_of(&self.owner),
                scheme: SCHEME_BLS,
                capsule_hash: capsule.hash(),
            },
        );
        state
            .allowed
            .insert((file.file_id, address_of(&self.reader)));
        capsule
    }

    /// Registers a Shamir file (2 of 3) readable by `reader`; returns the split.
    pub fn shamir_file(&self, id: u8) -> ShamirSplit {
        let split = split_new_file_key(2, 3).unwrap();
        let file = self.file_ref(id);
        let mut state = self.chain.state.lock().unwrap();
        state.files.insert(
            file.file_id,
            FileRecord {
                owner: address_of(&self.owner),
                scheme: SCHEME_SHAMIR,
                capsule_hash: split.commitments.hash(),
            },
        );
        state
            .allowed
            .insert((file.file_id, address_of(&self.reader)));
        split
    }

    pub fn node_key(&self) -> BoxPublicKey {
        BoxPublicKey::from_bytes(self.service.info().encryption_key.0)
    }

    /// A deposit of `split.shares[share]` for file `id`, signed by `signer`.
    pub fn deposit(
        &self,
        id: u8,
        split: &ShamirSplit,
        share: usize,
        signer: &SigningKey,
    ) -> Vec<u8> {
        let deposit = ShareDeposit::new(
            self.file_ref(id),
            &split.shares[share],
            &self.node_key(),
            split.commitments.clone(),
            now(),
        )
        .unwrap()
        .sign(signer)
        .unwrap();
        encode_request(&KeyRequest::Deposit(deposit))
    }
}

/// A signed access request and the response key that opens its answers.
pub struct Signed {
    pub request: SignedAccessRequest,
    pub response_key: BoxSecretKey,
}

impl Signed {
    pub fn bytes(&self) -> Vec<u8> {
        encode_request(&KeyRequest::Access(self.request.clone()))
    }
}

/// Builds a request for `file` by `wallet`; `edit` may change the fields before signing.
pub fn access(
    file: FileRef,
    scheme: Scheme,
    capsule: &[u8],
    wallet: &SigningKey,
    edit: impl FnOnce(&mut AccessRequest),
) -> Signed {
    let response_key = BoxSecretKey::generate().unwrap();
    let mut request = AccessRequest::new(
        file,
        scheme,
        response_key.public_key(),
        capsule,
        now(),
        120,
        HEAD,
    )
    .unwrap();
    edit(&mut request);
    Signed {
        request: request.sign(wallet, capsule.to_vec()).unwrap(),
        response_key,
    }
}

/// A custodial vault (file KEK, passphrase in a 0600 file) behind a fake chain.
pub struct VaultFixture {
    pub dir: tempfile::TempDir,
    pub chain: Arc<FakeChain>,
    pub service: KeyService,
    pub config: NodeConfig,
    pub owner: SigningKey,
    pub reader: SigningKey,
    pub stranger: SigningKey,
}

/// Writes `secret` to `dir/name` with mode 0600.
pub fn secret_file(dir: &std::path::Path, name: &str, secret: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A custodial vault in a fresh 0700 folder with the KEK `kek`: its secret files written
/// (`kek.pass`, and `hsm.pin` holding `pin`) and its config in `node.toml`.
pub fn custodial_dir(kek: KekConfig, pin: &str) -> (tempfile::TempDir, NodeConfig) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    secret_file(dir.path(), "kek.pass", "audit test passphrase");
    secret_file(dir.path(), "hsm.pin", pin);
    let config = default_config(dir.path()).custodial(VaultConfig::new(kek));
    write_config(&config);
    (dir, config)
}

/// Writes `config` to `node.toml` in its data folder; returns the path.
pub fn write_config(config: &NodeConfig) -> std::path::PathBuf {
    let path = config.data_dir.join("node.toml");
    std::fs::write(&path, config.to_toml().unwrap()).unwrap();
    path
}

/// A custodial config in `dir` with a file KEK (`kek.json`, passphrase in `kek.pass`).
pub fn vault_config(dir: &std::path::Path) -> NodeConfig {
    secret_file(dir, "kek.pass", "vault test passphrase");
    default_config(dir).custodial(VaultConfig::new(KekConfig::file(
        "kek.json",
        Some("kek.pass".into()),
    )))
}

impl VaultFixture {
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    pub fn with_config(edit: impl FnOnce(&mut NodeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = vault_config(dir.path());
        edit(&mut config);
        let chain = FakeChain::new();
        let service = Self::open(&config, chain.clone());
        Self {
            dir,
            chain,
            service,
            config,
            owner: SigningKey::from_slice(&[1; 32]).unwrap(),
            reader: SigningKey::from_slice(&[2; 32]).unwrap(),
            stranger: SigningKey::from_slice(&[3; 32]).unwrap(),
        }
    }

    /// Opens the vault of `config` as a running node would.
    pub fn open(config: &NodeConfig, chain: Arc<FakeChain>) -> KeyService {
        let keys = NodeKeys::load_or_create(&config.data_dir).unwrap();
        let store = ShareStore::open(&config.data_dir, &keys.store).unwrap();
        let vault = Arc::new(Vault::open(config).unwrap());
        KeyService::custodial(config, keys, store, chain, vault).unwrap()
    }

    /// Stops the vault (closing its store), runs `offline` on the stopped vault's config,
    /// and opens it again on the same folder.
    pub fn restart_with(self, offline: impl FnOnce(&NodeConfig)) -> Self {
        let Self {
            dir,
            chain,
            service,
            config,
            owner,
            reader,
            stranger,
        } = self;
        drop(service);
        offline(&config);
        let service = Self::open(&config, chain.clone());
        Self {
            dir,
            chain,
            service,
            config,
            owner,
            reader,
            stranger,
        }
    }

    pub fn file_ref(&self, id: u8) -> FileRef {
        FileRef {
            chain_id: CHAIN_ID,
            registry: registry(),
            file_id: B256::repeat_byte(id),
        }
    }

    pub fn vault_key(&self) -> BoxPublicKey {
        BoxPublicKey::from_bytes(self.service.info().encryption_key.0)
    }

    /// Registers custodial file `id` whose capsule names `vault_key` and commits to `key`,
    /// readable by `reader`.
    pub fn custodial_file_for(&self, id: u8, key: &FileKey, vault_key: BoxPublicKey) {
        let file = self.file_ref(id);
        let capsule = CustodialCapsule::new(&file, vault_key, key);
        let mut state = self.chain.state.lock().unwrap();
        state.files.insert(
            file.file_id,
            FileRecord {
                owner: address_of(&self.owner),
                scheme: SCHEME_CUSTODIAL,
                capsule_hash: capsule.hash(),
            },
        );
        state.capsules.insert(file.file_id, capsule.to_bytes());
        state
            .allowed
            .insert((file.file_id, address_of(&self.reader)));
    }

    /// Registers custodial file `id` for this vault; returns its K.
    pub fn custodial_file(&self, id: u8) -> FileKey {
        let key = FileKey::generate().unwrap();
        self.custodial_file_for(id, &key, self.vault_key());
        key
    }

    /// A key deposit of `key` for file `id`, signed by `signer` at `issued_at`.
    pub fn key_deposit(
        &self,
        id: u8,
        key: &FileKey,
        signer: &SigningKey,
        issued_at: u64,
    ) -> Vec<u8> {
        let deposit = KeyDeposit::new(self.file_ref(id), key, &self.vault_key(), issued_at)
            .unwrap()
            .sign(signer)
            .unwrap();
        encode_request(&KeyRequest::KeyDeposit(deposit))
    }

    /// A shred of file `id`, signed by `signer` at `issued_at`.
    pub fn shred(&self, id: u8, signer: &SigningKey, issued_at: u64) -> Vec<u8> {
        let shred = Shred {
            file: self.file_ref(id),
            holder: self.vault_key(),
            issued_at,
        }
        .sign(signer)
        .unwrap();
        encode_request(&KeyRequest::Shred(shred))
    }

    /// The audit log's lines, parsed.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        let path = self.dir.path().join(zgvault_node::DEFAULT_AUDIT_LOG);
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The HTTP origin the handler tests speak from.
pub fn origin() -> zgvault_node::Origin {
    zgvault_node::Origin {
        transport: "http",
        id: "127.0.0.1".into(),
    }
}

/// Hands `bytes` to `service` and decodes its answer.
pub async fn ask(service: &KeyService, bytes: &[u8]) -> zgvault_proto::wire::KeyResponse {
    zgvault_proto::wire::decode_response(&service.handle(origin(), bytes).await).unwrap()
}

/// The refusal in `response`; panics on anything else.
#[track_caller]
pub fn refused(response: &zgvault_proto::wire::KeyResponse) -> zgvault_proto::wire::ErrorReply {
    match response {
        zgvault_proto::wire::KeyResponse::Error(reply) => reply.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
