// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title NodeRegistry
/// @notice The share-holder network of the current epoch: its members (how to reach them,
///         their X25519 response-sealing key, their BLS public key share, their operator
///         account), the threshold, and the group BLS public key set (blsttc `PublicKeySet`
///         bytes) that files of scheme BLS are encrypted to (DESIGN §6). Clients and nodes read
///         everything with one call to `state()`.
///
///         `threshold` is the number of partials needed to recover a key (blsttc:
///         `PublicKeySet::threshold() + 1`), 1 <= threshold <= members.length <= MAX_MEMBERS.
///
///         Epoch changes are approved by the admin for now. The production path (DESIGN §6)
///         approves each new epoch with a FROST (secp256k1) threshold signature of the
///         outgoing committee: that check belongs in `_authorizeEpoch`, with a
///         `setEpochApproved(..., bytes committeeSignature)` entry point next to `setEpoch`.
///
///         It also lists the network's custodial vaults by their X25519 encryption key (the key
///         a custodial capsule names and owners seal K to), so that a client can check the key
///         a vault reports on its `/v1/info` before it trusts it with K. The same admin that
///         approves epochs vouches for vaults: whoever holds this key can already install a key
///         set of its own for BLS files, so trusting it with the vault list adds no new party.
///         A retired vault stays listed (with the block it was retired at) and cannot come back:
///         a vault that needs a new key is registered under the new key.
contract NodeRegistry is Ownable {
    uint256 public constant MAX_MEMBERS = 64;
    uint256 public constant MAX_MULTIADDRS = 8;
    uint256 public constant MAX_MULTIADDR_LENGTH = 256;
    uint256 public constant MAX_PEER_ID_LENGTH = 128;
    uint256 public constant BLS_PUBLIC_KEY_LENGTH = 48;
    uint256 public constant MAX_PUBLIC_KEY_SET_LENGTH = 8192;
    /// Vaults ever registered (retired ones included), so `vaults()` stays one cheap call.
    uint256 public constant MAX_VAULTS = 256;
    uint256 public constant MAX_VAULT_URL_LENGTH = 256;

    struct Member {
        bytes peerId; // libp2p PeerId bytes (multihash)
        string[] multiaddrs; // e.g. "/ip4/127.0.0.1/tcp/4001"
        bytes32 encKey; // X25519 public key
        bytes blsPublicKeyShare; // 48-byte compressed G1 point
        address operator;
    }

    /// Current epoch (0 until the first `setEpoch`).
    uint64 public epoch;
    /// Shares needed to recover a key in the current epoch.
    uint32 public threshold;
    /// blsttc PublicKeySet bytes of the current epoch.
    bytes public publicKeySet;
    /// Block at which the current epoch was set.
    uint64 public epochSetAt;

    /// A custodial vault. `url` is where it said it answers: a hint, clients check the key.
    struct VaultEntry {
        bytes32 encryptionKey; // X25519 public key; zero in the answer for an unknown key
        string url; // e.g. "https://vault.example:7000"
        uint64 registeredAt; // block
        uint64 retiredAt; // block; 0 while the vault is active
    }

    Member[] private _members;

    VaultEntry[] private _vaults;
    /// encryptionKey => index in `_vaults` + 1 (0: never registered).
    mapping(bytes32 => uint256) private _vaultSlot;

    event EpochChanged(
        uint64 indexed epoch, uint32 threshold, uint256 memberCount, bytes32 publicKeySetHash, bytes32 membersHash
    );

    error EpochNotIncreasing(uint64 current, uint64 proposed);
    error BadThreshold(uint32 threshold, uint256 members);
    error TooManyMembers(uint256 count, uint256 max);
    error BadPublicKeySet(uint256 length);
    error BadMember(uint256 index, string what);
    error DuplicateMember(uint256 first, uint256 second);
    error MemberIndexOutOfRange(uint256 index, uint256 count);
    error ZeroVaultKey();
    error BadVaultUrl(uint256 length);
    error VaultExists(bytes32 encryptionKey);
    error UnknownVault(bytes32 encryptionKey);
    error VaultAlreadyRetired(bytes32 encryptionKey, uint64 retiredAt);
    error TooManyVaults(uint256 max);

    event VaultRegistered(bytes32 indexed encryptionKey, string url);
    event VaultRetired(bytes32 indexed encryptionKey);

    constructor(address admin) Ownable(admin) {}

    /// Installs a new epoch: threshold, full member list and group key set. Admin only for now.
    function setEpoch(
        uint64 newEpoch,
        uint32 newThreshold,
        Member[] calldata newMembers,
        bytes calldata newPublicKeySet
    ) external {
        _authorizeEpoch(newEpoch, newThreshold, newMembers, newPublicKeySet);
        if (newEpoch <= epoch) revert EpochNotIncreasing(epoch, newEpoch);
        uint256 n = newMembers.length;
        if (n > MAX_MEMBERS) revert TooManyMembers(n, MAX_MEMBERS);
        if (newThreshold == 0 || newThreshold > n) revert BadThreshold(newThreshold, n);
        if (newPublicKeySet.length == 0 || newPublicKeySet.length > MAX_PUBLIC_KEY_SET_LENGTH) {
            revert BadPublicKeySet(newPublicKeySet.length);
        }
        for (uint256 i = 0; i < n; ++i) {
            _validateMember(i, newMembers[i]);
            for (uint256 k = 0; k < i; ++k) {
                if (
                    newMembers[k].operator == newMembers[i].operator || newMembers[k].encKey == newMembers[i].encKey
                        || keccak256(newMembers[k].peerId) == keccak256(newMembers[i].peerId)
                ) revert DuplicateMember(k, i);
            }
        }

        delete _members;
        for (uint256 i = 0; i < n; ++i) {
            Member calldata src = newMembers[i];
            Member storage dst = _members.push();
            dst.peerId = src.peerId;
            for (uint256 a = 0; a < src.multiaddrs.length; ++a) {
                dst.multiaddrs.push(src.multiaddrs[a]);
            }
            dst.encKey = src.encKey;
            dst.blsPublicKeyShare = src.blsPublicKeyShare;
            dst.operator = src.operator;
        }
        epoch = newEpoch;
        threshold = newThreshold;
        publicKeySet = newPublicKeySet;
        epochSetAt = uint64(block.number);
        emit EpochChanged(newEpoch, newThreshold, n, keccak256(newPublicKeySet), keccak256(abi.encode(newMembers)));
    }

    function memberCount() external view returns (uint256) {
        return _members.length;
    }

    function member(uint256 index) external view returns (Member memory) {
        if (index >= _members.length) revert MemberIndexOutOfRange(index, _members.length);
        return _members[index];
    }

    function members() external view returns (Member[] memory) {
        return _members;
    }

    /// Everything about the current epoch in one call.
    function state()
        external
        view
        returns (uint64 epoch_, uint32 threshold_, Member[] memory members_, bytes memory publicKeySet_)
    {
        return (epoch, threshold, _members, publicKeySet);
    }

    /// Lists a custodial vault: owners may seal file keys to `encryptionKey` from now on.
    /// Admin only. A key is registered once: a retired one cannot be registered again.
    function registerVault(bytes32 encryptionKey, string calldata url) external {
        _authorizeVault();
        if (encryptionKey == bytes32(0)) revert ZeroVaultKey();
        uint256 len = bytes(url).length;
        if (len == 0 || len > MAX_VAULT_URL_LENGTH) revert BadVaultUrl(len);
        if (_vaultSlot[encryptionKey] != 0) revert VaultExists(encryptionKey);
        if (_vaults.length >= MAX_VAULTS) revert TooManyVaults(MAX_VAULTS);
        _vaults.push(
            VaultEntry({encryptionKey: encryptionKey, url: url, registeredAt: uint64(block.number), retiredAt: 0})
        );
        _vaultSlot[encryptionKey] = _vaults.length;
        emit VaultRegistered(encryptionKey, url);
    }

    /// Retires a vault: clients stop sealing new file keys to it. Files it already holds stay
    /// readable through it (their capsules name it). Admin only; for good.
    function retireVault(bytes32 encryptionKey) external {
        _authorizeVault();
        uint256 slot = _vaultSlot[encryptionKey];
        if (slot == 0) revert UnknownVault(encryptionKey);
        VaultEntry storage v = _vaults[slot - 1];
        if (v.retiredAt != 0) revert VaultAlreadyRetired(encryptionKey, v.retiredAt);
        v.retiredAt = uint64(block.number);
        emit VaultRetired(encryptionKey);
    }

    /// Whether `encryptionKey` is a registered vault that is not retired.
    function isVault(bytes32 encryptionKey) external view returns (bool) {
        uint256 slot = _vaultSlot[encryptionKey];
        return slot != 0 && _vaults[slot - 1].retiredAt == 0;
    }

    /// The entry of `encryptionKey`; all zero (no revert) when it was never registered.
    function vault(bytes32 encryptionKey) external view returns (VaultEntry memory entry) {
        uint256 slot = _vaultSlot[encryptionKey];
        if (slot != 0) entry = _vaults[slot - 1];
    }

    /// Every vault ever registered, in registration order, retired ones included.
    function vaults() external view returns (VaultEntry[] memory) {
        return _vaults;
    }

    function vaultCount() external view returns (uint256) {
        return _vaults.length;
    }

    /// Who may approve an epoch change. Today: the admin. Later: verify a committee (FROST)
    /// signature over (chainid, this, epoch, threshold, members, publicKeySet) here.
    function _authorizeEpoch(uint64, uint32, Member[] calldata, bytes calldata) internal view virtual {
        _checkOwner();
    }

    /// Who may register and retire vaults: the admin, as for epochs.
    function _authorizeVault() internal view virtual {
        _checkOwner();
    }

    function _validateMember(uint256 i, Member calldata m) private pure {
        if (m.peerId.length == 0 || m.peerId.length > MAX_PEER_ID_LENGTH) revert BadMember(i, "peerId");
        if (m.multiaddrs.length == 0 || m.multiaddrs.length > MAX_MULTIADDRS) revert BadMember(i, "multiaddrs");
        for (uint256 a = 0; a < m.multiaddrs.length; ++a) {
            uint256 len = bytes(m.multiaddrs[a]).length;
            if (len == 0 || len > MAX_MULTIADDR_LENGTH) revert BadMember(i, "multiaddr");
        }
        if (m.encKey == bytes32(0)) revert BadMember(i, "encKey");
        if (m.blsPublicKeyShare.length != BLS_PUBLIC_KEY_LENGTH) revert BadMember(i, "blsPublicKeyShare");
        if (m.operator == address(0)) revert BadMember(i, "operator");
    }
}
