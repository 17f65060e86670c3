//! Solidity bindings of the 0G Flow contract, current ABI (0gfoundation, since 2025-12).
//!
//! Only the parts a client needs offline: the submission structs, `submit` (selector
//! `0xbc8c11f8`), `market()`, and the `Submit` event. The legacy ABI without `submitter`
//! (`0xef3e12dc`) is deliberately absent: current deployments reject it.

#![allow(missing_docs, missing_debug_implementations, unreachable_pub)]

alloy::sol! {
    /// One power-of-two subtree of the file (`2^height` chunks).
    #[derive(Debug, PartialEq, Eq)]
    struct SubmissionNode {
        bytes32 root;
        uint256 height;
    }

    /// What the `Submit` event repeats: the file part of a submission.
    #[derive(Debug, PartialEq, Eq)]
    struct SubmissionData {
        uint256 length;
        bytes tags;
        SubmissionNode[] nodes;
    }

    /// `Flow.submit`'s argument.
    #[derive(Debug, PartialEq, Eq)]
    struct Submission {
        SubmissionData data;
        address submitter;
    }

    /// Appends a file to the flow; `msg.value` must cover the fee.
    function submit(Submission submission) external payable
        returns (uint256 index, bytes32 digest, uint256 startIndex, uint256 length);

    /// The market contract that sets `pricePerSector`.
    function market() external view returns (address);

    /// `Market.pricePerSector()`: wei per sector (256-byte chunk) of padded size.
    function pricePerSector() external view returns (uint256);

    /// Emitted per submission. `identity` is the digest of the node roots, not the file
    /// root; top-level `length` counts sectors, `submission.length` bytes.
    #[derive(Debug, PartialEq, Eq)]
    event Submit(
        address indexed sender,
        bytes32 indexed identity,
        uint256 submissionIndex,
        uint256 startPos,
        uint256 length,
        SubmissionData submission
    );
}
