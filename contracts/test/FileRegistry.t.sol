// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TestBase, Vm} from "./Base.sol";
import "./Hostile.sol";
import {FileRegistry} from "../sol/FileRegistry.sol";
import {AccessPass} from "../sol/AccessPass.sol";
import {TestToken, TestMultiToken, TestNFT} from "../sol/TestTokens.sol";

contract FileRegistryTestBase is TestBase {
    FileRegistry internal reg;
    AccessPass internal pass;
    TestToken internal erc20;
    TestNFT internal nft;
    TestMultiToken internal multi;

    address internal constant OWNER = address(0xA11CE);
    address internal constant USER = address(0xB0B);
    address internal constant OTHER = address(0xCAFE);
    bytes32 internal constant SALT = bytes32(uint256(42));
    bytes32 internal constant ROOT = keccak256("root");
    // The wire protocol's scheme codes (zgvault.v1.Scheme); test_scheme_codes_are_the_wire_codes
    // checks the contract's constants against them.
    uint8 internal constant BLS = 1;
    uint8 internal constant SHAMIR = 2;
    uint8 internal constant CUSTODIAL = 3;

    function setUp() public virtual {
        vm.warp(1_000_000);
        reg = new FileRegistry();
        pass = new AccessPass(address(reg));
        erc20 = new TestToken("Test", "TST");
        nft = new TestNFT("NFT", "NFT");
        multi = new TestMultiToken("");
    }

    // ---- condition builders -----------------------------------------------------------

    function cond(uint8 kind, address token, uint256 id, uint256 min)
        internal
        pure
        returns (FileRegistry.Condition memory)
    {
        return FileRegistry.Condition({kind: kind, token: token, id: id, min: min});
    }

    function cPass() internal view returns (FileRegistry.Condition memory) {
        return cond(1, address(pass), 0, 0);
    }

    function cAny(address t, uint256 min) internal pure returns (FileRegistry.Condition memory) {
        return cond(2, t, 0, min);
    }

    function cId(address t, uint256 id) internal pure returns (FileRegistry.Condition memory) {
        return cond(3, t, id, 0);
    }

    function c1155(address t, uint256 id, uint256 min) internal pure returns (FileRegistry.Condition memory) {
        return cond(4, t, id, min);
    }

    function c20(address t, uint256 min) internal pure returns (FileRegistry.Condition memory) {
        return cond(5, t, 0, min);
    }

    function cNotBefore(uint256 ts) internal pure returns (FileRegistry.Condition memory) {
        return cond(6, address(0), 0, ts);
    }

    function cNotAfter(uint256 ts) internal pure returns (FileRegistry.Condition memory) {
        return cond(7, address(0), 0, ts);
    }

    function none() internal pure returns (FileRegistry.Condition[][] memory p) {
        p = new FileRegistry.Condition[][](0);
    }

    function one(FileRegistry.Condition memory a) internal pure returns (FileRegistry.Condition[][] memory p) {
        p = new FileRegistry.Condition[][](1);
        p[0] = new FileRegistry.Condition[](1);
        p[0][0] = a;
    }

    function both(FileRegistry.Condition memory a, FileRegistry.Condition memory b)
        internal
        pure
        returns (FileRegistry.Condition[][] memory p)
    {
        p = new FileRegistry.Condition[][](1);
        p[0] = new FileRegistry.Condition[](2);
        p[0][0] = a;
        p[0][1] = b;
    }

    function either(FileRegistry.Condition memory a, FileRegistry.Condition memory b)
        internal
        pure
        returns (FileRegistry.Condition[][] memory p)
    {
        p = new FileRegistry.Condition[][](2);
        p[0] = new FileRegistry.Condition[](1);
        p[0][0] = a;
        p[1] = new FileRegistry.Condition[](1);
        p[1][0] = b;
    }

    function registration(FileRegistry.Condition[][] memory policy)
        internal
        pure
        returns (FileRegistry.Registration memory r)
    {
        r = FileRegistry.Registration({
            rootHash: ROOT,
            txSeq: 7,
            size: 1000,
            scheme: BLS,
            capsule: hex"c0ffee",
            notBefore: 0,
            notAfter: 0,
            policy: policy
        });
    }

    function registerAs(address who, bytes32 salt, FileRegistry.Condition[][] memory policy)
        internal
        returns (bytes32 id)
    {
        vm.prank(who);
        id = reg.register(salt, registration(policy));
    }

    function register(FileRegistry.Condition[][] memory policy) internal returns (bytes32) {
        return registerAs(OWNER, SALT, policy);
    }

    function setPolicy(bytes32 id, FileRegistry.Condition[][] memory policy) internal {
        vm.prank(OWNER);
        reg.setPolicy(id, policy);
    }

    function check(bytes32 id, address user, bool wantOk, uint8 wantReason, string memory what) internal view {
        (bool ok, uint8 reason) = reg.accessCheck(id, user);
        assertEq(reason, wantReason, what);
        assertTrue(ok == wantOk, what);
        assertTrue(reg.canAccess(id, user) == wantOk, what);
    }
}

