// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TestBase} from "./Base.sol";
import {TestToken, TestMultiToken, TestNFT} from "../sol/TestTokens.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract TestTokensTest is TestBase {
    address internal constant USER = address(0xB0B);

    function test_owner_mints_others_cannot() public {
        TestToken t = new TestToken("Test", "TST");
        TestMultiToken m = new TestMultiToken("ipfs://x/{id}.json");
        TestNFT n = new TestNFT("NFT", "NFT");
        t.mint(USER, 5);
        m.mint(USER, 3, 7);
        n.mint(USER, 11);
        assertEq(t.balanceOf(USER), 5, "erc20");
        assertEq(t.decimals(), 18, "decimals");
        assertEq(m.balanceOf(USER, 3), 7, "erc1155");
        assertEq(n.ownerOf(11), USER, "erc721");
        bytes memory err = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, USER);
        vm.startPrank(USER);
        vm.expectRevert(err);
        t.mint(USER, 1);
        vm.expectRevert(err);
        m.mint(USER, 1, 1);
        vm.expectRevert(err);
        n.mint(USER, 1);
        t.burn(5);
        m.burn(3, 7);
        n.burn(11);
        vm.stopPrank();
        assertEq(t.balanceOf(USER), 0, "burned 20");
        assertEq(m.balanceOf(USER, 3), 0, "burned 1155");
        assertEq(n.balanceOf(USER), 0, "burned 721");
    }
}
