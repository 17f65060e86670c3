// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title FixedPriceMarket (devnet)
/// @notice The part of 0G's FixedPrice market that clients touch: `pricePerSector()`
///         (selector 0x61ec5082), read by clients to compute the storage fee, and a payable
///         `chargeFee` that the Flow forwards each submission's fee to. Written from the
///         protocol description, not from 0G's code; no reward/pricing logic beyond that.
contract FixedPriceMarket is Ownable {
    /// Fee per 256-byte sector (wei).
    uint256 public pricePerSector;
    /// Total wei received through `chargeFee`.
    uint256 public totalFees;

    event PricePerSectorChanged(uint256 oldPrice, uint256 newPrice);
    event FeeCharged(address indexed flow, uint256 sectors, uint256 paddingSectors, uint256 amount);
    event Withdrawn(address indexed to, uint256 amount);

    error WithdrawFailed();

    constructor(uint256 pricePerSector_) Ownable(msg.sender) {
        pricePerSector = pricePerSector_;
        emit PricePerSectorChanged(0, pricePerSector_);
    }

    function setPricePerSector(uint256 newPrice) external onlyOwner {
        emit PricePerSectorChanged(pricePerSector, newPrice);
        pricePerSector = newPrice;
    }

    /// Receives a submission's fee from the Flow. Anyone may pay; the call only accounts.
    function chargeFee(uint256 sectors, uint256 paddingSectors) external payable {
        totalFees += msg.value;
        emit FeeCharged(msg.sender, sectors, paddingSectors, msg.value);
    }

    function withdraw(address payable to, uint256 amount) external onlyOwner {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert WithdrawFailed();
        emit Withdrawn(to, amount);
    }
}
