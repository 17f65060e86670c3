// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// The part of FileRegistry that AccessPass needs.
interface IFileOwnerLookup {
    function fileOwner(bytes32 fileId) external view returns (address);
}

/// @title AccessPass
/// @notice ERC-721 "read pass" for a zgvault file. Only the file's current owner (as recorded in
///         the FileRegistry) can mint passes for it; the owner (revocation) or the holder
///         (or an approved operator) can burn one. A FileRegistry policy condition of kind
///         ACCESS_PASS checks `hasPass(fileId, user)`. Passes are ordinary, transferable ERC-721
///         tokens; revoke a pass by burning it, or deny-list the account in the registry.
contract AccessPass is ERC721 {
    /// The FileRegistry whose owners may mint.
    IFileOwnerLookup public immutable registry;
    /// Number of passes ever minted; token ids are 1..totalMinted.
    uint256 public totalMinted;

    mapping(uint256 => bytes32) private _fileOf;
    mapping(bytes32 => mapping(address => uint256)) private _passCount;

    event PassMinted(bytes32 indexed fileId, uint256 indexed tokenId, address indexed to);
    event PassBurned(bytes32 indexed fileId, uint256 indexed tokenId, address indexed holder, address by);

    error ZeroRegistry();
    error UnknownFile(bytes32 fileId);
    error NotFileOwner(bytes32 fileId, address caller);
    error NotAuthorizedToBurn(uint256 tokenId, address caller);

    constructor(address registry_) ERC721("zgvault Access Pass", "ZGPASS") {
        if (registry_ == address(0)) revert ZeroRegistry();
        registry = IFileOwnerLookup(registry_);
    }

    /// Mints a pass for `fileId` to `to`. Only the file's owner may call. Uses `_mint`, not
    /// `_safeMint`: no receiver callback.
    function mint(bytes32 fileId, address to) external returns (uint256 tokenId) {
        address owner = registry.fileOwner(fileId);
        if (owner == address(0)) revert UnknownFile(fileId);
        if (owner != msg.sender) revert NotFileOwner(fileId, msg.sender);
        tokenId = ++totalMinted;
        _fileOf[tokenId] = fileId;
        _mint(to, tokenId);
        emit PassMinted(fileId, tokenId, to);
    }

    /// Burns a pass. Allowed for the holder, an operator/approved address of the holder, and
    /// the current owner of the pass's file.
    function burn(uint256 tokenId) external {
        address holder = _requireOwned(tokenId);
        bytes32 fileId = _fileOf[tokenId];
        if (!_isAuthorized(holder, msg.sender, tokenId) && registry.fileOwner(fileId) != msg.sender) {
            revert NotAuthorizedToBurn(tokenId, msg.sender);
        }
        _burn(tokenId);
        emit PassBurned(fileId, tokenId, holder, msg.sender);
    }

    /// The file a (live) pass belongs to; reverts for a missing or burned token.
    function fileOf(uint256 tokenId) external view returns (bytes32) {
        _requireOwned(tokenId);
        return _fileOf[tokenId];
    }

    /// True iff `user` currently holds at least one pass for `fileId`.
    function hasPass(bytes32 fileId, address user) external view returns (bool) {
        return _passCount[fileId][user] != 0;
    }

    /// How many passes for `fileId` `user` holds.
    function passCount(bytes32 fileId, address user) external view returns (uint256) {
        return _passCount[fileId][user];
    }

    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = super._update(to, tokenId, auth);
        bytes32 fileId = _fileOf[tokenId];
        if (from != address(0)) _passCount[fileId][from] -= 1;
        if (to != address(0)) _passCount[fileId][to] += 1;
    }
}
