//! What the node reads from the chain, behind a small trait so the request handler can be
//! tested without a chain, and the alloy implementation of it.
//!
//! Timeouts are applied by the caller (`service`) around every call, so a slow test double and
//! a hung RPC endpoint are bounded the same way.

use std::{fmt, time::Duration};

use alloy::{
    eips::BlockId,
    providers::{DynProvider, Provider, ProviderBuilder},
};
use alloy_primitives::{Address, B256};
use futures::future::BoxFuture;
use zgvault_contracts::FileRegistry;
use zgvault_proto::RpcUrl;

use crate::error::{Error, Result};

/// Longest a single chain call may take before the node treats the chain as unavailable.
pub const CHAIN_CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Gas limit for `canAccess` / `accessCheck` `eth_call`s. The contract's worst case is about
/// 3.3 M gas (64 hostile tokens, see contracts/README); with less, it reverts
/// `InsufficientGas` rather than answering, so every node calls with at least this.
pub const ACCESS_CALL_GAS: u64 = 5_000_000;

/// The parts of a FileRegistry record the gate needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// Current owner (may deposit Shamir shares).
    pub owner: Address,
    /// Custody scheme, the registry's code: the wire's (`Scheme::from_u8`,
    /// `zgvault_contracts::SCHEME_*`).
    pub scheme: u8,
    /// `keccak256(capsule)`: the BLS capsule, or the Shamir commitments.
    pub capsule_hash: B256,
}

/// Read access to the chain, as the gate needs it. Implementations return
/// [`Error::Chain`] for any failure; "no such file" is `Ok(None)`, not an error.
pub trait Chain: Send + Sync + fmt::Debug + 'static {
    /// `eth_chainId`.
    fn chain_id(&self) -> BoxFuture<'_, Result<u64>>;
    /// The latest block number.
    fn head(&self) -> BoxFuture<'_, Result<u64>>;
    /// `FileRegistry.getFile(file_id)` at `block` (the latest block when `None`).
    fn file(&self, file_id: B256, block: Option<u64>) -> BoxFuture<'_, Result<Option<FileRecord>>>;
    /// `FileRegistry.capsuleOf(file_id)` at `block` (the latest block when `None`): the
    /// registered capsule bytes (`None`: no such file).
    fn capsule(&self, file_id: B256, block: Option<u64>) -> BoxFuture<'_, Result<Option<Vec<u8>>>>;
    /// `FileRegistry.canAccess(file_id, user)` at `block`.
    fn can_access(&self, file_id: B256, user: Address, block: u64) -> BoxFuture<'_, Result<bool>>;
    /// `FileRegistry.accessCheck(file_id, user)` at `block`: `(ok, reason)`, the reason code
    /// being one of `zgvault_contracts::REASON_*`.
    fn access_check(
        &self,
        file_id: B256,
        user: Address,
        block: u64,
    ) -> BoxFuture<'_, Result<(bool, u8)>>;
}

/// [`Chain`] over a JSON-RPC endpoint with alloy.
#[derive(Clone)]
pub struct AlloyChain {
    rpc_url: RpcUrl,
    provider: DynProvider,
    registry: FileRegistry::FileRegistryInstance<DynProvider>,
}

impl fmt::Debug for AlloyChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlloyChain")
            .field("rpc_url", &self.rpc_url)
            .field("file_registry", self.registry.address())
            .finish()
    }
}

impl AlloyChain {
    /// A client of `rpc_url` reading the FileRegistry at `file_registry`. Does not connect
    /// yet (HTTP is connectionless); the first call does.
    pub fn new(rpc_url: &RpcUrl, file_registry: Address) -> Result<Self> {
        let provider = ProviderBuilder::new()
            .connect_http(rpc_url.expose().clone())
            .erased();
        let registry = FileRegistry::new(file_registry, provider.clone());
        Ok(Self {
            rpc_url: rpc_url.clone(),
            provider,
            registry,
        })
    }

    /// The underlying provider, e.g. for NodeRegistry reads by the p2p layer.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }
}

fn rpc_error(call: &'static str, error: impl fmt::Display) -> Error {
    Error::Chain {
        call,
        detail: error.to_string(),
    }
}

impl Chain for AlloyChain {
    fn chain_id(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            self.provider
                .get_chain_id()
                .await
                .map_err(|e| rpc_error("eth_chainId", e))
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            self.provider
                .get_block_number()
                .await
                .map_err(|e| rpc_error("eth_blockNumber", e))
        })
    }

    fn file(&self, file_id: B256, block: Option<u64>) -> BoxFuture<'_, Result<Option<FileRecord>>> {
        Box::pin(async move {
            let block = block.map_or(BlockId::latest(), BlockId::number);
            match self.registry.getFile(file_id).block(block).call().await {
                Ok(info) => Ok(Some(FileRecord {
                    owner: info.owner,
                    scheme: info.scheme,
                    capsule_hash: info.capsuleHash,
                })),
                // Only the contract's own `UnknownFile` revert means "no such file"; any other
                // failure (transport, other revert) must fail closed as a chain error.
                Err(e) if e.as_decoded_error::<FileRegistry::UnknownFile>().is_some() => Ok(None),
                Err(e) => Err(rpc_error("FileRegistry.getFile", e)),
            }
        })
    }

    fn capsule(&self, file_id: B256, block: Option<u64>) -> BoxFuture<'_, Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            let block = block.map_or(BlockId::latest(), BlockId::number);
            match self.registry.capsuleOf(file_id).block(block).call().await {
                Ok(bytes) => Ok(Some(bytes.to_vec())),
                Err(e) if e.as_decoded_error::<FileRegistry::UnknownFile>().is_some() => Ok(None),
                Err(e) => Err(rpc_error("FileRegistry.capsuleOf", e)),
            }
        })
    }

    fn can_access(&self, file_id: B256, user: Address, block: u64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            self.registry
                .canAccess(file_id, user)
                .gas(ACCESS_CALL_GAS)
                .block(BlockId::number(block))
                .call()
                .await
                .map_err(|e| rpc_error("FileRegistry.canAccess", e))
        })
    }

    fn access_check(
        &self,
        file_id: B256,
        user: Address,
        block: u64,
    ) -> BoxFuture<'_, Result<(bool, u8)>> {
        Box::pin(async move {
            self.registry
                .accessCheck(file_id, user)
                .gas(ACCESS_CALL_GAS)
                .block(BlockId::number(block))
                .call()
                .await
                .map(|r| (r.ok, r.reason))
                .map_err(|e| rpc_error("FileRegistry.accessCheck", e))
        })
    }
}