contract FileRegistryRegisterTest is FileRegistryTestBase {
    function test_register_records_everything() public {
        FileRegistry.Condition[][] memory policy = one(c20(address(erc20), 5));
        FileRegistry.Registration memory r = registration(policy);
        r.notBefore = 10;
        r.notAfter = 2_000_000;
        r.scheme = SHAMIR;
        vm.recordLogs();
        vm.prank(OWNER);
        bytes32 id = reg.register(SALT, r);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(id, keccak256(abi.encode(OWNER, SALT)), "fileId = keccak(abi.encode(sender, salt))");
        assertEq(id, reg.fileIdFor(OWNER, SALT), "fileIdFor");
        assertTrue(reg.exists(id), "exists");
        assertEq(reg.fileOwner(id), OWNER, "fileOwner");
        FileRegistry.FileInfo memory f = reg.getFile(id);
        assertEq(f.owner, OWNER, "owner");
        assertEq(f.pendingOwner, address(0), "pending");
        assertEq(f.rootHash, ROOT, "root");
        assertEq(f.txSeq, 7, "txSeq");
        assertEq(f.size, 1000, "size");
        assertEq(f.scheme, SHAMIR, "scheme");
        assertEq(f.capsuleHash, keccak256(hex"c0ffee"), "capsuleHash");
        assertEq(f.notBefore, 10, "notBefore");
        assertEq(f.notAfter, 2_000_000, "notAfter");
        assertEq(f.registeredAt, block.number, "registeredAt");
        assertEq(reg.capsuleOf(id), hex"c0ffee", "capsule");
        assertEq(abi.encode(reg.policyOf(id)), abi.encode(policy), "policy round trip");

        checkRegisterEvents(logs, id, policy);
    }

    function checkRegisterEvents(Vm.Log[] memory logs, bytes32 id, FileRegistry.Condition[][] memory policy)
        internal
        pure
    {
        Vm.Log memory reg0 = findLog(logs, FileRegistry.FileRegistered.selector);
        assertEq(reg0.topics[1], id, "FileRegistered.fileId");
        assertEq(reg0.topics[2], bytes32(uint256(uint160(OWNER))), "FileRegistered.owner");
        assertEq(reg0.data, abi.encode(ROOT, uint256(7), uint256(1000), SHAMIR, keccak256(hex"c0ffee")), "ev data");
        Vm.Log memory own = findLog(logs, FileRegistry.OwnershipTransferred.selector);
        assertEq(own.topics[2], bytes32(0), "minted from 0");
        assertEq(own.topics[3], bytes32(uint256(uint160(OWNER))), "to owner");
        Vm.Log memory pol = findLog(logs, FileRegistry.PolicyChanged.selector);
        (bytes32 ph, uint256 clauses) = abi.decode(pol.data, (bytes32, uint256));
        assertEq(ph, keccak256(abi.encode(policy)), "policyHash");
        assertEq(clauses, 1, "clauses");
        assertEq(countLogs(logs, FileRegistry.WindowChanged.selector), 1, "WindowChanged");
        assertEq(countLogs(logs, FileRegistry.CapsuleChanged.selector), 1, "CapsuleChanged");
    }

    function test_ids_are_bound_to_sender_no_squatting() public {
        bytes32 a = register(none());
        // Another account using the same salt gets its own id, never the owner's.
        bytes32 b = registerAs(OTHER, SALT, none());
        assertTrue(a != b, "distinct ids");
        assertEq(reg.fileOwner(a), OWNER, "owner kept");
        assertEq(reg.fileOwner(b), OTHER, "other's own file");
    }

    function test_duplicate_id_reverts() public {
        bytes32 id = register(none());
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.FileExists.selector, id));
        register(none());
    }

    function test_register_input_checks() public {
        FileRegistry.Registration memory r = registration(none());
        r.rootHash = bytes32(0);
        vm.expectRevert(FileRegistry.ZeroRootHash.selector);
        reg.register(SALT, r);

        r = registration(none());
        r.size = 0;
        vm.expectRevert(FileRegistry.ZeroSize.selector);
        reg.register(SALT, r);

        // 0 is the wire's "unspecified", 4 is past the last scheme.
        r = registration(none());
        r.scheme = 0;
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.UnknownScheme.selector, uint8(0)));
        reg.register(SALT, r);
        r.scheme = 4;
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.UnknownScheme.selector, uint8(4)));
        reg.register(SALT, r);

        r = registration(none());
        r.capsule = new bytes(4097);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.CapsuleTooLarge.selector, 4097, 4096));
        reg.register(SALT, r);

        r = registration(none());
        r.notBefore = 20;
        r.notAfter = 19;
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.BadWindow.selector, uint64(20), uint64(19)));
        reg.register(SALT, r);

        // Limits themselves are fine; txSeq 0 and an empty capsule are fine.
        r = registration(none());
        r.capsule = new bytes(4096);
        r.txSeq = 0;
        r.scheme = CUSTODIAL;
        bytes32 id = reg.register(SALT, r);
        assertEq(reg.capsuleOf(id).length, 4096, "max capsule stored");
        r.capsule = "";
        reg.register(bytes32(uint256(1)), r);
    }

    function test_scheme_codes_are_the_wire_codes() public view {
        assertEq(reg.SCHEME_BLS(), BLS, "bls");
        assertEq(reg.SCHEME_SHAMIR(), SHAMIR, "shamir");
        assertEq(reg.SCHEME_CUSTODIAL(), CUSTODIAL, "custodial");
    }

    function test_unknown_file_views() public {
        bytes32 id = keccak256("nope");
        assertFalse(reg.exists(id), "exists");
        assertEq(reg.fileOwner(id), address(0), "owner");
        assertFalse(reg.isAllowed(id, USER), "allowed");
        assertFalse(reg.isDenied(id, USER), "denied");
        check(id, USER, false, 4, "unknown file");
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.UnknownFile.selector, id));
        reg.getFile(id);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.UnknownFile.selector, id));
        reg.capsuleOf(id);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.UnknownFile.selector, id));
        reg.policyOf(id);
    }
}

