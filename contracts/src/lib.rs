#![doc = include_str!("../README.md")]

// The `sol!` expansions below are generated code. Today they pass the workspace lints, but
// alloy's expansion is not ours to fix, so the two workspace lints that generated bindings most
// often trip (`missing_debug_implementations`, `unreachable_pub`) are allowed on this module only.
#[allow(missing_debug_implementations, unreachable_pub)]
mod generated {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        FileRegistry,
        "artifacts/FileRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        AccessPass,
        "artifacts/AccessPass.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        NodeRegistry,
        "artifacts/NodeRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        Flow,
        "artifacts/Flow.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        FixedPriceMarket,
        "artifacts/FixedPriceMarket.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        TestToken,
        "artifacts/TestToken.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        TestMultiToken,
        "artifacts/TestMultiToken.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        TestNFT,
        "artifacts/TestNFT.json"
    );
}

pub use generated::{
    AccessPass, FileRegistry, FixedPriceMarket, Flow, NodeRegistry, TestMultiToken, TestNFT,
    TestToken,
};

// ---------------------------------------------------------------------------------------------
// Constants mirrored from sol/FileRegistry.sol (a unit test below checks them against the source).
// ---------------------------------------------------------------------------------------------

// Custody scheme codes are the wire protocol's (`zgvault.v1.Scheme`,
// `zgvault_proto::request::Scheme::as_u8`): a registered code is a request's scheme as is.
// 0 (the wire's "unspecified") and anything above 3 revert `UnknownScheme`.

/// Custody scheme: BLS threshold key set of the NodeRegistry (DESIGN §6, the default).
pub const SCHEME_BLS: u8 = 1;
/// Custody scheme: Shamir/Feldman shares deposited with chosen nodes.
pub const SCHEME_SHAMIR: u8 = 2;
/// Custody scheme: custodial vault (HSM-held KEK).
pub const SCHEME_CUSTODIAL: u8 = 3;

/// Condition kind: holds an `AccessPass` (contract `token`) for this file (`id == 0`) or for
/// the file `bytes32(id)`; `min == 0`.
pub const KIND_ACCESS_PASS: u8 = 1;
/// Condition kind: ERC-721 `token.balanceOf(user) >= max(min, 1)`; `id == 0`.
pub const KIND_ERC721_ANY: u8 = 2;
/// Condition kind: ERC-721 `token.ownerOf(id) == user` (missing token = not met); `min == 0`.
pub const KIND_ERC721_ID: u8 = 3;
/// Condition kind: ERC-1155 `token.balanceOf(user, id) >= min`; `min >= 1`.
pub const KIND_ERC1155: u8 = 4;
/// Condition kind: ERC-20 `token.balanceOf(user) >= min`; `min >= 1`, `id == 0`.
pub const KIND_ERC20: u8 = 5;
/// Condition kind: `block.timestamp >= min`; `token == 0`, `id == 0`.
pub const KIND_NOT_BEFORE: u8 = 6;
/// Condition kind: `block.timestamp <= min`; `token == 0`, `id == 0`.
pub const KIND_NOT_AFTER: u8 = 7;

/// `accessCheck` reason: the user owns the file (ok).
pub const REASON_OK_OWNER: u8 = 1;
/// `accessCheck` reason: the user is on the allow-list (ok).
pub const REASON_OK_ALLOWED: u8 = 2;
/// `accessCheck` reason: a policy clause is satisfied (ok).
pub const REASON_OK_POLICY: u8 = 3;
/// `accessCheck` reason: no such file.
pub const REASON_UNKNOWN_FILE: u8 = 4;
/// `accessCheck` reason: the user is on the deny (revocation) list.
pub const REASON_DENIED: u8 = 5;
/// `accessCheck` reason: before the file's `notBefore`.
pub const REASON_TOO_EARLY: u8 = 6;
/// `accessCheck` reason: after the file's `notAfter`.
pub const REASON_EXPIRED: u8 = 7;
/// `accessCheck` reason: no policy clause is satisfied.
pub const REASON_POLICY_NOT_MET: u8 = 8;
/// `accessCheck` reason: the policy is empty (owner and allow-list only).
pub const REASON_NO_POLICY: u8 = 9;
/// `accessCheck` reason: the user is the zero address.
pub const REASON_ZERO_ADDRESS: u8 = 10;

/// Largest key capsule `FileRegistry` accepts, in bytes.
pub const MAX_CAPSULE_LENGTH: usize = 4096;
/// Most clauses (OR) in a policy.
pub const MAX_CLAUSES: usize = 8;
/// Most conditions (AND) in one clause.
pub const MAX_CONDITIONS: usize = 8;
/// Gas stipend of each token call made by `canAccess`.
pub const CALL_GAS: u64 = 50_000;

/// `Flow.submit` selector (current 0G ABI, with `submitter`).
pub const FLOW_SUBMIT_SELECTOR: [u8; 4] = [0xbc, 0x8c, 0x11, 0xf8];
/// topic0 of the Flow `Submit` event.
pub const FLOW_SUBMIT_TOPIC0: alloy::primitives::B256 =
    alloy::primitives::b256!("167ce04d2aa1981994d3a31695da0d785373335b1078cec239a1a3a2c7675555");

