// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TestBase, Vm} from "./Base.sol";
import {Flow} from "../sol/Flow.sol";
import {FixedPriceMarket} from "../sol/FixedPriceMarket.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract FlowTest is TestBase {
    FixedPriceMarket internal market;
    Flow internal flow;
    uint256 internal constant PRICE = 30_733_644_962; // ~ testnet turbo, wei per sector
    address internal constant SUBMITTER = 0x1111111111111111111111111111111111111111;
    bytes32 internal constant SUBMIT_TOPIC0 = 0x167ce04d2aa1981994d3a31695da0d785373335b1078cec239a1a3a2c7675555;

    // shared/reference/0g-extra-vectors.json -> calldata[0].newAbiCalldata (size 1, mod251)
    bytes internal constant CALLDATA_1 =
        hex"bc8c11f80000000000000000000000000000000000000000000000000000000000000020000000000000000000000000000000000000000000000000000000000000004000000000000000000000000011111111111111111111111111111111111111110000000000000000000000000000000000000000000000000000000000000001000000000000000000000000000000000000000000000000000000000000006000000000000000000000000000000000000000000000000000000000000000800000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000171bfab3b73c19ec6548f3e1dcc56d9a8c7c66b51b71e4dbbfb1fc0e0bf2826ba0000000000000000000000000000000000000000000000000000000000000000";
    bytes32 internal constant ROOT_1 = 0x71bfab3b73c19ec6548f3e1dcc56d9a8c7c66b51b71e4dbbfb1fc0e0bf2826ba;
    // calldata[1].newAbiCalldata (size 1048577, nodes h=12, h=9)
    bytes internal constant CALLDATA_2 =
        hex"bc8c11f8000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000400000000000000000000000001111111111111111111111111111111111111111000000000000000000000000000000000000000000000000000000000010000100000000000000000000000000000000000000000000000000000000000000600000000000000000000000000000000000000000000000000000000000000080000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000022da75c6cfe571cd2ccc50628a4b6ec98db45de3d504331e844a29659553cf3c1000000000000000000000000000000000000000000000000000000000000000cd4bf27aee7f9e835f3770d1c5a5c9835bcc242ab55f8bf51e0a046d7ef35d8760000000000000000000000000000000000000000000000000000000000000009";
    bytes32 internal constant ROOT_2A = 0x2da75c6cfe571cd2ccc50628a4b6ec98db45de3d504331e844a29659553cf3c1;
    bytes32 internal constant ROOT_2B = 0xd4bf27aee7f9e835f3770d1c5a5c9835bcc242ab55f8bf51e0a046d7ef35d876;

    function setUp() public {
        market = new FixedPriceMarket(PRICE);
        flow = new Flow(address(market), 100);
        vm.deal(address(this), 1_000 ether);
    }

    // ---- helpers ----------------------------------------------------------------------

    function sub(uint256 length, uint256[] memory heights) internal pure returns (Flow.Submission memory s) {
        Flow.SubmissionNode[] memory nodes = new Flow.SubmissionNode[](heights.length);
        for (uint256 i = 0; i < heights.length; ++i) {
            nodes[i] = Flow.SubmissionNode({root: keccak256(abi.encode(length, i)), height: heights[i]});
        }
        s = Flow.Submission({data: Flow.SubmissionData({length: length, tags: "", nodes: nodes}), submitter: SUBMITTER});
    }

    function hs(uint256 a) internal pure returns (uint256[] memory h) {
        h = new uint256[](1);
        h[0] = a;
    }

    function hs(uint256 a, uint256 b) internal pure returns (uint256[] memory h) {
        h = new uint256[](2);
        h[0] = a;
        h[1] = b;
    }

    function hs(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory h) {
        h = new uint256[](3);
        h[0] = a;
        h[1] = b;
        h[2] = c;
    }

    function expectInvalid(Flow.Submission memory s, bytes memory err) internal {
        vm.expectRevert(err);
        flow.valid(s);
        vm.expectRevert(err);
        flow.submit{value: 1 ether}(s);
    }

    function decodeSubmit(Vm.Log memory l)
        internal
        pure
        returns (uint256 index, uint256 startPos, uint256 length, Flow.SubmissionData memory data)
    {
        (index, startPos, length, data) = abi.decode(l.data, (uint256, uint256, uint256, Flow.SubmissionData));
    }

    // ---- the 0G calldata vectors, sent as raw bytes -------------------------------------

    function test_vector_calldata_accepted_as_is() public {
        assertEq(Flow.Submit.selector, SUBMIT_TOPIC0, "Submit topic0");
        assertEq(bytes32(flow.submit.selector), bytes32(bytes4(0xbc8c11f8)), "submit selector");

        // size 1: one node of height 0 -> 1 sector
        vm.recordLogs();
        (bool ok, bytes memory ret) = address(flow).call{value: PRICE}(CALLDATA_1);
        assertTrue(ok, "vector 1 accepted");
        (uint256 index, bytes32 digest, uint256 start, uint256 length) =
            abi.decode(ret, (uint256, bytes32, uint256, uint256));
        assertEq(index, 0, "txSeq 0");
        assertEq(digest, keccak256(abi.encodePacked(ROOT_1)), "digest = keccak(root)");
        assertEq(start, 1, "entry 0 is reserved");
        assertEq(length, 1, "1 sector");
        Vm.Log memory l = findLog(vm.getRecordedLogs(), SUBMIT_TOPIC0);
        assertEq(l.emitter, address(flow), "emitter");
        assertEq(l.topics.length, 3, "two indexed");
        assertEq(l.topics[1], bytes32(uint256(uint160(SUBMITTER))), "sender = submitter");
        assertEq(l.topics[2], digest, "identity");
        (uint256 evIndex, uint256 evStart, uint256 evLength, Flow.SubmissionData memory data) = decodeSubmit(l);
        assertEq(evIndex, 0, "ev index");
        assertEq(evStart, 1, "ev start");
        assertEq(evLength, 1, "ev sectors");
        assertEq(data.length, 1, "ev byte length");
        assertEq(data.tags.length, 0, "ev tags");
        assertEq(data.nodes.length, 1, "ev nodes");
        assertEq(data.nodes[0].root, ROOT_1, "ev root");
        assertEq(data.nodes[0].height, 0, "ev height");
        assertEq(address(market).balance, PRICE, "fee forwarded");

        // size 1048577: nodes h=12, h=9 -> 4608 sectors; starts aligned to 4096
        vm.recordLogs();
        (ok, ret) = address(flow).call{value: 4608 * PRICE}(CALLDATA_2);
        assertTrue(ok, "vector 2 accepted");
        (index, digest, start, length) = abi.decode(ret, (uint256, bytes32, uint256, uint256));
        assertEq(index, 1, "txSeq 1");
        assertEq(digest, keccak256(abi.encodePacked(ROOT_2A, ROOT_2B)), "digest = keccak(r0 || r1)");
        assertEq(start, 4096, "aligned to 2^12");
        assertEq(length, 4608, "sectors");
        l = findLog(vm.getRecordedLogs(), SUBMIT_TOPIC0);
        assertEq(l.topics[2], digest, "identity 2");
        (evIndex, evStart, evLength, data) = decodeSubmit(l);
        assertEq(evIndex, 1, "ev index 2");
        assertEq(evStart, 4096, "ev start 2");
        assertEq(evLength, 4608, "ev sectors 2");
        assertEq(data.length, 1048577, "ev bytes 2");
        assertEq(data.nodes[0].root, ROOT_2A, "node 0");
        assertEq(data.nodes[0].height, 12, "height 0");
        assertEq(data.nodes[1].root, ROOT_2B, "node 1");
        assertEq(data.nodes[1].height, 9, "height 1");

        assertEq(flow.numSubmissions(), 2, "numSubmissions");
        assertEq(flow.submissionIndex(), 2, "submissionIndex");
        assertEq(flow.flowLength(), 4096 + 4608, "flow length");
        assertEq(address(market).balance, 4609 * PRICE, "fees");
        assertEq(market.totalFees(), 4609 * PRICE, "totalFees");

        // the legacy ABI (no submitter, selector 0xef3e12dc) is not a function of this Flow
        (ok,) = address(flow).call{value: PRICE}(
            abi.encodePacked(
                bytes4(0xef3e12dc),
                abi.encode(
                    uint256(0x20), uint256(1), uint256(0x60), uint256(0x80), uint256(0), uint256(1), ROOT_1, uint256(0)
                )
            )
        );
        assertFalse(ok, "legacy selector rejected");

        // one wei short is refused with the 0G error
        (ok, ret) = address(flow).call{value: 4608 * PRICE - 1}(CALLDATA_2);
        assertFalse(ok, "underpaid");
        assertEq(ret, abi.encodeWithSelector(Flow.NotEnoughFee.selector, PRICE, 4608, 4608 * PRICE - 1), "NotEnoughFee");
    }

    // ---- valid() ----------------------------------------------------------------------

    function test_valid_rules() public {
        Flow.Submission memory s = sub(1, hs(0));
        s.submitter = address(0);
        expectInvalid(s, abi.encodeWithSelector(Flow.ZeroSubmitter.selector));

        expectInvalid(sub(1, new uint256[](0)), abi.encodeWithSelector(Flow.NoNodes.selector));
        expectInvalid(sub(1, hs(64)), abi.encodeWithSelector(Flow.HeightTooLarge.selector, 64));
        expectInvalid(sub(2304, hs(3, 3)), abi.encodeWithSelector(Flow.HeightsNotDecreasing.selector, 1, 3, 3));
        expectInvalid(sub(2304, hs(2, 3)), abi.encodeWithSelector(Flow.HeightsNotDecreasing.selector, 1, 2, 3));
        expectInvalid(sub(4352, hs(4, 0)), abi.encodeWithSelector(Flow.HeightSpanTooLarge.selector, 4, 0));
        expectInvalid(sub(257, hs(0)), abi.encodeWithSelector(Flow.LengthExceedsCapacity.selector, 257, 256));
        expectInvalid(sub(0, hs(0)), abi.encodeWithSelector(Flow.TooMuchPadding.selector, 0, 0));
        // cap < 16: lastCapacity = cap - 1
        expectInvalid(sub(3 * 256, hs(2)), abi.encodeWithSelector(Flow.TooMuchPadding.selector, 768, 768));
        assertEq(flow.valid(sub(3 * 256 + 1, hs(2))), 4, "cap 4");
        // single node, cap >= 16: lastCapacity = cap - cap/16
        expectInvalid(sub(15 * 256, hs(4)), abi.encodeWithSelector(Flow.TooMuchPadding.selector, 3840, 3840));
        assertEq(flow.valid(sub(15 * 256 + 1, hs(4))), 16, "cap 16");
        // several nodes: lastCapacity = cap - 2^(h0-3)
        expectInvalid(sub(262144, hs(10, 7)), abi.encodeWithSelector(Flow.TooMuchPadding.selector, 262144, 262144));
        assertEq(flow.valid(sub(262145, hs(10, 7))), 1152, "1025 chunks -> 1152");
        assertEq(flow.valid(sub(4206649, hs(14, 11))), 18432, "16433 chunks -> 18432");
        // exactly at capacity, spans of 3, max height
        assertEq(flow.valid(sub(2304, hs(3, 0))), 9, "span 3 ok");
        assertEq(flow.valid(sub(9 * 256, hs(3, 0))), 9, "full");
        assertEq(flow.valid(sub(1, hs(0))), 1, "1 byte");
        assertEq(flow.valid(sub(uint256(1) << 71, hs(63))), uint256(1) << 63, "height 63");
        assertEq(flow.valid(sub(3500, hs(3, 2, 1))), 14, "three nodes");
        expectInvalid(sub(3328, hs(3, 2, 1)), abi.encodeWithSelector(Flow.TooMuchPadding.selector, 3328, 3328));
    }

    /// The submission an SDK makes for `size` bytes (padding §1.2, power-of-two nodes §1.3).
    function sdkSubmission(uint256 size) internal pure returns (Flow.Submission memory, uint256 padded) {
        uint256 chunks = (size + 255) / 256;
        uint256 p = 1;
        while (p < chunks) {
            p <<= 1;
        }
        padded = chunks;
        if (p != chunks) {
            uint256 minChunk = p >= 16 ? p / 16 : 1;
            padded = (chunks + minChunk - 1) / minChunk * minChunk;
        }
        uint256 n;
        uint256[] memory heights = new uint256[](64);
        for (uint256 h = 64; h > 0; --h) {
            if (padded & (uint256(1) << (h - 1)) != 0) heights[n++] = h - 1;
        }
        uint256[] memory cut = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            cut[i] = heights[i];
        }
        return (sub(size, cut), padded);
    }

    /// Every SDK submission is valid, with sectors = padded chunks and at most 4 nodes.
    function testFuzz_sdk_submissions_are_valid(uint64 rawSize) public view {
        uint256 size = 1 + (uint256(rawSize) % (uint256(1) << 40));
        (Flow.Submission memory s, uint256 padded) = sdkSubmission(size);
        assertTrue(s.data.nodes.length <= 4, "at most 4 nodes");
        assertEq(flow.valid(s), padded, "sectors = padded chunks");
    }

    /// Placement invariants over random sequences of files: aligned to the first node, files of
    /// at most one segment never straddle a segment boundary, larger files start on one, and
    /// files never overlap.
    function testFuzz_placement_invariants(uint32[6] memory sizes) public {
        uint256 end = 1;
        for (uint256 k = 0; k < sizes.length; ++k) {
            uint256 size = 1 + uint256(sizes[k]) % (3 << 20); // up to 3 MiB
            (Flow.Submission memory s, uint256 sectors) = sdkSubmission(size);
            uint256 start = place(s);
            assertTrue(start >= end, "no overlap");
            assertEq(start % (uint256(1) << s.data.nodes[0].height), 0, "aligned to first node");
            if (sectors <= 1024) {
                assertEq(start / 1024, (start + sectors - 1) / 1024, "within one segment");
            } else {
                assertEq(start % 1024, 0, "starts on a segment");
            }
            end = start + sectors;
            assertEq(flow.flowLength(), end, "flow length");
        }
    }

    // ---- fees -------------------------------------------------------------------------

    function test_fee() public {
        Flow.Submission memory s = sub(262145, hs(10, 7));
        uint256 fee = 1152 * PRICE;
        vm.expectRevert(abi.encodeWithSelector(Flow.NotEnoughFee.selector, PRICE, 1152, fee - 1));
        flow.submit{value: fee - 1}(s);
        vm.expectRevert(abi.encodeWithSelector(Flow.NotEnoughFee.selector, PRICE, 1152, 0));
        flow.submit(s);
        flow.submit{value: fee + 5}(s); // extra value goes to the market too
        assertEq(address(market).balance, fee + 5, "forwarded");
        assertEq(address(flow).balance, 0, "nothing stuck in the flow");

        // price changes are picked up live; only the market owner can change it
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(0xBAD)));
        market.setPricePerSector(1);
        market.setPricePerSector(0);
        assertEq(market.pricePerSector(), 0, "price 0");
        flow.submit(s); // free now
        assertEq(flow.numSubmissions(), 2, "two");

        // withdraw by the owner only
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(0xBAD)));
        market.withdraw(payable(address(0xBAD)), 1);
        market.withdraw(payable(address(0xBEEF)), fee);
        assertEq(address(0xBEEF).balance, fee, "withdrawn");
    }

    // ---- placement (0g-protocol.md §2.5) ----------------------------------------------

    function place(Flow.Submission memory s) internal returns (uint256 start) {
        (,, start,) = flow.submit{value: flow.valid(s) * PRICE}(s);
    }

    /// A file that fills its nodes exactly (always valid).
    function full(uint256[] memory heights) internal pure returns (Flow.Submission memory) {
        uint256 cap;
        for (uint256 i = 0; i < heights.length; ++i) {
            cap += uint256(1) << heights[i];
        }
        return sub(cap * 256, heights);
    }

    function test_placement() public {
        assertEq(flow.flowLength(), 1, "fresh flow");
        // (heights, expected startPos), computed independently from §2.5
        assertEq(place(full(hs(0))), 1, "1 sector at 1");
        assertEq(place(full(hs(9))), 512, "h9 aligned to 512, fits in segment 0");
        assertEq(flow.flowLength(), 1024, "len");
        assertEq(place(full(hs(9, 8))), 1024, "already segment-aligned");
        assertEq(place(full(hs(9, 8))), 2048, "alignUp(1792, 512)");
        assertEq(place(full(hs(0))), 2816, "single sector right after");
        assertEq(place(full(hs(9, 8))), 3072, "[3072, 3840) stays in segment 3");
        assertEq(place(full(hs(0))), 3840, "3840");
        assertEq(place(full(hs(2))), 3844, "h2 aligned to 4");
        assertEq(place(full(hs(9, 8))), 4096, "4096");
        assertEq(place(full(hs(0))), 4864, "4864");
        assertEq(place(full(hs(9, 8, 7))), 5120, "three nodes, contiguous");
        assertEq(place(full(hs(9, 8, 7))), 6144, "alignUp(6016, 512)");
        assertEq(place(full(hs(9, 8))), 7168, "7168");
        assertEq(place(full(hs(0))), 7936, "7936");
        assertEq(place(full(hs(8, 7))), 8192, "alignUp(7937, 256)");
        assertEq(flow.flowLength(), 8192 + 384, "final length");
    }

    function test_placement_moves_to_segment_boundary() public {
        // flow = 2 after one sector; a 768-sector file (h9, h8) would start at alignUp(2, 512)
        // = 512 and cover [512, 1280), crossing segment 0/1: it moves to 1024.
        place(sub(1, hs(0)));
        vm.recordLogs();
        uint256 start = place(full(hs(9, 8)));
        assertEq(start, 1024, "moved to the next segment");
        assertEq(flow.flowLength(), 1024 + 768, "len");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        (, uint256 evStart,,) = decodeSubmit(findLog(logs, SUBMIT_TOPIC0));
        assertEq(evStart, 1024, "event startPos");
        // the market is told about the 1022 padding sectors
        Vm.Log memory fee = findLog(logs, FixedPriceMarket.FeeCharged.selector);
        (uint256 sectors, uint256 padding,) = abi.decode(fee.data, (uint256, uint256, uint256));
        assertEq(sectors, 768, "sectors");
        assertEq(padding, 1022, "padding sectors");
        // a 12-sector file (h3, h2) at 1792 fits; 8+4 aligned to 8
        assertEq(place(sub(11 * 256 + 1, hs(3, 2))), 1792, "small fits");
        // large files start on their own power-of-two boundary (>= a segment)
        assertEq(place(sub(262145, hs(10, 7))), 2048, "h10 at 2048");
    }

    // ---- batchSubmit ------------------------------------------------------------------

    function test_batch_submit() public {
        Flow.Submission[] memory b = new Flow.Submission[](2);
        b[0] = sub(1, hs(0));
        b[1] = sub(262145, hs(10, 7));
        uint256 fee = (1 + 1152) * PRICE;
        vm.expectRevert(abi.encodeWithSelector(Flow.NotEnoughFee.selector, PRICE, 1153, fee - 1));
        flow.batchSubmit{value: fee - 1}(b);
        vm.recordLogs();
        (uint256[] memory idx, bytes32[] memory dig, uint256[] memory starts, uint256[] memory lens) =
            flow.batchSubmit{value: fee}(b);
        assertEq(countLogs(vm.getRecordedLogs(), SUBMIT_TOPIC0), 2, "two Submit events");
        assertEq(idx[0], 0, "idx0");
        assertEq(idx[1], 1, "idx1");
        assertEq(starts[0], 1, "start0");
        assertEq(starts[1], 1024, "start1");
        assertEq(lens[0], 1, "len0");
        assertEq(lens[1], 1152, "len1");
        assertEq(dig[1], keccak256(abi.encodePacked(b[1].data.nodes[0].root, b[1].data.nodes[1].root)), "dig1");
        assertEq(address(market).balance, fee, "fee");
        vm.expectRevert(Flow.EmptyBatch.selector);
        flow.batchSubmit(new Flow.Submission[](0));
        b[1].submitter = address(0);
        vm.expectRevert(Flow.ZeroSubmitter.selector);
        flow.batchSubmit{value: fee}(b);
    }

    // ---- epochs and context -----------------------------------------------------------

    function test_epoch_and_context() public {
        assertEq(flow.market(), address(market), "market");
        assertEq(flow.blocksPerEpoch(), 100, "blocksPerEpoch");
        uint256 first = flow.firstBlock();
        assertEq(first, block.number, "firstBlock");
        assertEq(flow.epoch(), 0, "epoch 0");
        vm.roll(first + 99);
        assertEq(flow.epoch(), 0, "still 0");
        vm.roll(first + 250);
        assertEq(flow.epoch(), 2, "epoch 2");
        Flow.MineContext memory ctx = flow.getContext();
        assertEq(ctx.epoch, 2, "ctx epoch");
        assertEq(ctx.mineStart, first + 200, "ctx mineStart");
        assertEq(ctx.flowRoot, bytes32(0), "no flow root on the devnet");
        assertEq(ctx.flowLength, 1, "ctx flowLength");

        vm.expectRevert(Flow.ZeroMarket.selector);
        new Flow(address(0), 1);
        vm.expectRevert(Flow.ZeroBlocksPerEpoch.selector);
        new Flow(address(market), 0);
    }
}