contract FileRegistryMutatorTest is FileRegistryTestBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = register(none());
    }

    function test_every_mutator_rejects_non_owner() public {
        bytes memory err = abi.encodeWithSelector(FileRegistry.NotFileOwner.selector, id, OTHER);
        vm.startPrank(OTHER);
        vm.expectRevert(err);
        reg.transferOwnership(id, OTHER);
        vm.expectRevert(err);
        reg.proposeOwnership(id, OTHER);
        vm.expectRevert(err);
        reg.setPolicy(id, none());
        vm.expectRevert(err);
        reg.setWindow(id, 0, 0);
        vm.expectRevert(err);
        reg.setCapsule(id, BLS, hex"01");
        vm.expectRevert(err);
        reg.allow(id, OTHER);
        vm.expectRevert(err);
        reg.disallow(id, OTHER);
        vm.expectRevert(err);
        reg.deny(id, USER);
        vm.expectRevert(err);
        reg.undeny(id, USER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.NotPendingOwner.selector, id, OTHER));
        reg.acceptOwnership(id);
        vm.stopPrank();
    }

    function test_every_mutator_rejects_unknown_file() public {
        bytes32 bad = keccak256("unknown");
        bytes memory err = abi.encodeWithSelector(FileRegistry.UnknownFile.selector, bad);
        vm.startPrank(OWNER);
        vm.expectRevert(err);
        reg.transferOwnership(bad, OTHER);
        vm.expectRevert(err);
        reg.proposeOwnership(bad, OTHER);
        vm.expectRevert(err);
        reg.setPolicy(bad, none());
        vm.expectRevert(err);
        reg.setWindow(bad, 0, 0);
        vm.expectRevert(err);
        reg.setCapsule(bad, BLS, hex"01");
        vm.expectRevert(err);
        reg.allow(bad, OTHER);
        vm.expectRevert(err);
        reg.disallow(bad, OTHER);
        vm.expectRevert(err);
        reg.deny(bad, USER);
        vm.expectRevert(err);
        reg.undeny(bad, USER);
        vm.expectRevert(err);
        reg.acceptOwnership(bad);
        vm.stopPrank();
    }

    function test_direct_transfer() public {
        vm.recordLogs();
        vm.prank(OWNER);
        reg.transferOwnership(id, USER);
        Vm.Log memory l = findLog(vm.getRecordedLogs(), FileRegistry.OwnershipTransferred.selector);
        assertEq(l.topics[1], id, "fileId");
        assertEq(l.topics[2], bytes32(uint256(uint160(OWNER))), "previous");
        assertEq(l.topics[3], bytes32(uint256(uint160(USER))), "new");
        assertEq(reg.fileOwner(id), USER, "new owner");
        check(id, USER, true, 1, "new owner reads");
        check(id, OWNER, false, 9, "old owner no longer");
        // the old owner lost every right
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.NotFileOwner.selector, id, OWNER));
        reg.allow(id, OWNER);
        vm.prank(USER);
        vm.expectRevert(FileRegistry.ZeroAddress.selector);
        reg.transferOwnership(id, address(0));
    }

    function test_two_step_transfer() public {
        vm.prank(OWNER);
        reg.proposeOwnership(id, USER);
        assertEq(reg.getFile(id).pendingOwner, USER, "pending");
        assertEq(reg.fileOwner(id), OWNER, "still owner");
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.NotPendingOwner.selector, id, OTHER));
        reg.acceptOwnership(id);
        vm.prank(USER);
        reg.acceptOwnership(id);
        assertEq(reg.fileOwner(id), USER, "accepted");
        assertEq(reg.getFile(id).pendingOwner, address(0), "pending cleared");

        // cancel: propose 0, then the old candidate cannot accept
        vm.prank(USER);
        reg.proposeOwnership(id, OTHER);
        vm.prank(USER);
        reg.proposeOwnership(id, address(0));
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.NotPendingOwner.selector, id, OTHER));
        reg.acceptOwnership(id);
        // a direct transfer clears a pending proposal
        vm.prank(USER);
        reg.proposeOwnership(id, OTHER);
        vm.prank(USER);
        reg.transferOwnership(id, OWNER);
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.NotPendingOwner.selector, id, OTHER));
        reg.acceptOwnership(id);
    }

    function test_set_capsule() public {
        vm.recordLogs();
        vm.prank(OWNER);
        reg.setCapsule(id, CUSTODIAL, hex"beef");
        Vm.Log memory l = findLog(vm.getRecordedLogs(), FileRegistry.CapsuleChanged.selector);
        (uint8 scheme, bytes32 h) = abi.decode(l.data, (uint8, bytes32));
        assertEq(scheme, CUSTODIAL, "ev scheme");
        assertEq(h, keccak256(hex"beef"), "ev hash");
        assertEq(reg.getFile(id).scheme, CUSTODIAL, "scheme");
        assertEq(reg.getFile(id).capsuleHash, keccak256(hex"beef"), "hash");
        assertEq(reg.capsuleOf(id), hex"beef", "capsule");
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.CapsuleTooLarge.selector, 5000, 4096));
        reg.setCapsule(id, BLS, new bytes(5000));
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.UnknownScheme.selector, uint8(9)));
        reg.setCapsule(id, 9, hex"01");
        vm.stopPrank();
        assertEq(reg.getFile(id).scheme, CUSTODIAL, "failed calls change nothing");
    }

    function test_set_capsule_refuses_unknown_schemes() public {
        vm.startPrank(OWNER);
        // 0 (the wire's "unspecified") and 4 (past custodial) are the boundaries.
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.UnknownScheme.selector, uint8(0)));
        reg.setCapsule(id, 0, hex"01");
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.UnknownScheme.selector, uint8(4)));
        reg.setCapsule(id, 4, hex"01");
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.UnknownScheme.selector, uint8(255)));
        reg.setCapsule(id, 255, hex"01");
        // Every known scheme is accepted.
        for (uint8 scheme = BLS; scheme <= CUSTODIAL; scheme++) {
            reg.setCapsule(id, scheme, hex"01");
            assertEq(reg.getFile(id).scheme, scheme, "known scheme stored");
        }
        vm.stopPrank();
    }

    function test_lists_and_events() public {
        vm.startPrank(OWNER);
        vm.recordLogs();
        reg.allow(id, USER);
        Vm.Log memory l = findLog(vm.getRecordedLogs(), FileRegistry.AllowListChanged.selector);
        assertEq(l.topics[2], bytes32(uint256(uint160(USER))), "account");
        assertEq(abi.decode(l.data, (uint256)), 1, "allowed=true");
        assertTrue(reg.isAllowed(id, USER), "isAllowed");
        reg.disallow(id, USER);
        assertFalse(reg.isAllowed(id, USER), "disallowed");
        reg.deny(id, USER);
        l = findLog(vm.getRecordedLogs(), FileRegistry.DenyListChanged.selector);
        assertEq(abi.decode(l.data, (uint256)), 1, "denied=true");
        assertTrue(reg.isDenied(id, USER), "isDenied");
        reg.undeny(id, USER);
        assertFalse(reg.isDenied(id, USER), "undenied");
        vm.expectRevert(FileRegistry.ZeroAddress.selector);
        reg.allow(id, address(0));
        vm.expectRevert(FileRegistry.ZeroAddress.selector);
        reg.deny(id, address(0));
        reg.setWindow(id, 5, 6);
        l = findLog(vm.getRecordedLogs(), FileRegistry.WindowChanged.selector);
        (uint64 nb, uint64 na) = abi.decode(l.data, (uint64, uint64));
        assertEq(nb, 5, "nb");
        assertEq(na, 6, "na");
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.BadWindow.selector, uint64(7), uint64(6)));
        reg.setWindow(id, 7, 6);
        reg.setWindow(id, 7, 0); // open-ended is fine
        reg.setWindow(id, 0, 3);
        vm.stopPrank();
    }
}

