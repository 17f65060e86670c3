// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TestBase, Vm} from "./Base.sol";
import {FileRegistry} from "../sol/FileRegistry.sol";
import {AccessPass} from "../sol/AccessPass.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract AccessPassTest is TestBase {
    FileRegistry internal reg;
    AccessPass internal pass;
    bytes32 internal id;

    address internal constant OWNER = address(0xA11CE);
    address internal constant USER = address(0xB0B);
    address internal constant OTHER = address(0xCAFE);

    function setUp() public {
        reg = new FileRegistry();
        pass = new AccessPass(address(reg));
        FileRegistry.Registration memory r = FileRegistry.Registration({
            rootHash: keccak256("root"),
            txSeq: 0,
            size: 1,
            scheme: 1, // BLS
            capsule: "",
            notBefore: 0,
            notAfter: 0,
            policy: new FileRegistry.Condition[][](0)
        });
        vm.prank(OWNER);
        id = reg.register(bytes32(0), r);
    }

    function mint(address to) internal returns (uint256) {
        vm.prank(OWNER);
        return pass.mint(id, to);
    }

    function test_constructor() public {
        assertEq(address(pass.registry()), address(reg), "registry");
        assertEq(keccak256(bytes(pass.symbol())), keccak256("ZGPASS"), "symbol");
        vm.expectRevert(AccessPass.ZeroRegistry.selector);
        new AccessPass(address(0));
    }

    function test_mint_by_owner() public {
        vm.recordLogs();
        uint256 tok = mint(USER);
        Vm.Log memory l = findLog(vm.getRecordedLogs(), AccessPass.PassMinted.selector);
        assertEq(l.topics[1], id, "ev fileId");
        assertEq(uint256(l.topics[2]), tok, "ev tokenId");
        assertEq(l.topics[3], bytes32(uint256(uint160(USER))), "ev to");
        assertEq(tok, 1, "first id");
        assertEq(pass.totalMinted(), 1, "totalMinted");
        assertEq(pass.ownerOf(tok), USER, "holder");
        assertEq(pass.fileOf(tok), id, "fileOf");
        assertTrue(pass.hasPass(id, USER), "hasPass");
        assertFalse(pass.hasPass(id, OTHER), "other has none");
        assertFalse(pass.hasPass(keccak256("x"), USER), "other file");
        uint256 tok2 = mint(USER);
        assertEq(tok2, 2, "second id");
        assertEq(pass.passCount(id, USER), 2, "count 2");
    }

    function test_mint_rejections() public {
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(AccessPass.NotFileOwner.selector, id, OTHER));
        pass.mint(id, USER);
        bytes32 unknown = keccak256("unknown");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(AccessPass.UnknownFile.selector, unknown));
        pass.mint(unknown, USER);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721InvalidReceiver.selector, address(0)));
        pass.mint(id, address(0));
    }

    function test_transfer_moves_the_pass() public {
        uint256 tok = mint(USER);
        uint256 tok2 = mint(USER);
        vm.prank(USER);
        pass.transferFrom(USER, OTHER, tok);
        assertTrue(pass.hasPass(id, USER), "still one");
        assertTrue(pass.hasPass(id, OTHER), "other got one");
        vm.prank(USER);
        pass.transferFrom(USER, OTHER, tok2);
        assertFalse(pass.hasPass(id, USER), "none left");
        assertEq(pass.passCount(id, OTHER), 2, "other has two");
    }

    function test_burn_by_holder_owner_operator() public {
        uint256 a = mint(USER);
        uint256 b = mint(USER);
        uint256 c = mint(USER);

        vm.recordLogs();
        vm.prank(USER);
        pass.burn(a); // holder
        Vm.Log memory l = findLog(vm.getRecordedLogs(), AccessPass.PassBurned.selector);
        assertEq(l.topics[3], bytes32(uint256(uint160(USER))), "ev holder");
        assertEq(abi.decode(l.data, (address)), USER, "ev by");

        vm.prank(OWNER);
        pass.burn(b); // file owner revokes

        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(AccessPass.NotAuthorizedToBurn.selector, c, OTHER));
        pass.burn(c);

        vm.prank(USER);
        pass.setApprovalForAll(OTHER, true);
        vm.prank(OTHER);
        pass.burn(c); // operator of the holder
        assertFalse(pass.hasPass(id, USER), "all burned");
        assertEq(pass.passCount(id, USER), 0, "count 0");

        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, c));
        pass.fileOf(c);
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, c));
        pass.burn(c);
    }

    function test_follows_file_ownership() public {
        uint256 tok = mint(USER);
        vm.prank(OWNER);
        reg.transferOwnership(id, OTHER);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(AccessPass.NotFileOwner.selector, id, OWNER));
        pass.mint(id, USER);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(AccessPass.NotAuthorizedToBurn.selector, tok, OWNER));
        pass.burn(tok);
        vm.prank(OTHER);
        pass.burn(tok); // the new owner can revoke
        vm.prank(OTHER);
        assertEq(pass.mint(id, USER), 2, "new owner mints");
    }
}
