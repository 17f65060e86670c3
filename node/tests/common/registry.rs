//! A FileRegistry deployed on a test anvil, with the owner's and a reader's keys (anvil's
//! public dev accounts 0 and 1: test keys only), for the end-to-end vault tests.

use alloy::{
    network::EthereumWallet,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use alloy_primitives::{Address, B256, U256};
use k256::ecdsa::SigningKey;
use zgvault_contracts::{FileRegistry, SCHEME_CUSTODIAL, file_id};
use zgvault_devsupport::{DeployConfig, deploy_all};
use zgvault_proto::{
    FileKey,
    request::{CustodialCapsule, FileRef},
    sealbox::BoxPublicKey,
};

/// anvil's default dev account 0 (the file owner here).
pub const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// anvil's default dev account 1 (a reader).
pub const ANVIL_KEY_1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

pub struct Registry {
    pub provider: DynProvider,
    pub registry: FileRegistry::FileRegistryInstance<DynProvider>,
    pub owner: SigningKey,
    pub reader: SigningKey,
}

impl Registry {
    /// Deploys the contracts (`zgvault_devsupport::deploy_all`) with the owner's account.
    pub async fn deploy(rpc: &str) -> Self {
        let owner: PrivateKeySigner = ANVIL_KEY_0.parse().unwrap();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(owner.clone()))
            .connect_http(rpc.parse().unwrap())
            .erased();
        let deployed = deploy_all(rpc, owner.clone(), &DeployConfig::default())
            .await
            .unwrap();
        let registry = FileRegistry::new(deployed.contracts.file_registry, provider.clone());
        Self {
            provider,
            registry,
            owner: SigningKey::from_slice(&hex::decode(ANVIL_KEY_0).unwrap()).unwrap(),
            reader: SigningKey::from_slice(&hex::decode(ANVIL_KEY_1).unwrap()).unwrap(),
        }
    }

    pub fn address(&self) -> Address {
        *self.registry.address()
    }

    pub async fn head(&self) -> u64 {
        self.provider.get_block_number().await.unwrap()
    }

    /// Registers a custodial file (salt `salt`) whose capsule names `vault_key` and commits
    /// to `key`.
    pub async fn register_custodial(
        &self,
        salt: u64,
        vault_key: BoxPublicKey,
        key: &FileKey,
    ) -> FileRef {
        let file = self.file_ref(salt);
        let capsule = CustodialCapsule::new(&file, vault_key, key);
        self.register(salt, SCHEME_CUSTODIAL, capsule.to_bytes())
            .await
    }

    /// The file the owner registers with salt `salt`.
    pub fn file_ref(&self, salt: u64) -> FileRef {
        let owner = zgvault_proto::request::address_of(&self.owner);
        FileRef {
            chain_id: 31337,
            registry: self.address(),
            file_id: file_id(owner, B256::from(U256::from(salt))),
        }
    }

    /// Registers file `salt` with `scheme` (a registry scheme code) and `capsule`.
    pub async fn register(&self, salt: u64, scheme: u8, capsule: Vec<u8>) -> FileRef {
        let registration = FileRegistry::Registration {
            rootHash: B256::repeat_byte(9),
            txSeq: U256::from(1),
            size: U256::from(100),
            scheme,
            capsule: capsule.into(),
            notBefore: 0,
            notAfter: 0,
            policy: Vec::new(),
        };
        self.registry
            .register(B256::from(U256::from(salt)), registration)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        self.file_ref(salt)
    }

    /// The owner allow-lists `account` for `file` (the grant).
    pub async fn allow(&self, file: &FileRef, account: Address) {
        self.registry
            .allow(file.file_id, account)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
}