/// Whether an `accessCheck` reason is one of the "access granted" codes.
pub const fn reason_is_ok(reason: u8) -> bool {
    matches!(
        reason,
        REASON_OK_OWNER | REASON_OK_ALLOWED | REASON_OK_POLICY
    )
}

/// A short English explanation of an `accessCheck` reason code, for CLIs and logs.
pub const fn reason_text(reason: u8) -> &'static str {
    match reason {
        REASON_OK_OWNER => "you own this file",
        REASON_OK_ALLOWED => "you are on the file's allow-list",
        REASON_OK_POLICY => "you meet the file's access policy",
        REASON_UNKNOWN_FILE => "no such file in the registry",
        REASON_DENIED => "your access to this file was revoked by its owner",
        REASON_TOO_EARLY => "the file is not readable yet (before its notBefore time)",
        REASON_EXPIRED => "the file's access window has ended (after its notAfter time)",
        REASON_POLICY_NOT_MET => {
            "you do not meet the file's access policy: ask the owner for a pass"
        }
        REASON_NO_POLICY => {
            "only the owner and allow-listed accounts may read this file: ask the owner to add you"
        }
        REASON_ZERO_ADDRESS => "the zero address cannot read files",
        _ => "unknown reason code",
    }
}

/// The `fileId` that `FileRegistry.register(salt, …)` called by `owner` creates:
/// `keccak256(abi.encode(owner, salt))`.
pub fn file_id(
    owner: alloy::primitives::Address,
    salt: alloy::primitives::B256,
) -> alloy::primitives::B256 {
    use alloy::sol_types::SolValue;
    alloy::primitives::keccak256((owner, salt).abi_encode())
}

/// Builders for `FileRegistry::Condition`s (see the policy table in the README). A policy is
/// `Vec<Vec<Condition>>`: an OR of clauses, each an AND of conditions.
pub mod policy {
    use super::{
        FileRegistry::Condition, KIND_ACCESS_PASS, KIND_ERC20, KIND_ERC721_ANY, KIND_ERC721_ID,
        KIND_ERC1155, KIND_NOT_AFTER, KIND_NOT_BEFORE,
    };
    use alloy::primitives::{Address, B256, U256};

    fn cond(kind: u8, token: Address, id: U256, min: U256) -> Condition {
        Condition {
            kind,
            token,
            id,
            min,
        }
    }

    /// Holds a pass for this file from the AccessPass contract `pass`.
    pub fn access_pass(pass: Address) -> Condition {
        cond(KIND_ACCESS_PASS, pass, U256::ZERO, U256::ZERO)
    }

    /// Holds a pass for the (other) file `file_id`: one pass for a series of files.
    pub fn access_pass_of(pass: Address, file_id: B256) -> Condition {
        cond(
            KIND_ACCESS_PASS,
            pass,
            U256::from_be_bytes(file_id.0),
            U256::ZERO,
        )
    }

    /// Holds at least `max(min, 1)` tokens of the ERC-721 `token`.
    pub fn erc721_any(token: Address, min: U256) -> Condition {
        cond(KIND_ERC721_ANY, token, U256::ZERO, min)
    }

    /// Owns token `id` of the ERC-721 `token`.
    pub fn erc721_id(token: Address, id: U256) -> Condition {
        cond(KIND_ERC721_ID, token, id, U256::ZERO)
    }

    /// Holds at least `min` (>= 1) of ERC-1155 `token` id `id`.
    pub fn erc1155(token: Address, id: U256, min: U256) -> Condition {
        cond(KIND_ERC1155, token, id, min)
    }

    /// Holds at least `min` (>= 1, base units) of the ERC-20 `token`.
    pub fn erc20(token: Address, min: U256) -> Condition {
        cond(KIND_ERC20, token, U256::ZERO, min)
    }

    /// `block.timestamp >= unix_time`.
    pub fn not_before(unix_time: u64) -> Condition {
        cond(
            KIND_NOT_BEFORE,
            Address::ZERO,
            U256::ZERO,
            U256::from(unix_time),
        )
    }

    /// `block.timestamp <= unix_time`.
    pub fn not_after(unix_time: u64) -> Condition {
        cond(
            KIND_NOT_AFTER,
            Address::ZERO,
            U256::ZERO,
            U256::from(unix_time),
        )
    }

    /// A policy that lets everyone read (subject to the deny list and the file window).
    pub fn public() -> Vec<Vec<Condition>> {
        vec![vec![not_before(0)]]
    }

    /// The empty policy: owner and allow-list only.
    pub fn owner_and_allow_list_only() -> Vec<Vec<Condition>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::{SolCall, SolEvent};

    #[test]
    fn flow_abi_matches_0g() {
        assert_eq!(Flow::submitCall::SELECTOR, FLOW_SUBMIT_SELECTOR);
        assert_eq!(Flow::batchSubmitCall::SELECTOR, [0x49, 0xaa, 0x33, 0x95]);
        assert_eq!(Flow::marketCall::SELECTOR, [0x80, 0xf5, 0x56, 0x05]);
        assert_eq!(
            FixedPriceMarket::pricePerSectorCall::SELECTOR,
            [0x61, 0xec, 0x50, 0x82]
        );
        assert_eq!(Flow::Submit::SIGNATURE_HASH, FLOW_SUBMIT_TOPIC0);
    }