contract FileRegistryAccessTest is FileRegistryTestBase {
    function test_owner_always() public {
        bytes32 id = register(none());
        vm.startPrank(OWNER);
        reg.deny(id, OWNER);
        reg.setWindow(id, 2_000_000, 3_000_000);
        vm.stopPrank();
        check(id, OWNER, true, 1, "owner even if denied and outside window");
    }

    function test_zero_address_never() public {
        bytes32 id = register(one(cNotBefore(0)));
        check(id, address(0), false, 10, "zero address");
    }

    function test_empty_policy_is_owner_and_allow_list_only() public {
        bytes32 id = register(none());
        check(id, USER, false, 9, "no policy");
        vm.prank(OWNER);
        reg.allow(id, USER);
        check(id, USER, true, 2, "allowed");
        check(id, OTHER, false, 9, "other");
        vm.prank(OWNER);
        reg.disallow(id, USER);
        check(id, USER, false, 9, "disallowed");
    }

    function test_deny_overrides_allow_and_policy() public {
        bytes32 id = register(one(cNotBefore(0))); // public
        check(id, USER, true, 3, "public");
        vm.startPrank(OWNER);
        reg.allow(id, USER);
        reg.deny(id, USER);
        vm.stopPrank();
        check(id, USER, false, 5, "denied");
        check(id, OTHER, true, 3, "others unaffected");
        vm.prank(OWNER);
        reg.undeny(id, USER);
        check(id, USER, true, 2, "undenied, allow-listed");
    }

    function test_window_bounds_allow_list_and_policy() public {
        bytes32 id = register(one(cNotBefore(0)));
        vm.startPrank(OWNER);
        reg.allow(id, USER);
        reg.setWindow(id, 2_000, 3_000);
        vm.stopPrank();
        vm.warp(1_999);
        check(id, USER, false, 6, "too early (allowed)");
        check(id, OTHER, false, 6, "too early (policy)");
        vm.warp(2_000);
        check(id, USER, true, 2, "first second");
        check(id, OTHER, true, 3, "first second policy");
        vm.warp(3_000);
        check(id, USER, true, 2, "last second");
        vm.warp(3_001);
        check(id, USER, false, 7, "expired");
        check(id, OTHER, false, 7, "expired policy");
        vm.prank(OWNER);
        reg.setWindow(id, 0, 0);
        check(id, USER, true, 2, "unbounded");
    }

    function test_access_pass() public {
        bytes32 id = register(one(cPass()));
        check(id, USER, false, 8, "no pass");
        vm.prank(OWNER);
        uint256 tok = pass.mint(id, USER);
        check(id, USER, true, 3, "pass");
        vm.prank(USER);
        pass.transferFrom(USER, OTHER, tok);
        check(id, USER, false, 8, "pass moved away");
        check(id, OTHER, true, 3, "new holder");
        vm.prank(OWNER);
        pass.burn(tok);
        check(id, OTHER, false, 8, "burned");
    }

    function test_access_pass_of_another_file() public {
        bytes32 series = registerAs(OTHER, SALT, none());
        bytes32 id = register(one(cond(1, address(pass), uint256(series), 0)));
        vm.prank(OTHER);
        pass.mint(series, USER);
        check(id, USER, true, 3, "pass for the referenced file");
        // a pass for `id` itself does not satisfy a condition naming another file
        vm.prank(OWNER);
        pass.mint(id, address(0xD00D));
        check(id, address(0xD00D), false, 8, "pass for a different file");
    }

    function test_erc721_any() public {
        bytes32 id = register(one(cAny(address(nft), 0)));
        check(id, USER, false, 8, "no nft");
        nft.mint(USER, 1);
        check(id, USER, true, 3, "one nft (min 0 means 1)");
        setPolicy(id, one(cAny(address(nft), 2)));
        check(id, USER, false, 8, "needs two");
        nft.mint(USER, 2);
        check(id, USER, true, 3, "two");
    }

    function test_erc721_id_including_missing_token() public {
        bytes32 id = register(one(cId(address(nft), 77)));
        check(id, USER, false, 8, "token 77 does not exist (ownerOf reverts)");
        nft.mint(OTHER, 77);
        check(id, USER, false, 8, "someone else owns 77");
        check(id, OTHER, true, 3, "owner of 77");
        vm.prank(OTHER);
        nft.transferFrom(OTHER, USER, 77);
        check(id, USER, true, 3, "after transfer");
        check(id, OTHER, false, 8, "previous holder");
    }

    function test_erc1155() public {
        bytes32 id = register(one(c1155(address(multi), 9, 3)));
        multi.mint(USER, 9, 2);
        multi.mint(USER, 8, 100);
        check(id, USER, false, 8, "2 < 3 and other ids do not count");
        multi.mint(USER, 9, 1);
        check(id, USER, true, 3, "3 >= 3");
    }

    function test_erc20() public {
        bytes32 id = register(one(c20(address(erc20), 100 ether)));
        erc20.mint(USER, 100 ether - 1);
        check(id, USER, false, 8, "just below");
        erc20.mint(USER, 1);
        check(id, USER, true, 3, "exactly min");
    }

    function test_not_before_and_not_after_conditions() public {
        bytes32 id = register(one(cNotBefore(5_000)));
        vm.warp(4_999);
        check(id, USER, false, 8, "before");
        vm.warp(5_000);
        check(id, USER, true, 3, "at notBefore");
        setPolicy(id, one(cNotAfter(6_000)));
        vm.warp(6_000);
        check(id, USER, true, 3, "at notAfter");
        vm.warp(6_001);
        check(id, USER, false, 8, "after");
    }

    function test_and_or() public {
        // (ERC20 >= 10 AND NFT) OR (pass AND before t)
        FileRegistry.Condition[][] memory p = new FileRegistry.Condition[][](2);
        p[0] = new FileRegistry.Condition[](2);
        p[0][0] = c20(address(erc20), 10);
        p[0][1] = cAny(address(nft), 1);
        p[1] = new FileRegistry.Condition[](2);
        p[1][0] = cPass();
        p[1][1] = cNotAfter(2_000_000);
        bytes32 id = register(p);

        erc20.mint(USER, 10);
        check(id, USER, false, 8, "only first half of clause 0");
        nft.mint(USER, 1);
        check(id, USER, true, 3, "clause 0");

        vm.prank(OWNER);
        pass.mint(id, OTHER);
        check(id, OTHER, true, 3, "clause 1");
        vm.warp(2_000_001);
        check(id, OTHER, false, 8, "clause 1 expired");
        check(id, USER, true, 3, "clause 0 still");

        assertEq(abi.encode(reg.policyOf(id)), abi.encode(p), "stored");
        setPolicy(id, both(c20(address(erc20), 10), cNotBefore(0)));
        check(id, OTHER, false, 8, "new policy replaced old clauses");
        assertEq(reg.policyOf(id).length, 1, "one clause now");
        setPolicy(id, either(c20(address(erc20), 1000), cId(address(nft), 1)));
        check(id, USER, true, 3, "second alternative");
    }

    function test_policy_size_bounds() public {
        bytes32 id = register(none());
        FileRegistry.Condition[][] memory p = maximal(address(erc20));
        setPolicy(id, p); // 8 x 8 is fine
        assertEq(reg.policyOf(id).length, 8, "8 clauses");

        FileRegistry.Condition[][] memory tooMany = new FileRegistry.Condition[][](9);
        for (uint256 i = 0; i < 9; ++i) {
            tooMany[i] = new FileRegistry.Condition[](1);
            tooMany[i][0] = cNotBefore(0);
        }
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.TooManyClauses.selector, 9, 8));
        reg.setPolicy(id, tooMany);

        FileRegistry.Condition[][] memory wide = new FileRegistry.Condition[][](1);
        wide[0] = new FileRegistry.Condition[](9);
        for (uint256 j = 0; j < 9; ++j) {
            wide[0][j] = cNotBefore(0);
        }
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.BadClauseSize.selector, 0, 9));
        reg.setPolicy(id, wide);

        FileRegistry.Condition[][] memory empty = new FileRegistry.Condition[][](2);
        empty[0] = new FileRegistry.Condition[](1);
        empty[0][0] = cNotBefore(0);
        empty[1] = new FileRegistry.Condition[](0);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.BadClauseSize.selector, 1, 0));
        reg.setPolicy(id, empty);

        // the same bounds apply at registration
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.TooManyClauses.selector, 9, 8));
        reg.register(bytes32(uint256(99)), registration(tooMany));
    }

    function test_bad_conditions_rejected() public {
        bytes32 id = register(none());
        address eoa = address(0x1234);
        expectBad(
            id,
            cond(0, address(erc20), 0, 1),
            abi.encodeWithSelector(FileRegistry.UnknownConditionKind.selector, 0, 0, uint8(0))
        );
        expectBad(
            id,
            cond(8, address(erc20), 0, 1),
            abi.encodeWithSelector(FileRegistry.UnknownConditionKind.selector, 0, 0, uint8(8))
        );
        expectBad(
            id, c20(address(0), 1), abi.encodeWithSelector(FileRegistry.TokenNotContract.selector, 0, 0, address(0))
        );
        expectBad(id, c20(eoa, 1), abi.encodeWithSelector(FileRegistry.TokenNotContract.selector, 0, 0, eoa));
        expectBad(
            id,
            cond(1, address(0), 0, 0),
            abi.encodeWithSelector(FileRegistry.TokenNotContract.selector, 0, 0, address(0))
        );
        expectBad(
            id, cAny(address(0), 1), abi.encodeWithSelector(FileRegistry.TokenNotContract.selector, 0, 0, address(0))
        );
        expectBad(id, cId(eoa, 1), abi.encodeWithSelector(FileRegistry.TokenNotContract.selector, 0, 0, eoa));
        expectBad(
            id,
            c1155(address(0), 1, 1),
            abi.encodeWithSelector(FileRegistry.TokenNotContract.selector, 0, 0, address(0))
        );
        bytes memory malformed = abi.encodeWithSelector(FileRegistry.MalformedCondition.selector, 0, 0);
        expectBad(id, c20(address(erc20), 0), malformed); // min 0 would be "everyone"
        expectBad(id, cond(5, address(erc20), 1, 1), malformed); // id unused
        expectBad(id, c1155(address(multi), 1, 0), malformed);
        expectBad(id, cond(3, address(nft), 1, 1), malformed); // min unused
        expectBad(id, cond(1, address(pass), 0, 1), malformed);
        expectBad(id, cond(2, address(nft), 1, 1), malformed);
        expectBad(id, cond(6, address(erc20), 0, 1), malformed); // time kinds take no token
        expectBad(id, cond(7, address(0), 1, 1), malformed);

        // errors name the clause and index
        FileRegistry.Condition[][] memory p = new FileRegistry.Condition[][](2);
        p[0] = new FileRegistry.Condition[](1);
        p[0][0] = cNotBefore(0);
        p[1] = new FileRegistry.Condition[](3);
        p[1][0] = cNotBefore(0);
        p[1][1] = cNotBefore(0);
        p[1][2] = c20(eoa, 1);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(FileRegistry.TokenNotContract.selector, 1, 2, eoa));
        reg.setPolicy(id, p);
    }

    function expectBad(bytes32 id, FileRegistry.Condition memory c, bytes memory err) internal {
        vm.prank(OWNER);
        vm.expectRevert(err);
        reg.setPolicy(id, one(c));
    }

    function maximal(address token) internal pure returns (FileRegistry.Condition[][] memory p) {
        p = new FileRegistry.Condition[][](8);
        for (uint256 i = 0; i < 8; ++i) {
            p[i] = new FileRegistry.Condition[](8);
            for (uint256 j = 0; j < 8; ++j) {
                p[i][j] = c20(token, 1);
            }
        }
    }
}

