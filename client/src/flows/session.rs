//! The user's session: one account on one network, for one command.

use std::path::PathBuf;
use std::sync::Arc;

use alloy::eips::BlockId;
use alloy::network::Ethereum;
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use libp2p::{Multiaddr, PeerId};
use serde::Deserialize;
use tokio::sync::OnceCell;
use zgvault_contracts::{FileRegistry, NodeRegistry};
use zgvault_proto::request::FileRef;
use zgvault_proto::sealbox::BoxPublicKey;
use zgvault_proto::threshold::BlsKeySet;

use super::custodial::KeyTrust;
use crate::error::Error;
use crate::keys::{Channel, ChannelOptions, Endpoint, KeyNode};
use crate::network::Network;

/// HKDF salt of the keys `Session::local_data_key` derives.
const LOCAL_DATA_SALT: &[u8] = b"zgvault/v1/local-data-key";

/// One user on one network, for one command. What a command needs from the network more
/// than once (the key network, the vault's trusted key) is resolved once and kept here.
#[derive(Debug, Clone)]
pub struct Session {
    /// Where the chain, storage and contracts are.
    pub network: Network,
    signer: PrivateKeySigner,
    provider: DynProvider,
    /// The devnet manifest, when on the devnet: gives the key nodes' HTTP URLs and the
    /// deploy block.
    manifest: Option<PathBuf>,
    /// The way to the key nodes and the vault, shared by every exchange of this session.
    channel: Channel,
    /// The key network, read from the NodeRegistry on first use.
    key_network: Arc<OnceCell<KeyNetwork>>,
    /// The configured vault's key and why new file keys may be sealed to it, on first use.
    pub(super) vault_trust: Arc<OnceCell<(BoxPublicKey, KeyTrust)>>,
}

/// A registered file as the chain had it at one block.
#[derive(Debug, Clone)]
pub(crate) struct FileAt {
    pub(crate) file_id: B256,
    /// The block everything here was read at.
    pub(crate) block: u64,
    pub(crate) record: FileRegistry::FileInfo,
    /// The capsule registered then.
    pub(crate) capsule: Vec<u8>,
}

/// The share-holder network as the NodeRegistry lists it now.
#[derive(Debug, Clone)]
pub struct KeyNetwork {
    pub epoch: u64,
    /// Shares needed to recover a key.
    pub threshold: u32,
    pub key_set: BlsKeySet,
    pub nodes: Vec<KeyNode>,
}

impl Session {
    /// A session for `signer` on `network`; `manifest` is the devnet manifest, if any.
    pub fn new(
        network: Network,
        signer: PrivateKeySigner,
        manifest: Option<PathBuf>,
    ) -> Result<Session, Error> {
        // The nonce comes from the chain (its pending count) for every transaction, not
        // from alloy's default cache: the 0G upload sets its own nonce (read from the
        // chain, as another program may have used the key), which the cache never sees, so
        // in a session used for more than one flow (a long-lived process: the web app) the
        // cache fell behind and the next transaction failed with "nonce too low". The cost
        // is one RPC call per transaction. Two transactions of one account sent at once
        // would get the same nonce: callers send one at a time (the flows do; the web app
        // takes turns).
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(signer.clone())
            .connect_http(network.rpc_url.expose().clone())
            .erased();
        Ok(Session {
            network,
            signer,
            provider,
            manifest,
            channel: Channel::new(ChannelOptions::SINGLE_NODE)?,
            key_network: Arc::default(),
            vault_trust: Arc::default(),
        })
    }

