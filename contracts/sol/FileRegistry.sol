// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title FileRegistry
/// @notice On-chain record of a zgvault file: who owns it, where its ciphertext is on 0G
///         Storage (rootHash, txSeq, size), how its key K is held (custody scheme + key capsule)
///         and who may have K released (`canAccess`). Share-holder nodes evaluate
///         `canAccess(fileId, requester)` with `eth_call` at a recent block and release nothing
///         unless it returns true. See contracts/README.md for the encodings and reason codes.
contract FileRegistry {
    // ------------------------------------------------------------------------------------
    // Constants (mirrored in contracts/src/lib.rs)
    // ------------------------------------------------------------------------------------

    // Custody scheme codes are the wire protocol's (`zgvault.v1.Scheme`, the EIP-712
    // `scheme` field), so a registered code is compared with a request's as is. 0 is the
    // wire's "unspecified" and, like any other code outside 1..3, reverts `UnknownScheme`.

    /// Custody scheme: BLS threshold key set of the NodeRegistry (DESIGN §6, default).
    uint8 public constant SCHEME_BLS = 1;
    /// Custody scheme: Shamir/Feldman shares deposited with chosen nodes.
    uint8 public constant SCHEME_SHAMIR = 2;
    /// Custody scheme: custodial vault (HSM).
    uint8 public constant SCHEME_CUSTODIAL = 3;

    /// Condition: the user holds an AccessPass (from `token`) for this file
    /// (`id == 0`) or for the file `bytes32(id)` (`id != 0`). `min` must be 0.
    uint8 public constant KIND_ACCESS_PASS = 1;
    /// Condition: ERC-721 `token.balanceOf(user) >= max(min, 1)`. `id` must be 0.
    uint8 public constant KIND_ERC721_ANY = 2;
    /// Condition: ERC-721 `token.ownerOf(id) == user` (a missing token is "not met"). `min` must be 0.
    uint8 public constant KIND_ERC721_ID = 3;
    /// Condition: ERC-1155 `token.balanceOf(user, id) >= min`, `min >= 1`.
    uint8 public constant KIND_ERC1155 = 4;
    /// Condition: ERC-20 `token.balanceOf(user) >= min`, `min >= 1`. `id` must be 0.
    uint8 public constant KIND_ERC20 = 5;
    /// Condition: `block.timestamp >= min`. `token` and `id` must be 0.
    uint8 public constant KIND_NOT_BEFORE = 6;
    /// Condition: `block.timestamp <= min`. `token` and `id` must be 0.
    uint8 public constant KIND_NOT_AFTER = 7;

    /// accessCheck reasons. 1-3 come with ok = true, the others with ok = false.
    uint8 public constant REASON_OK_OWNER = 1;
    uint8 public constant REASON_OK_ALLOWED = 2;
    uint8 public constant REASON_OK_POLICY = 3;
    uint8 public constant REASON_UNKNOWN_FILE = 4;
    uint8 public constant REASON_DENIED = 5;
    uint8 public constant REASON_TOO_EARLY = 6;
    uint8 public constant REASON_EXPIRED = 7;
    uint8 public constant REASON_POLICY_NOT_MET = 8;
    uint8 public constant REASON_NO_POLICY = 9;
    uint8 public constant REASON_ZERO_ADDRESS = 10;

    /// Largest key capsule accepted, in bytes.
    uint256 public constant MAX_CAPSULE_LENGTH = 4096;
    /// A policy is an OR of at most this many clauses...
    uint256 public constant MAX_CLAUSES = 8;
    /// ...each an AND of 1..MAX_CONDITIONS conditions.
    uint256 public constant MAX_CONDITIONS = 8;
    /// Gas given to each external token call made while evaluating a policy.
    uint256 public constant CALL_GAS = 50_000;
    /// Gas that must be left before each external call; below it the evaluation reverts
    /// (`InsufficientGas`) instead of silently treating a starved call as "not met", so every
    /// node that runs `canAccess` with enough gas gets the same answer.
    uint256 public constant MIN_GAS_PER_CALL = CALL_GAS + CALL_GAS / 63 + 10_000;

    // ------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------

    /// One access condition; see the KIND_* constants for how each field is used.
    struct Condition {
        uint8 kind;
        address token;
        uint256 id;
        uint256 min;
    }

    /// Everything `register` records (the policy is `Condition[][]`: OR of ANDs).
    struct Registration {
        bytes32 rootHash;
        uint256 txSeq;
        uint256 size;
        uint8 scheme;
        bytes capsule;
        uint64 notBefore;
        uint64 notAfter;
        Condition[][] policy;
    }

    /// What `getFile` returns (capsule bytes and policy have their own views).
    struct FileInfo {
        address owner;
        address pendingOwner;
        bytes32 rootHash;
        uint256 txSeq;
        uint256 size;
        uint8 scheme;
        bytes32 capsuleHash;
        uint64 notBefore;
        uint64 notAfter;
        uint64 registeredAt;
    }

    struct Record {
        address owner; // slot 0
        uint8 scheme;
        uint64 notBefore;
        address pendingOwner; // slot 1
        uint64 notAfter;
        bytes32 rootHash;
        uint256 txSeq;
        uint256 size;
        bytes32 capsuleHash;
        uint64 registeredAt;
    }

    mapping(bytes32 => Record) private _files;
    mapping(bytes32 => bytes) private _capsules;
    mapping(bytes32 => Condition[][]) private _policies;
    mapping(bytes32 => mapping(address => bool)) private _allowed;
    mapping(bytes32 => mapping(address => bool)) private _denied;

    // ------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------

    event FileRegistered(
        bytes32 indexed fileId,
        address indexed owner,
        bytes32 rootHash,
        uint256 txSeq,
        uint256 size,
        uint8 scheme,
        bytes32 capsuleHash
    );
    /// Also emitted at registration with previousOwner = 0, so "my files" = replay of this event.
    event OwnershipTransferred(bytes32 indexed fileId, address indexed previousOwner, address indexed newOwner);
    /// Two-step transfer started (pendingOwner != 0) or cancelled (pendingOwner == 0).
    event OwnershipTransferStarted(bytes32 indexed fileId, address indexed owner, address indexed pendingOwner);
    /// policyHash = keccak256(abi.encode(Condition[][])) of the new policy.
    event PolicyChanged(bytes32 indexed fileId, bytes32 policyHash, uint256 clauses);
    event WindowChanged(bytes32 indexed fileId, uint64 notBefore, uint64 notAfter);
    event CapsuleChanged(bytes32 indexed fileId, uint8 scheme, bytes32 capsuleHash);
    event AllowListChanged(bytes32 indexed fileId, address indexed account, bool allowed);
    event DenyListChanged(bytes32 indexed fileId, address indexed account, bool denied);

    // ------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------

    error FileExists(bytes32 fileId);
    error UnknownFile(bytes32 fileId);
    error NotFileOwner(bytes32 fileId, address caller);
    error NotPendingOwner(bytes32 fileId, address caller);
    error ZeroAddress();
    error ZeroRootHash();
    error ZeroSize();
    /// `scheme` is not 1 (bls), 2 (shamir) or 3 (custodial); 0 is the wire's "unspecified".
    error UnknownScheme(uint8 scheme);
    error CapsuleTooLarge(uint256 length, uint256 max);
    error BadWindow(uint64 notBefore, uint64 notAfter);
    error TooManyClauses(uint256 count, uint256 max);
    error BadClauseSize(uint256 clause, uint256 count);
    error UnknownConditionKind(uint256 clause, uint256 index, uint8 kind);
    error TokenNotContract(uint256 clause, uint256 index, address token);
    error MalformedCondition(uint256 clause, uint256 index);
    error InsufficientGas(uint256 left, uint256 needed);

    // ------------------------------------------------------------------------------------
    // Registration
    // ------------------------------------------------------------------------------------

    /// The id a `register(salt, ...)` call from `owner` gets. Bound to the caller, so nobody
    /// can take another owner's id.
    function fileIdFor(address owner, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(owner, salt));
    }

    /// Records a new file owned by msg.sender; fileId = keccak256(abi.encode(msg.sender, salt)).
    /// `r.scheme` is SCHEME_BLS, SCHEME_SHAMIR or SCHEME_CUSTODIAL (1..3), else `UnknownScheme`.
    function register(bytes32 salt, Registration calldata r) external returns (bytes32 fileId) {
        fileId = fileIdFor(msg.sender, salt);
        Record storage f = _files[fileId];
        if (f.owner != address(0)) revert FileExists(fileId);
        if (r.rootHash == bytes32(0)) revert ZeroRootHash();
        if (r.size == 0) revert ZeroSize();

        f.owner = msg.sender;
        f.rootHash = r.rootHash;
        f.txSeq = r.txSeq;
        f.size = r.size;
        f.registeredAt = uint64(block.number);
        bytes32 capsuleHash = _storeCapsule(fileId, r.scheme, r.capsule);

        emit FileRegistered(fileId, msg.sender, r.rootHash, r.txSeq, r.size, r.scheme, capsuleHash);
        emit OwnershipTransferred(fileId, address(0), msg.sender);
        _setWindow(fileId, r.notBefore, r.notAfter);
        _setPolicy(fileId, r.policy);
    }

    // ------------------------------------------------------------------------------------
    // Owner-only mutators
    // ------------------------------------------------------------------------------------

    modifier onlyFileOwner(bytes32 fileId) {
        address owner = _files[fileId].owner;
        if (owner == address(0)) revert UnknownFile(fileId);
        if (owner != msg.sender) revert NotFileOwner(fileId, msg.sender);
        _;
    }

    /// Direct transfer; also cancels a pending two-step transfer.
    function transferOwnership(bytes32 fileId, address newOwner) external onlyFileOwner(fileId) {
        if (newOwner == address(0)) revert ZeroAddress();
        _transfer(fileId, newOwner);
    }

    /// Two-step transfer, step 1 (`newOwner == 0` cancels). The owner stays in charge until
    /// `acceptOwnership`.
    function proposeOwnership(bytes32 fileId, address newOwner) external onlyFileOwner(fileId) {
        _files[fileId].pendingOwner = newOwner;
        emit OwnershipTransferStarted(fileId, msg.sender, newOwner);
    }

    /// Two-step transfer, step 2, called by the proposed owner.
    function acceptOwnership(bytes32 fileId) external {
        Record storage f = _files[fileId];
        if (f.owner == address(0)) revert UnknownFile(fileId);
        if (f.pendingOwner != msg.sender || msg.sender == address(0)) revert NotPendingOwner(fileId, msg.sender);
        _transfer(fileId, msg.sender);
    }

    /// Replaces the access policy (an empty array = owner and allow-list only).
    function setPolicy(bytes32 fileId, Condition[][] calldata policy) external onlyFileOwner(fileId) {
        _setPolicy(fileId, policy);
    }

    /// Sets the file's access window; 0 means unbounded on that side. Does not bind the owner.
    function setWindow(bytes32 fileId, uint64 notBefore, uint64 notAfter) external onlyFileOwner(fileId) {
        _setWindow(fileId, notBefore, notAfter);
    }

    /// Replaces the key capsule and custody scheme (custody migration). `scheme` is
    /// SCHEME_BLS, SCHEME_SHAMIR or SCHEME_CUSTODIAL (1..3), else `UnknownScheme`.
    function setCapsule(bytes32 fileId, uint8 scheme, bytes calldata capsule) external onlyFileOwner(fileId) {
        _storeCapsule(fileId, scheme, capsule);
    }

    function allow(bytes32 fileId, address account) external onlyFileOwner(fileId) {
        if (account == address(0)) revert ZeroAddress();
        _allowed[fileId][account] = true;
        emit AllowListChanged(fileId, account, true);
    }

    function disallow(bytes32 fileId, address account) external onlyFileOwner(fileId) {
        _allowed[fileId][account] = false;
        emit AllowListChanged(fileId, account, false);
    }

    /// Revocation: a deny-listed account is refused whatever else it holds (except the owner).
    function deny(bytes32 fileId, address account) external onlyFileOwner(fileId) {
        if (account == address(0)) revert ZeroAddress();
        _denied[fileId][account] = true;
        emit DenyListChanged(fileId, account, true);
    }

    function undeny(bytes32 fileId, address account) external onlyFileOwner(fileId) {
        _denied[fileId][account] = false;
        emit DenyListChanged(fileId, account, false);
    }

    // ------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------

    function exists(bytes32 fileId) external view returns (bool) {
        return _files[fileId].owner != address(0);
    }

    /// The file's owner, or address(0) for an unknown file.
    function fileOwner(bytes32 fileId) external view returns (address) {
        return _files[fileId].owner;
    }

    function getFile(bytes32 fileId) external view returns (FileInfo memory info) {
        Record storage f = _files[fileId];
        if (f.owner == address(0)) revert UnknownFile(fileId);
        info = FileInfo({
            owner: f.owner,
            pendingOwner: f.pendingOwner,
            rootHash: f.rootHash,
            txSeq: f.txSeq,
            size: f.size,
            scheme: f.scheme,
            capsuleHash: f.capsuleHash,
            notBefore: f.notBefore,
            notAfter: f.notAfter,
            registeredAt: f.registeredAt
        });
    }

    function capsuleOf(bytes32 fileId) external view returns (bytes memory) {
        if (_files[fileId].owner == address(0)) revert UnknownFile(fileId);
        return _capsules[fileId];
    }

    function policyOf(bytes32 fileId) external view returns (Condition[][] memory) {
        if (_files[fileId].owner == address(0)) revert UnknownFile(fileId);
        return _policies[fileId];
    }

    function isAllowed(bytes32 fileId, address account) external view returns (bool) {
        return _allowed[fileId][account];
    }

    function isDenied(bytes32 fileId, address account) external view returns (bool) {
        return _denied[fileId][account];
    }

    /// True iff `user` may have the file's key released. Never reverts because of a token
    /// (hostile tokens count as "not met"); reverts only with `InsufficientGas` when called
    /// with too little gas to evaluate the policy deterministically.
    function canAccess(bytes32 fileId, address user) external view returns (bool) {
        (bool ok,) = accessCheck(fileId, user);
        return ok;
    }

    /// Like `canAccess`, plus why (REASON_* constants). Order: unknown file, zero address,
    /// owner, deny list, window, allow list, policy.
    function accessCheck(bytes32 fileId, address user) public view returns (bool ok, uint8 reason) {
        Record storage f = _files[fileId];
        address owner = f.owner;
        if (owner == address(0)) return (false, REASON_UNKNOWN_FILE);
        if (user == address(0)) return (false, REASON_ZERO_ADDRESS);
        if (user == owner) return (true, REASON_OK_OWNER);
        if (_denied[fileId][user]) return (false, REASON_DENIED);
        uint64 notBefore = f.notBefore;
        if (notBefore != 0 && block.timestamp < notBefore) return (false, REASON_TOO_EARLY);
        uint64 notAfter = f.notAfter;
        if (notAfter != 0 && block.timestamp > notAfter) return (false, REASON_EXPIRED);
        if (_allowed[fileId][user]) return (true, REASON_OK_ALLOWED);

        Condition[][] storage policy = _policies[fileId];
        uint256 clauses = policy.length;
        if (clauses == 0) return (false, REASON_NO_POLICY);
        for (uint256 i = 0; i < clauses; ++i) {
            if (_clauseHolds(fileId, policy[i], user)) return (true, REASON_OK_POLICY);
        }
        return (false, REASON_POLICY_NOT_MET);
    }

    // ------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------

    function _transfer(bytes32 fileId, address newOwner) private {
        Record storage f = _files[fileId];
        address previous = f.owner;
        f.owner = newOwner;
        f.pendingOwner = address(0);
        emit OwnershipTransferred(fileId, previous, newOwner);
    }

    function _storeCapsule(bytes32 fileId, uint8 scheme, bytes calldata capsule) private returns (bytes32 capsuleHash) {
        if (scheme < SCHEME_BLS || scheme > SCHEME_CUSTODIAL) revert UnknownScheme(scheme);
        if (capsule.length > MAX_CAPSULE_LENGTH) revert CapsuleTooLarge(capsule.length, MAX_CAPSULE_LENGTH);
        capsuleHash = keccak256(capsule);
        Record storage f = _files[fileId];
        f.scheme = scheme;
        f.capsuleHash = capsuleHash;
        _capsules[fileId] = capsule;
        emit CapsuleChanged(fileId, scheme, capsuleHash);
    }

    function _setWindow(bytes32 fileId, uint64 notBefore, uint64 notAfter) private {
        if (notBefore != 0 && notAfter != 0 && notBefore > notAfter) revert BadWindow(notBefore, notAfter);
        Record storage f = _files[fileId];
        f.notBefore = notBefore;
        f.notAfter = notAfter;
        emit WindowChanged(fileId, notBefore, notAfter);
    }

    function _setPolicy(bytes32 fileId, Condition[][] calldata policy) private {
        _validatePolicy(policy);
        delete _policies[fileId];
        Condition[][] storage stored = _policies[fileId];
        for (uint256 i = 0; i < policy.length; ++i) {
            Condition[] storage clause = stored.push();
            Condition[] calldata src = policy[i];
            for (uint256 j = 0; j < src.length; ++j) {
                clause.push(src[j]);
            }
        }
        emit PolicyChanged(fileId, keccak256(abi.encode(policy)), policy.length);
    }

    function _validatePolicy(Condition[][] calldata policy) private view {
        if (policy.length > MAX_CLAUSES) revert TooManyClauses(policy.length, MAX_CLAUSES);
        for (uint256 i = 0; i < policy.length; ++i) {
            Condition[] calldata clause = policy[i];
            if (clause.length == 0 || clause.length > MAX_CONDITIONS) revert BadClauseSize(i, clause.length);
            for (uint256 j = 0; j < clause.length; ++j) {
                _validateCondition(i, j, clause[j]);
            }
        }
    }

    function _validateCondition(uint256 i, uint256 j, Condition calldata c) private view {
        uint8 kind = c.kind;
        if (kind == KIND_NOT_BEFORE || kind == KIND_NOT_AFTER) {
            if (c.token != address(0) || c.id != 0) revert MalformedCondition(i, j);
            return;
        }
        if (kind == 0 || kind > KIND_NOT_AFTER) revert UnknownConditionKind(i, j, kind);
        // Every remaining kind calls `token`: it must be a deployed contract (this also
        // rejects address(0) and plain accounts, which would never answer).
        if (c.token.code.length == 0) revert TokenNotContract(i, j, c.token);
        if (kind == KIND_ACCESS_PASS || kind == KIND_ERC721_ID) {
            if (c.min != 0) revert MalformedCondition(i, j);
        } else if (kind == KIND_ERC721_ANY) {
            if (c.id != 0) revert MalformedCondition(i, j);
        } else if (kind == KIND_ERC20) {
            if (c.id != 0 || c.min == 0) revert MalformedCondition(i, j);
        } else {
            // KIND_ERC1155
            if (c.min == 0) revert MalformedCondition(i, j);
        }
    }

    function _clauseHolds(bytes32 fileId, Condition[] storage clause, address user) private view returns (bool) {
        uint256 n = clause.length;
        for (uint256 j = 0; j < n; ++j) {
            if (!_conditionHolds(fileId, clause[j], user)) return false;
        }
        return n != 0;
    }

    function _conditionHolds(bytes32 fileId, Condition storage c, address user) private view returns (bool) {
        uint8 kind = c.kind;
        if (kind == KIND_NOT_BEFORE) return block.timestamp >= c.min;
        if (kind == KIND_NOT_AFTER) return block.timestamp <= c.min;
        address token = c.token;
        bool ok;
        uint256 word;
        if (kind == KIND_ACCESS_PASS) {
            uint256 id = c.id;
            bytes32 target = id == 0 ? fileId : bytes32(id);
            // hasPass(bytes32,address)
            (ok, word) = _staticWord(token, abi.encodeWithSignature("hasPass(bytes32,address)", target, user));
            return ok && word == 1;
        }
        if (kind == KIND_ERC721_ANY) {
            uint256 min = c.min;
            if (min == 0) min = 1;
            (ok, word) = _staticWord(token, abi.encodeWithSignature("balanceOf(address)", user));
            return ok && word >= min;
        }
        if (kind == KIND_ERC721_ID) {
            (ok, word) = _staticWord(token, abi.encodeWithSignature("ownerOf(uint256)", c.id));
            return ok && word == uint256(uint160(user));
        }
        if (kind == KIND_ERC1155) {
            (ok, word) = _staticWord(token, abi.encodeWithSignature("balanceOf(address,uint256)", user, c.id));
            return ok && word >= c.min;
        }
        if (kind == KIND_ERC20) {
            (ok, word) = _staticWord(token, abi.encodeWithSignature("balanceOf(address)", user));
            return ok && word >= c.min;
        }
        return false;
    }

    /// staticcall with a fixed gas stipend; only the first 32 bytes of returndata are copied
    /// (no return-bomb), and fewer than 32 bytes count as failure.
    function _staticWord(address target, bytes memory data) private view returns (bool ok, uint256 word) {
        uint256 left = gasleft();
        if (left < MIN_GAS_PER_CALL) revert InsufficientGas(left, MIN_GAS_PER_CALL);
        assembly ("memory-safe") {
            ok := staticcall(CALL_GAS, target, add(data, 0x20), mload(data), 0x00, 0x20)
            if lt(returndatasize(), 0x20) { ok := 0 }
            word := mload(0x00)
        }
        if (!ok) word = 0;
    }
}