contract FileRegistryHostileTest is FileRegistryTestBase {
    function hostiles() internal returns (address[] memory t) {
        t = new address[](8);
        t[0] = address(new RevertingToken());
        t[1] = address(new GasBurningToken());
        t[2] = address(new EmptyReturnToken());
        t[3] = address(new ShortReturnToken());
        t[4] = address(new GarbageToken());
        t[5] = address(new ReturnBombToken());
        t[6] = address(new StateWritingToken());
        t[7] = address(new GasBurningToken());
    }

    /// Every token-calling kind, against every hostile token: never reverts, never grants
    /// (except where the token "answers yes" in a well-formed way), never blocks a later clause.
    function test_hostile_tokens_cannot_break_can_access() public {
        address[] memory t = hostiles();
        erc20.mint(USER, 1);
        for (uint256 i = 0; i < t.length; ++i) {
            for (uint8 kind = 1; kind <= 5; ++kind) {
                FileRegistry.Condition memory bad = cond(kind, t[i], kind == 3 || kind == 4 ? 1 : 0, kind >= 4 ? 1 : 0);
                bytes32 id = registerAs(OWNER, keccak256(abi.encode(i, kind)), one(bad));
                uint256 g = gasleft();
                (bool ok, uint8 reason) = reg.accessCheck(id, USER);
                uint256 used = g - gasleft();
                // GarbageToken answers 0xff..ff: a well-formed (huge) balance, so the balance
                // kinds are met; it is still neither a `true` nor an owner address.
                bool saysYes = i == 4 && (kind == 2 || kind == 4 || kind == 5);
                assertTrue(ok == saysYes, "hostile token grants nothing");
                assertEq(reason, saysYes ? 3 : 8, "policy not met");
                assertTrue(used < 120_000, "bounded gas per hostile call");
                // a hostile clause first does not stop a good clause after it
                setPolicy(id, either(bad, c20(address(erc20), 1)));
                check(id, USER, true, 3, "later clause still evaluated");
                // and inside a clause it just fails that clause
                setPolicy(id, both(c20(address(erc20), 1), bad));
                check(id, USER, saysYes, saysYes ? 3 : 8, "AND with hostile");
            }
        }
        // StateWritingToken did not manage to write anything
        assertEq(StateWritingToken(payable(t[6])).n(), 0, "no state change under staticcall");
    }

    function test_garbage_words_are_not_true_or_owner() public {
        GarbageToken g = new GarbageToken(); // returns 0xff..ff
        bytes32 id = register(either(cond(1, address(g), 0, 0), cId(address(g), 1)));
        check(id, USER, false, 8, "dirty bool / dirty address");
        check(id, address(type(uint160).max), false, 8, "dirty address does not match max address");
    }

    function test_too_little_gas_reverts_instead_of_lying() public {
        bytes32 id = register(one(c20(address(erc20), 1)));
        erc20.mint(USER, 1);
        try reg.canAccess{gas: 40_000}(id, USER) returns (bool) {
            revert AssertionFailed("should not answer with too little gas");
        } catch (bytes memory err) {
            // casting to 'bytes4'/'bytes32' is safe: only the selector is compared
            // forge-lint: disable-next-line(unsafe-typecast)
            assertEq(bytes32(bytes4(err)), bytes32(FileRegistry.InsufficientGas.selector), "InsufficientGas");
        }
        assertTrue(reg.canAccess{gas: 200_000}(id, USER), "enough gas");
    }
}