    /// The user's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// A 32-byte key for data this device keeps for the user (the local question-answering
    /// library, its chat history), derived from the account's key with HKDF-SHA256 and a
    /// label per use: the same account on any device gets the same key, and nothing that
    /// holds it can recover the account's key.
    pub fn local_data_key(&self, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
        let secret = zeroize::Zeroizing::new(self.signer.to_bytes().0);
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(LOCAL_DATA_SALT), secret.as_slice());
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
        if hk.expand(purpose.as_bytes(), key.as_mut_slice()).is_err() {
            unreachable!("HKDF-SHA256 expands to 32 bytes");
        }
        key
    }

    pub(crate) fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    pub(crate) fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub(crate) fn channel(&self) -> &Channel {
        &self.channel
    }

    pub(crate) fn registry_address(&self) -> Result<Address, Error> {
        self.network
            .file_registry
            .ok_or_else(|| missing(&self.network, "FileRegistry"))
    }

    pub(crate) fn access_pass_address(&self) -> Result<Address, Error> {
        self.network
            .access_pass
            .ok_or_else(|| missing(&self.network, "AccessPass"))
    }

    pub(crate) fn registry(
        &self,
    ) -> Result<FileRegistry::FileRegistryInstance<&DynProvider>, Error> {
        Ok(FileRegistry::new(self.registry_address()?, &self.provider))
    }

    pub(crate) fn file_ref(&self, file_id: B256) -> Result<FileRef, Error> {
        Ok(FileRef {
            chain_id: self.network.chain_id,
            registry: self.registry_address()?,
            file_id,
        })
    }

    /// The block to search events from: the registry's deploy block (the network profile's
    /// or the config's `registry_deploy_block`, the devnet manifest's), else 0.
    pub(crate) fn first_block(&self) -> u64 {
        self.network
            .registry_deploy_block
            .or_else(|| self.devnet_manifest().map(|m| m.deploy_block))
            .unwrap_or(0)
    }

    fn devnet_manifest(&self) -> Option<ManifestView> {
        let text = std::fs::read_to_string(self.manifest.as_deref()?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The current key network from the NodeRegistry, read once per session. Nodes are
    /// reached over libp2p at their registered addresses; on the devnet the manifest adds
    /// their HTTP URLs.
    pub async fn key_network(&self) -> Result<KeyNetwork, Error> {
        self.key_network
            .get_or_try_init(|| self.read_key_network())
            .await
            .cloned()
    }

    async fn read_key_network(&self) -> Result<KeyNetwork, Error> {
        let addr = self
            .network
            .node_registry
            .ok_or_else(|| missing(&self.network, "NodeRegistry"))?;
        let state = NodeRegistry::new(addr, &self.provider)
            .state()
            .call()
            .await
            .map_err(|e| chain_error("reading the NodeRegistry state", &self.network, e))?;
        if state.members_.is_empty() || state.threshold_ == 0 {
            return Err(Error::NoKeyNetwork {
                registry: addr,
                epoch: state.epoch_,
            });
        }
        let key_set = BlsKeySet::from_bytes(&state.publicKeySet_)?;
        let http: Vec<(u32, String)> = self
            .devnet_manifest()
            .and_then(|m| m.key_network)
            .map(|k| k.nodes.into_iter().map(|n| (n.index, n.http)).collect())
            .unwrap_or_default();
        let mut nodes = Vec::with_capacity(state.members_.len());
        for (i, member) in state.members_.iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| Error::KeyNodeCount {
                count: state.members_.len(),
                max: crate::keys::MAX_KEY_NODES,
            })?;
            let peer = PeerId::from_bytes(&member.peerId).ok();
            let addr = member
                .multiaddrs
                .iter()
                .find_map(|a| a.parse::<Multiaddr>().ok());
            nodes.push(KeyNode {
                index,
                endpoint: Endpoint {
                    http: http
                        .iter()
                        .find(|(j, _)| *j == index)
                        .map(|(_, u)| u.clone()),
                    p2p: peer.zip(addr),
                },
                enc_key: member.encKey.0,
            });
        }
        Ok(KeyNetwork {
            epoch: state.epoch_,
            threshold: state.threshold_,
            key_set,
            nodes,
        })
    }

    /// Where the custodial vault of this network answers.
    pub fn custodial_vault(&self) -> Result<Endpoint, Error> {
        let endpoint = self.network.vault.as_ref().ok_or_else(|| Error::NoVault {
            network: self.network.name.clone(),
        })?;
        let peer = endpoint
            .peer_id
            .as_deref()
            .and_then(|p| p.parse::<PeerId>().ok());
        let addr = endpoint
            .p2p
            .iter()
            .find_map(|a| a.parse::<Multiaddr>().ok());
        Ok(Endpoint {
            http: endpoint.http.clone(),
            p2p: peer.zip(addr),
        })
    }

    /// The registry record of `file_id`, or [`Error::UnknownFile`].
    pub(crate) async fn record(&self, file_id: B256) -> Result<FileRegistry::FileInfo, Error> {
        let registry = self.registry()?;
        let exists = registry
            .exists(file_id)
            .call()
            .await
            .map_err(|e| chain_error("looking the file up", &self.network, e))?;
        if !exists {
            return Err(Error::UnknownFile {
                file_id,
                registry: *registry.address(),
            });
        }
        registry
            .getFile(file_id)
            .call()
            .await
            .map_err(|e| chain_error("reading the file record", &self.network, e))
    }

    /// `file_id` as the chain has it at the head: its record and capsule read at that one
    /// block, so they belong together even while the owner changes them.
    pub(crate) async fn file_at_head(&self, file_id: B256) -> Result<FileAt, Error> {
        let block = self.head().await?;
        let at = BlockId::number(block);
        let registry = self.registry()?;
        let during = |what: &str| format!("reading the file's {what} at block {block}");
        let exists = registry
            .exists(file_id)
            .block(at)
            .call()
            .await
            .map_err(|e| chain_error(&during("registration"), &self.network, e))?;
        if !exists {
            return Err(Error::UnknownFile {
                file_id,
                registry: *registry.address(),
            });
        }
        let record = registry
            .getFile(file_id)
            .block(at)
            .call()
            .await
            .map_err(|e| chain_error(&during("record"), &self.network, e))?;
        let capsule = registry
            .capsuleOf(file_id)
            .block(at)
            .call()
            .await
            .map_err(|e| chain_error(&during("capsule"), &self.network, e))?
            .to_vec();
        Ok(FileAt {
            file_id,
            block,
            record,
            capsule,
        })
    }

    /// Whether `file_id` is registered.
    pub(crate) async fn exists(&self, file_id: B256) -> Result<bool, Error> {
        self.registry()?
            .exists(file_id)
            .call()
            .await
            .map_err(|e| chain_error("looking the file up", &self.network, e))
    }

    /// The capsule registered for `file_id` now (`FileRegistry.capsuleOf`).
    pub(crate) async fn capsule(&self, file_id: B256) -> Result<Vec<u8>, Error> {
        Ok(self
            .registry()?
            .capsuleOf(file_id)
            .call()
            .await
            .map_err(|e| chain_error("reading the capsule", &self.network, e))?
            .to_vec())
    }

    /// The custodial capsule registered for `file_id`; an error if it is not one.
    pub(crate) async fn custodial_capsule(
        &self,
        file_id: B256,
    ) -> Result<zgvault_proto::request::CustodialCapsule, Error> {
        Ok(zgvault_proto::request::CustodialCapsule::from_bytes(
            &self.capsule(file_id).await?,
        )?)
    }

    /// Waits for a sent transaction and checks its receipt. A failed send (the chain
    /// unreachable, or the contract refusing) and a revert become errors saying what
    /// happened `during` and what to do (`advice`).
    pub(crate) async fn confirm(
        &self,
        during: &str,
        sent: Result<PendingTransactionBuilder<Ethereum>, alloy::contract::Error>,
        advice: &'static str,
    ) -> Result<TransactionReceipt, Error> {
        let pending = sent.map_err(|e| match e {
            alloy::contract::Error::TransportError(t) if t.as_error_resp().is_none() => {
                chain_error(during, &self.network, t)
            }
            e => Error::Reverted {
                during: during.to_owned(),
                reason: revert_reason(e),
                advice,
            },
        })?;
        let receipt = pending
            .get_receipt()
            .await
            .map_err(|e| chain_error(during, &self.network, e))?;
        if !receipt.status() {
            return Err(Error::Reverted {
                during: during.to_owned(),
                reason: format!("transaction {} reverted", receipt.transaction_hash),
                advice,
            });
        }
        Ok(receipt)
    }

    /// The head block number.
    pub(crate) async fn head(&self) -> Result<u64, Error> {
        self.provider
            .get_block_number()
            .await
            .map_err(|e| chain_error("reading the head block", &self.network, e))
    }
}

