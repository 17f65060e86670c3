// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TestBase, Vm} from "./Base.sol";
import {NodeRegistry} from "../sol/NodeRegistry.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract NodeRegistryTest is TestBase {
    NodeRegistry internal nr;
    address internal constant ADMIN = address(0xAD);
    address internal constant OTHER = address(0xCAFE);
    bytes internal constant PKS = hex"aabbccdd";

    function setUp() public {
        nr = new NodeRegistry(ADMIN);
    }

    function mem(uint256 i) internal pure returns (NodeRegistry.Member memory m) {
        string[] memory addrs = new string[](1);
        addrs[0] = "/ip4/127.0.0.1/tcp/4001";
        m = NodeRegistry.Member({
            peerId: abi.encodePacked(bytes2(0x0024), keccak256(abi.encode("peer", i))),
            multiaddrs: addrs,
            encKey: keccak256(abi.encode("enc", i)),
            blsPublicKeyShare: abi.encodePacked(keccak256(abi.encode("bls", i)), bytes16(0)),
            // casting to 'uint160' is safe because i < 65
            // forge-lint: disable-next-line(unsafe-typecast)
            operator: address(uint160(0x1000 + i))
        });
    }

    function mems(uint256 n) internal pure returns (NodeRegistry.Member[] memory ms) {
        ms = new NodeRegistry.Member[](n);
        for (uint256 i = 0; i < n; ++i) {
            ms[i] = mem(i);
        }
    }

    function set(uint64 epoch, uint32 t, NodeRegistry.Member[] memory ms, bytes memory pks) internal {
        vm.prank(ADMIN);
        nr.setEpoch(epoch, t, ms, pks);
    }

    function expectSetRevert(
        uint64 epoch,
        uint32 t,
        NodeRegistry.Member[] memory ms,
        bytes memory pks,
        bytes memory err
    ) internal {
        vm.prank(ADMIN);
        vm.expectRevert(err);
        nr.setEpoch(epoch, t, ms, pks);
    }

    function test_initial_state() public view {
        assertEq(nr.owner(), ADMIN, "admin");
        assertEq(nr.epoch(), 0, "epoch 0");
        assertEq(nr.memberCount(), 0, "no members");
        assertEq(nr.publicKeySet().length, 0, "no key set");
    }

    function test_set_epoch_and_views() public {
        NodeRegistry.Member[] memory ms = mems(3);
        ms[1].multiaddrs = new string[](2);
        ms[1].multiaddrs[0] = "/ip4/10.0.0.1/tcp/1";
        ms[1].multiaddrs[1] = "/dns4/node1.example/tcp/4001";
        vm.recordLogs();
        set(1, 2, ms, PKS);
        Vm.Log memory l = findLog(vm.getRecordedLogs(), NodeRegistry.EpochChanged.selector);
        assertEq(uint256(l.topics[1]), 1, "ev epoch");
        assertEq(l.data, abi.encode(uint32(2), uint256(3), keccak256(PKS), keccak256(abi.encode(ms))), "ev data");

        assertEq(nr.epoch(), 1, "epoch");
        assertEq(nr.threshold(), 2, "threshold");
        assertEq(nr.memberCount(), 3, "count");
        assertEq(nr.publicKeySet(), PKS, "pks");
        assertEq(nr.epochSetAt(), block.number, "epochSetAt");
        assertEq(abi.encode(nr.members()), abi.encode(ms), "members round trip");
        assertEq(abi.encode(nr.member(1)), abi.encode(ms[1]), "member(1)");
        (uint64 e, uint32 t, NodeRegistry.Member[] memory got, bytes memory pks) = nr.state();
        assertEq(e, 1, "state epoch");
        assertEq(t, 2, "state t");
        assertEq(abi.encode(got), abi.encode(ms), "state members");
        assertEq(pks, PKS, "state pks");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.MemberIndexOutOfRange.selector, 3, 3));
        nr.member(3);

        // a later epoch replaces everything
        set(5, 1, mems(1), hex"01");
        assertEq(nr.memberCount(), 1, "replaced");
        assertEq(nr.epoch(), 5, "epoch 5");
        assertEq(abi.encode(nr.members()), abi.encode(mems(1)), "new members");
    }

    function test_only_admin() public {
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, OTHER));
        nr.setEpoch(1, 1, mems(1), PKS);
        // admin handover (Ownable)
        vm.prank(ADMIN);
        nr.transferOwnership(OTHER);
        vm.prank(OTHER);
        nr.setEpoch(1, 1, mems(1), PKS);
        vm.prank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, ADMIN));
        nr.setEpoch(2, 1, mems(1), PKS);
    }

    function test_epoch_strictly_increasing() public {
        expectSetRevert(0, 1, mems(1), PKS, abi.encodeWithSelector(NodeRegistry.EpochNotIncreasing.selector, 0, 0));
        set(3, 1, mems(1), PKS);
        expectSetRevert(3, 1, mems(1), PKS, abi.encodeWithSelector(NodeRegistry.EpochNotIncreasing.selector, 3, 3));
        expectSetRevert(2, 1, mems(1), PKS, abi.encodeWithSelector(NodeRegistry.EpochNotIncreasing.selector, 3, 2));
        set(4, 1, mems(1), PKS);
    }

    function test_threshold_and_size() public {
        expectSetRevert(1, 0, mems(3), PKS, abi.encodeWithSelector(NodeRegistry.BadThreshold.selector, 0, 3));
        expectSetRevert(1, 4, mems(3), PKS, abi.encodeWithSelector(NodeRegistry.BadThreshold.selector, 4, 3));
        expectSetRevert(1, 1, mems(0), PKS, abi.encodeWithSelector(NodeRegistry.BadThreshold.selector, 1, 0));
        expectSetRevert(1, 1, mems(65), PKS, abi.encodeWithSelector(NodeRegistry.TooManyMembers.selector, 65, 64));
        expectSetRevert(1, 1, mems(1), "", abi.encodeWithSelector(NodeRegistry.BadPublicKeySet.selector, 0));
        expectSetRevert(
            1, 1, mems(1), new bytes(8193), abi.encodeWithSelector(NodeRegistry.BadPublicKeySet.selector, 8193)
        );
        set(1, 3, mems(3), PKS); // t == n is fine
        uint256 g = gasleft();
        set(2, 43, mems(64), new bytes(43 * 48)); // the maximum
        log("setEpoch with 64 members, gas", g - gasleft());
        assertEq(nr.memberCount(), 64, "64 members");
    }

    function test_member_validation() public {
        NodeRegistry.Member[] memory ms = mems(2);
        ms[1].blsPublicKeyShare = new bytes(47);
        expectSetRevert(1, 1, ms, PKS, abi.encodeWithSelector(NodeRegistry.BadMember.selector, 1, "blsPublicKeyShare"));
        ms = mems(2);
        ms[0].peerId = "";
        expectSetRevert(1, 1, ms, PKS, abi.encodeWithSelector(NodeRegistry.BadMember.selector, 0, "peerId"));
        ms = mems(2);
        ms[1].encKey = bytes32(0);
        expectSetRevert(1, 1, ms, PKS, abi.encodeWithSelector(NodeRegistry.BadMember.selector, 1, "encKey"));
        ms = mems(2);
        ms[1].operator = address(0);
        expectSetRevert(1, 1, ms, PKS, abi.encodeWithSelector(NodeRegistry.BadMember.selector, 1, "operator"));
        ms = mems(2);
        ms[1].multiaddrs = new string[](0);
        expectSetRevert(1, 1, ms, PKS, abi.encodeWithSelector(NodeRegistry.BadMember.selector, 1, "multiaddrs"));
        ms = mems(2);
        ms[1].multiaddrs[0] = "";
        expectSetRevert(1, 1, ms, PKS, abi.encodeWithSelector(NodeRegistry.BadMember.selector, 1, "multiaddr"));
        ms = mems(2);
        ms[1].operator = ms[0].operator;
        expectSetRevert(1, 1, ms, PKS, abi.encodeWithSelector(NodeRegistry.DuplicateMember.selector, 0, 1));
        ms = mems(2);
        ms[1].peerId = ms[0].peerId;
        expectSetRevert(1, 1, ms, PKS, abi.encodeWithSelector(NodeRegistry.DuplicateMember.selector, 0, 1));
        ms = mems(2);
        ms[1].encKey = ms[0].encKey;
        expectSetRevert(1, 1, ms, PKS, abi.encodeWithSelector(NodeRegistry.DuplicateMember.selector, 0, 1));
    }

    // ---- custodial vaults ----

    bytes32 internal constant VKEY = keccak256("vault key 1");
    bytes32 internal constant VKEY2 = keccak256("vault key 2");
    string internal constant VURL = "https://vault.example:7000";

    function registerVault(bytes32 key, string memory url) internal {
        vm.prank(ADMIN);
        nr.registerVault(key, url);
    }

    function test_vault_register_list_and_retire() public {
        assertFalse(nr.isVault(VKEY), "unknown key is no vault");
        NodeRegistry.VaultEntry memory none = nr.vault(VKEY);
        assertEq(none.encryptionKey, bytes32(0), "unknown: zero entry");
        assertEq(nr.vaultCount(), 0, "no vaults");

        vm.roll(10);
        vm.recordLogs();
        registerVault(VKEY, VURL);
        Vm.Log memory l = findLog(vm.getRecordedLogs(), NodeRegistry.VaultRegistered.selector);
        assertEq(l.topics[1], VKEY, "ev key");
        assertEq(l.data, abi.encode(VURL), "ev url");
        assertTrue(nr.isVault(VKEY), "registered");
        NodeRegistry.VaultEntry memory v = nr.vault(VKEY);
        assertEq(v.encryptionKey, VKEY, "key");
        assertEq(bytes(v.url), bytes(VURL), "url");
        assertEq(v.registeredAt, 10, "registeredAt");
        assertEq(v.retiredAt, 0, "active");

        vm.roll(11);
        registerVault(VKEY2, "http://127.0.0.1:1");
        NodeRegistry.VaultEntry[] memory all = nr.vaults();
        assertEq(all.length, 2, "two listed");
        assertEq(all[0].encryptionKey, VKEY, "registration order 0");
        assertEq(all[1].encryptionKey, VKEY2, "registration order 1");
        assertEq(nr.vaultCount(), 2, "count");

        vm.roll(20);
        vm.recordLogs();
        vm.prank(ADMIN);
        nr.retireVault(VKEY);
        l = findLog(vm.getRecordedLogs(), NodeRegistry.VaultRetired.selector);
        assertEq(l.topics[1], VKEY, "retired ev key");
        assertFalse(nr.isVault(VKEY), "retired is no vault");
        assertTrue(nr.isVault(VKEY2), "the other stays");
        v = nr.vault(VKEY);
        assertEq(v.retiredAt, 20, "retiredAt");
        assertEq(v.registeredAt, 10, "registeredAt kept");
        assertEq(nr.vaults().length, 2, "retired stays listed");

        // retired for good: neither retired again nor registered again
        vm.prank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.VaultAlreadyRetired.selector, VKEY, uint64(20)));
        nr.retireVault(VKEY);
        vm.prank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.VaultExists.selector, VKEY));
        nr.registerVault(VKEY, VURL);
    }

    function test_vault_only_admin() public {
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, OTHER));
        nr.registerVault(VKEY, VURL);
        registerVault(VKEY, VURL);
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, OTHER));
        nr.retireVault(VKEY);
        assertTrue(nr.isVault(VKEY), "still active");
        // the admin of epochs is the admin of vaults, handover included
        vm.prank(ADMIN);
        nr.transferOwnership(OTHER);
        vm.prank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, ADMIN));
        nr.retireVault(VKEY);
        vm.prank(OTHER);
        nr.retireVault(VKEY);
        assertFalse(nr.isVault(VKEY), "retired by the new admin");
    }

    function test_vault_validation() public {
        vm.startPrank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.ZeroVaultKey.selector));
        nr.registerVault(bytes32(0), VURL);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.BadVaultUrl.selector, 0));
        nr.registerVault(VKEY, "");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.BadVaultUrl.selector, 257));
        nr.registerVault(VKEY, string(new bytes(257)));
        nr.registerVault(VKEY, string(new bytes(256))); // the longest URL
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.VaultExists.selector, VKEY));
        nr.registerVault(VKEY, "http://elsewhere");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.UnknownVault.selector, VKEY2));
        nr.retireVault(VKEY2);
        vm.stopPrank();
        assertEq(nr.vaultCount(), 1, "only the valid one");
    }

    function test_vault_cap_counts_retired_ones() public {
        vm.startPrank(ADMIN);
        for (uint256 i = 1; i <= 256; ++i) {
            nr.registerVault(bytes32(i), "u");
        }
        nr.retireVault(bytes32(uint256(1)));
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.TooManyVaults.selector, 256));
        nr.registerVault(bytes32(uint256(257)), "u");
        vm.stopPrank();
        assertEq(nr.vaults().length, 256, "256 listed");
    }

    function test_vaults_and_epochs_are_independent() public {
        registerVault(VKEY, VURL);
        set(1, 1, mems(1), PKS);
        set(2, 1, mems(2), PKS);
        assertTrue(nr.isVault(VKEY), "an epoch change keeps the vaults");
        // a member's key is not a vault
        assertFalse(nr.isVault(mems(1)[0].encKey), "member key");
    }
}