/// Gas of canAccess with a maximal policy (8 clauses x 8 conditions = 64 token calls). The
/// files are registered in setUp, so storage and token accounts are cold in the tests, as they
/// are for a node's eth_call.
contract FileRegistryGasTest is FileRegistryTestBase {
    bytes32 internal realId;
    bytes32 internal worstId;
    uint256 internal registerGas;

    function setUp() public override {
        super.setUp();
        // 64 real ERC-20 balance checks; every clause fails on its last condition.
        TestToken[] memory toks = new TestToken[](8);
        for (uint256 k = 0; k < 8; ++k) {
            toks[k] = new TestToken("T", "T");
            toks[k].mint(USER, 1);
        }
        FileRegistry.Condition[][] memory p = new FileRegistry.Condition[][](8);
        for (uint256 i = 0; i < 8; ++i) {
            p[i] = new FileRegistry.Condition[](8);
            for (uint256 j = 0; j < 8; ++j) {
                p[i][j] = c20(address(toks[j]), j == 7 ? 2 : 1);
            }
        }
        vm.prank(OWNER);
        uint256 g0 = gasleft();
        realId = reg.register(SALT, registration(p));
        registerGas = g0 - gasleft();

        // Worst case: 64 distinct tokens that burn (almost) their whole stipend; the first 7 of
        // each clause then answer "yes", the 8th runs out of gas.
        FileRegistry.Condition[][] memory w = new FileRegistry.Condition[][](8);
        for (uint256 i = 0; i < 8; ++i) {
            w[i] = new FileRegistry.Condition[](8);
            for (uint256 j = 0; j < 8; ++j) {
                address t = j == 7 ? address(new GasBurningToken()) : address(new SlowRichToken());
                w[i][j] = c20(t, 1);
            }
        }
        worstId = registerAs(OWNER, bytes32(uint256(2)), w);
    }

    function test_gas_register_maximal_policy() public view {
        log("register() with a maximal 8x8 policy, gas", registerGas);
        assertTrue(registerGas < 5_000_000, "register bound");
    }

    function test_gas_can_access_maximal_policy_real_tokens() public view {
        uint256 g0 = gasleft();
        bool ok = reg.canAccess(realId, USER);
        uint256 used = g0 - gasleft();
        assertFalse(ok, "fails on the last condition of each clause");
        log("canAccess, maximal policy, 64 ERC-20 calls (cold), gas", used);
        assertTrue(used < 1_000_000, "real tokens bound");
    }

    function test_gas_can_access_maximal_policy_worst_case() public view {
        uint256 g0 = gasleft();
        bool ok = reg.canAccess(worstId, USER);
        uint256 used = g0 - gasleft();
        assertFalse(ok, "worst case denies");
        uint256 bound = 64 * (reg.CALL_GAS() + 6_000) + 500_000;
        log("canAccess, maximal policy, 64 stipend-burning tokens (cold), gas", used);
        log("  bound 64 x (CALL_GAS + 6000) + 500000", bound);
        assertTrue(used < bound, "worst-case bound");
    }
}