/// A contract's refusal, named by the error it reverted with when it is one of ours.
fn revert_reason(e: alloy::contract::Error) -> String {
    use alloy::sol_types::SolInterface;
    use zgvault_contracts::AccessPass::AccessPassErrors;
    use zgvault_contracts::FileRegistry::FileRegistryErrors;
    let ours = e
        .as_decoded_interface_error::<FileRegistryErrors>()
        .and_then(|d| FileRegistryErrors::signature_by_selector(d.selector()))
        .or_else(|| {
            e.as_decoded_interface_error::<AccessPassErrors>()
                .and_then(|d| AccessPassErrors::signature_by_selector(d.selector()))
        });
    match ours {
        Some(signature) => format!("the contract reverted with {signature}"),
        None => e.to_string(),
    }
}

/// What a session reads from a devnet manifest (the rest is the network's business).
#[derive(Debug, Deserialize)]
struct ManifestView {
    #[serde(default)]
    deploy_block: u64,
    key_network: Option<ManifestKeys>,
}

#[derive(Debug, Deserialize)]
struct ManifestKeys {
    nodes: Vec<ManifestKeyNode>,
}

#[derive(Debug, Deserialize)]
struct ManifestKeyNode {
    index: u32,
    http: String,
}

fn missing(net: &Network, contract: &'static str) -> Error {
    Error::ContractMissing {
        network: net.name.clone(),
        contract,
    }
}

pub(crate) fn chain_error(during: &str, net: &Network, e: impl std::fmt::Display) -> Error {
    Error::Chain {
        during: format!("{during} at {}", net.rpc_url),
        message: e.to_string(),
    }
}