    #[test]
    fn artifacts_have_bytecode() {
        for code in [
            &FileRegistry::BYTECODE,
            &AccessPass::BYTECODE,
            &NodeRegistry::BYTECODE,
            &Flow::BYTECODE,
            &FixedPriceMarket::BYTECODE,
            &TestToken::BYTECODE,
            &TestMultiToken::BYTECODE,
            &TestNFT::BYTECODE,
        ] {
            assert!(code.len() > 100);
        }
    }

    #[test]
    fn file_id_is_abi_encode_of_owner_and_salt() {
        let owner = alloy::primitives::Address::repeat_byte(0x11);
        let salt = alloy::primitives::B256::repeat_byte(0x22);
        let mut buf = [0u8; 64];
        buf[12..32].copy_from_slice(owner.as_slice());
        buf[32..].copy_from_slice(salt.as_slice());
        assert_eq!(file_id(owner, salt), alloy::primitives::keccak256(buf));
    }

    /// The Rust constants must equal the Solidity ones (parsed from the source when the
    /// crate is built inside the repository).
    #[test]
    fn constants_match_solidity_source() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sol/FileRegistry.sol");
        let Ok(src) = std::fs::read_to_string(&path) else {
            return; // packaged crate without sources
        };
        let sol_const = |name: &str| -> u64 {
            let needle = format!(" public constant {name} = ");
            let line = src
                .lines()
                .find(|l| l.contains(&needle))
                .unwrap_or_else(|| panic!("{name} not in FileRegistry.sol"));
            let value = line.split(&needle).nth(1).and_then(|v| v.strip_suffix(';'));
            let value = value.map(|v| v.replace('_', "")).unwrap_or_default();
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {line:?}"))
        };
        let u8s: &[(&str, u8)] = &[
            ("SCHEME_BLS", SCHEME_BLS),
            ("SCHEME_SHAMIR", SCHEME_SHAMIR),
            ("SCHEME_CUSTODIAL", SCHEME_CUSTODIAL),
            ("KIND_ACCESS_PASS", KIND_ACCESS_PASS),
            ("KIND_ERC721_ANY", KIND_ERC721_ANY),
            ("KIND_ERC721_ID", KIND_ERC721_ID),
            ("KIND_ERC1155", KIND_ERC1155),
            ("KIND_ERC20", KIND_ERC20),
            ("KIND_NOT_BEFORE", KIND_NOT_BEFORE),
            ("KIND_NOT_AFTER", KIND_NOT_AFTER),
            ("REASON_OK_OWNER", REASON_OK_OWNER),
            ("REASON_OK_ALLOWED", REASON_OK_ALLOWED),
            ("REASON_OK_POLICY", REASON_OK_POLICY),
            ("REASON_UNKNOWN_FILE", REASON_UNKNOWN_FILE),
            ("REASON_DENIED", REASON_DENIED),
            ("REASON_TOO_EARLY", REASON_TOO_EARLY),
            ("REASON_EXPIRED", REASON_EXPIRED),
            ("REASON_POLICY_NOT_MET", REASON_POLICY_NOT_MET),
            ("REASON_NO_POLICY", REASON_NO_POLICY),
            ("REASON_ZERO_ADDRESS", REASON_ZERO_ADDRESS),
        ];
        for (name, value) in u8s {
            assert_eq!(sol_const(name), u64::from(*value), "{name}");
        }
        assert_eq!(sol_const("MAX_CAPSULE_LENGTH"), MAX_CAPSULE_LENGTH as u64);
        assert_eq!(sol_const("MAX_CLAUSES"), MAX_CLAUSES as u64);
        assert_eq!(sol_const("MAX_CONDITIONS"), MAX_CONDITIONS as u64);
        assert_eq!(sol_const("CALL_GAS"), CALL_GAS);
        for r in 1..=10u8 {
            assert_ne!(reason_text(r), "unknown reason code");
            assert_eq!(reason_is_ok(r), r <= 3);
        }
    }

    #[test]
    fn registration_type_is_usable() {
        let cond = FileRegistry::Condition {
            kind: KIND_ERC20,
            token: alloy::primitives::Address::repeat_byte(1),
            id: alloy::primitives::U256::ZERO,
            min: alloy::primitives::U256::from(1),
        };
        let reg = FileRegistry::Registration {
            rootHash: alloy::primitives::B256::repeat_byte(2),
            txSeq: alloy::primitives::U256::ZERO,
            size: alloy::primitives::U256::from(1),
            scheme: SCHEME_BLS,
            capsule: alloy::primitives::Bytes::new(),
            notBefore: 0,
            notAfter: 0,
            policy: vec![vec![cond]],
        };
        let call = FileRegistry::registerCall {
            salt: alloy::primitives::B256::ZERO,
            r: reg,
        };
        assert!(call.abi_encode().len() > 4);
    }
}
