// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// The market interface the Flow uses (FixedPriceMarket).
interface IFixedPriceMarket {
    function pricePerSector() external view returns (uint256);
    function chargeFee(uint256 sectors, uint256 paddingSectors) external payable;
}

/// @title Flow (devnet)
/// @notice A devnet stand-in for 0G Storage's Flow contract with the same client-facing ABI:
///         `submit` (selector 0xbc8c11f8), `batchSubmit` (0x49aa3395), `market()`, the
///         `Submit` event (topic0 0x167ce04d…5555), the `valid()` rules, the fee
///         (sum of 2^height sectors x pricePerSector) and flow placement with padding
///         sectors. Written from the protocol description (shared/reference/0g-protocol.md
///         §2), not from 0G's code.
///
///         Simplified: no flow Merkle tree (getContext().flowRoot is zero and there is no
///         getFlowRootByTxSeq), no mining/PoRA, no upgradeability; the whole msg.value is
///         forwarded to the market (0G keeps any excess in the Flow); epochs are
///         `(block.number - firstBlock) / blocksPerEpoch`.
contract Flow {
    struct SubmissionNode {
        bytes32 root;
        uint256 height;
    }

    struct SubmissionData {
        uint256 length; // file size in bytes
        bytes tags;
        SubmissionNode[] nodes;
    }

    struct Submission {
        SubmissionData data;
        address submitter;
    }

    struct MineContext {
        uint256 epoch;
        uint256 mineStart;
        bytes32 flowRoot;
        uint256 flowLength;
        bytes32 blockDigest;
        bytes32 digest;
    }

    uint256 public constant BYTES_PER_SECTOR = 256;
    uint256 public constant SECTORS_PER_SEGMENT = 1024;
    uint256 public constant MAX_HEIGHT = 63;
    uint256 public constant MAX_HEIGHT_SPAN = 3;

    /// The FixedPriceMarket that receives fees.
    address public immutable market;
    uint256 public immutable blocksPerEpoch;
    uint256 public immutable firstBlock;
    /// Number of submissions so far = the txSeq of the next one.
    uint256 public submissionIndex;
    /// Flow length in sectors (entry 0 is reserved, so a fresh flow has length 1).
    uint256 public flowLength = 1;

    /// Same signature (and topic0) as 0G's: sender is the (unauthenticated) submitter,
    /// identity = keccak256(root_0 ‖ root_1 ‖ …), length is in sectors.
    event Submit(
        address indexed sender,
        bytes32 indexed identity,
        uint256 submissionIndex,
        uint256 startPos,
        uint256 length,
        SubmissionData submission
    );

    error ZeroMarket();
    error ZeroBlocksPerEpoch();
    error ZeroSubmitter();
    error NoNodes();
    error HeightTooLarge(uint256 height);
    error HeightsNotDecreasing(uint256 index, uint256 previous, uint256 height);
    error HeightSpanTooLarge(uint256 first, uint256 last);
    error LengthExceedsCapacity(uint256 length, uint256 capacityBytes);
    error TooMuchPadding(uint256 length, uint256 minExclusive);
    error NotEnoughFee(uint256 price, uint256 amount, uint256 paid);
    error EmptyBatch();

    constructor(address market_, uint256 blocksPerEpoch_) {
        if (market_ == address(0)) revert ZeroMarket();
        if (blocksPerEpoch_ == 0) revert ZeroBlocksPerEpoch();
        market = market_;
        blocksPerEpoch = blocksPerEpoch_;
        firstBlock = block.number;
    }

    /// Appends one file to the flow. msg.value must cover `length × pricePerSector`.
    /// Returns the txSeq, the identity digest, the flow start position and the sector count.
    function submit(Submission calldata submission)
        external
        payable
        returns (uint256 index, bytes32 digest, uint256 startIndex, uint256 length)
    {
        length = valid(submission);
        uint256 price = IFixedPriceMarket(market).pricePerSector();
        if (msg.value < length * price) revert NotEnoughFee(price, length, msg.value);
        uint256 padding;
        (index, digest, startIndex, padding) = _append(submission, length);
        IFixedPriceMarket(market).chargeFee{value: msg.value}(length, padding);
    }

    /// Appends several files; msg.value must cover the sum of their fees.
    function batchSubmit(Submission[] calldata submissions)
        external
        payable
        returns (
            uint256[] memory indexes,
            bytes32[] memory digests,
            uint256[] memory startIndexes,
            uint256[] memory lengths
        )
    {
        uint256 n = submissions.length;
        if (n == 0) revert EmptyBatch();
        indexes = new uint256[](n);
        digests = new bytes32[](n);
        startIndexes = new uint256[](n);
        lengths = new uint256[](n);
        uint256 total;
        uint256 padding;
        for (uint256 i = 0; i < n; ++i) {
            uint256 sectors = valid(submissions[i]);
            uint256 pad;
            (indexes[i], digests[i], startIndexes[i], pad) = _append(submissions[i], sectors);
            lengths[i] = sectors;
            total += sectors;
            padding += pad;
        }
        uint256 price = IFixedPriceMarket(market).pricePerSector();
        if (msg.value < total * price) revert NotEnoughFee(price, total, msg.value);
        IFixedPriceMarket(market).chargeFee{value: msg.value}(total, padding);
    }

    /// The checks of 0G's SubmissionLibrary.valid (reverting with a reason instead of
    /// returning false). Returns the sector count Σ 2^height.
    function valid(Submission calldata submission) public pure returns (uint256 sectors) {
        if (submission.submitter == address(0)) revert ZeroSubmitter();
        SubmissionNode[] calldata nodes = submission.data.nodes;
        uint256 n = nodes.length;
        if (n == 0) revert NoNodes();
        uint256 first = nodes[0].height;
        if (first > MAX_HEIGHT) revert HeightTooLarge(first);
        uint256 previous = first;
        sectors = uint256(1) << first;
        for (uint256 i = 1; i < n; ++i) {
            uint256 h = nodes[i].height;
            if (h >= previous) revert HeightsNotDecreasing(i, previous, h);
            sectors += uint256(1) << h;
            previous = h;
        }
        if (first - previous > MAX_HEIGHT_SPAN) revert HeightSpanTooLarge(first, previous);
        uint256 length = submission.data.length;
        if (length > sectors * BYTES_PER_SECTOR) revert LengthExceedsCapacity(length, sectors * BYTES_PER_SECTOR);
        uint256 lastCapacity;
        if (sectors < 16) {
            lastCapacity = sectors - 1;
        } else if (n == 1) {
            lastCapacity = sectors - sectors / 16;
        } else {
            lastCapacity = sectors - (uint256(1) << (first - 3));
        }
        if (length <= lastCapacity * BYTES_PER_SECTOR) revert TooMuchPadding(length, lastCapacity * BYTES_PER_SECTOR);
    }

    function numSubmissions() external view returns (uint256) {
        return submissionIndex;
    }

    function epoch() public view returns (uint256) {
        return (block.number - firstBlock) / blocksPerEpoch;
    }

    /// Mining context, simplified: flowRoot is always zero (no flow tree on the devnet).
    function getContext() external view returns (MineContext memory ctx) {
        ctx.epoch = epoch();
        ctx.mineStart = firstBlock + ctx.epoch * blocksPerEpoch;
        ctx.flowRoot = bytes32(0);
        ctx.flowLength = flowLength;
        ctx.blockDigest = blockhash(ctx.mineStart);
        ctx.digest = keccak256(abi.encode(ctx.epoch, ctx.mineStart, ctx.flowRoot, ctx.flowLength, ctx.blockDigest));
    }

    /// Places a validated submission in the flow (0g-protocol.md §2.5) and emits Submit.
    function _append(Submission calldata submission, uint256 sectors)
        private
        returns (uint256 index, bytes32 digest, uint256 startPos, uint256 padding)
    {
        SubmissionNode[] calldata nodes = submission.data.nodes;
        uint256 current = flowLength;
        startPos = _alignUp(current, uint256(1) << nodes[0].height);
        if (
            startPos % SECTORS_PER_SEGMENT != 0
                && startPos / SECTORS_PER_SEGMENT != (startPos + sectors - 1) / SECTORS_PER_SEGMENT
        ) {
            startPos = _alignUp(startPos, SECTORS_PER_SEGMENT);
        }
        padding = startPos - current;
        flowLength = startPos + sectors;

        bytes32[] memory roots = new bytes32[](nodes.length);
        for (uint256 i = 0; i < nodes.length; ++i) {
            roots[i] = nodes[i].root;
        }
        digest = keccak256(abi.encodePacked(roots));
        index = submissionIndex++;
        emit Submit(submission.submitter, digest, index, startPos, sectors, submission.data);
    }

    function _alignUp(uint256 x, uint256 align) private pure returns (uint256) {
        return (x + align - 1) / align * align;
    }
}
