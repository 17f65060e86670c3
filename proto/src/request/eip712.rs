//! The EIP-712 types the requester and the file owner sign, and the signing domain.
//!
//! Chain id and FileRegistry address live in the *domain*, not in the structs: a wallet shows
//! them to the user either way, and the domain separator already binds every signature to one
//! chain and one registry.

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::{Eip712Domain, SolStruct};

/// EIP-712 domain `name`.
pub const EIP712_NAME: &str = "zgvault";
/// EIP-712 domain `version`.
pub const EIP712_VERSION: &str = "1";

/// The `sol!` structs, kept in their own module because their names match our Rust types.
/// The attributes silence lints on macro-generated code only.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
pub(crate) mod sol {
    alloy_sol_types::sol! {
        /// What a requester signs to ask the nodes for a file's key.
        struct AccessRequest {
            bytes32 fileId;
            uint8 scheme;
            bytes32 responseKey;
            bytes32 capsuleHash;
            bytes32 nonce;
            uint64 issuedAt;
            uint64 expiresAt;
            uint64 atBlock;
        }

        /// What a file owner signs to hand a node its Shamir share.
        struct ShareDeposit {
            bytes32 fileId;
            uint32 nodeIndex;
            bytes32 sealedShareHash;
            bytes32 commitmentsHash;
            uint64 issuedAt;
        }

        /// What a file owner signs to hand a custodial vault the file's key.
        struct KeyDeposit {
            bytes32 fileId;
            bytes32 sealedKeyHash;
            uint64 issuedAt;
        }

        /// What a file owner signs to make a node or vault forget what it holds for a file.
        struct Shred {
            bytes32 fileId;
            bytes32 holder;
            uint64 issuedAt;
        }
    }
}

/// The EIP-712 domain of one deployment: `{name: "zgvault", version: "1", chainId,
/// verifyingContract: FileRegistry}`, with its separator computed once.
///
/// A node builds one at start-up from its configuration and checks every request against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestDomain {
    chain_id: u64,
    registry: Address,
    separator: B256,
}

impl RequestDomain {
    /// The domain of the FileRegistry at `registry` on chain `chain_id`.
    pub fn new(chain_id: u64, registry: Address) -> Self {
        let separator = Self::eip712_domain_of(chain_id, registry).separator();
        Self {
            chain_id,
            registry,
            separator,
        }
    }

    /// The chain id.
    pub const fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The FileRegistry address.
    pub const fn registry(&self) -> Address {
        self.registry
    }

    /// The EIP-712 domain separator.
    pub const fn separator(&self) -> B256 {
        self.separator
    }

    /// The domain as an alloy [`Eip712Domain`], for wallets and `eth_signTypedData`.
    pub fn eip712_domain(&self) -> Eip712Domain {
        Self::eip712_domain_of(self.chain_id, self.registry)
    }

    fn eip712_domain_of(chain_id: u64, registry: Address) -> Eip712Domain {
        Eip712Domain::new(
            Some(EIP712_NAME.into()),
            Some(EIP712_VERSION.into()),
            Some(U256::from(chain_id)),
            Some(registry),
            None,
        )
    }

    /// `keccak256(0x19 ‖ 0x01 ‖ separator ‖ hashStruct(value))`: the same digest as
    /// `value.eip712_signing_hash(&self.eip712_domain())`, without recomputing the separator.
    pub(crate) fn signing_hash<T: SolStruct>(&self, value: &T) -> B256 {
        let mut buf = [0u8; 2 + 32 + 32];
        buf[0] = 0x19;
        buf[1] = 0x01;
        buf[2..34].copy_from_slice(self.separator.as_slice());
        buf[34..].copy_from_slice(value.eip712_hash_struct().as_slice());
        keccak256(buf)
    }
}
