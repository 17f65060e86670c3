//! The `Flow.submit` argument: file length, tags and the power-of-two node roots.

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    sol_types::SolCall,
};

use super::{abi, hash};
use crate::error::{Error, SubmissionRule};

/// Selector of `submit(((uint256,bytes,(bytes32,uint256)[]),address))`, the current ABI.
pub const SUBMIT_SELECTOR: [u8; 4] = [0xbc, 0x8c, 0x11, 0xf8];

/// What a file submits to the Flow contract (`SubmissionData` in Solidity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Exact file size in bytes, unpadded.
    pub length: u64,
    /// Free bytes; `0x` for a plain file (the KV layer puts stream ids here).
    pub tags: Bytes,
    /// The perfect subtrees of the padded file, largest first.
    pub nodes: Vec<SubmissionNode>,
}

/// One perfect subtree of `2^height` chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmissionNode {
    /// Root of the subtree.
    pub root: B256,
    /// Height: the node covers `2^height` chunks.
    pub height: u64,
}

impl Submission {
    /// The file root: `H(n0, H(n1, …))`, as the storage node derives it from the event.
    /// `None` when there are no nodes.
    pub fn root(&self) -> Option<B256> {
        hash::fold_right(self.nodes.iter().map(|n| n.root))
    }

    /// Sectors (chunks) the fee is charged for: `Σ 2^height`, the padded chunk count.
    pub fn fee_sectors(&self) -> U256 {
        self.nodes.iter().fold(U256::ZERO, |acc, n| {
            let sectors = usize::try_from(n.height)
                .ok()
                .and_then(|h| U256::from(1u8).checked_shl(h))
                .unwrap_or(U256::MAX);
            acc.saturating_add(sectors)
        })
    }

    /// The exact `msg.value` for `submit`: sectors × `Market.pricePerSector()`.
    pub fn fee(&self, price_per_sector: U256) -> U256 {
        self.fee_sectors().saturating_mul(price_per_sector)
    }

    /// `identity` of the `Submit` event: keccak256 of the node roots concatenated.
    /// This is not the file root.
    pub fn identity(&self) -> B256 {
        let mut buf = Vec::with_capacity(32 * self.nodes.len());
        for node in &self.nodes {
            buf.extend_from_slice(node.root.as_slice());
        }
        hash::keccak256(&buf)
    }

    /// Check the rules of the contract's `SubmissionLibrary.valid` (except the submitter,
    /// checked by [`Submission::submit_calldata`]), so a bad submission fails here and not
    /// after paying gas.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |reason| Err(Error::InvalidSubmission { reason });
        let (Some(first), Some(last)) = (self.nodes.first(), self.nodes.last()) else {
            return invalid(SubmissionRule::NoNodes);
        };
        let decreasing = self.nodes.windows(2).all(|w| w[1].height < w[0].height);
        if !decreasing || first.height >= 64 || first.height - last.height >= 4 {
            return invalid(SubmissionRule::Heights);
        }
        // Heights < 64 and at most 4 nodes: every sum below fits in u128.
        let capacity: u128 = self.nodes.iter().map(|n| 1u128 << n.height).sum();
        let length = u128::from(self.length);
        if length > capacity * 256 {
            return invalid(SubmissionRule::TooLong {
                length: self.length,
                capacity: capacity * 256,
            });
        }
        let last_capacity = if capacity < 16 {
            capacity - 1
        } else if self.nodes.len() == 1 {
            capacity - capacity / 16
        } else {
            capacity - (1u128 << (first.height - 3))
        };
        if length <= last_capacity * 256 {
            return invalid(SubmissionRule::TooMuchPadding {
                length: self.length,
                min_exclusive: last_capacity * 256,
            });
        }
        Ok(())
    }

    /// This submission as the Solidity struct, with `submitter` (the signer's address).
    pub fn to_abi(&self, submitter: Address) -> abi::Submission {
        abi::Submission {
            data: abi::SubmissionData {
                length: U256::from(self.length),
                tags: self.tags.clone(),
                nodes: self
                    .nodes
                    .iter()
                    .map(|n| abi::SubmissionNode {
                        root: n.root,
                        height: U256::from(n.height),
                    })
                    .collect(),
            },
            submitter,
        }
    }

    /// Calldata of `Flow.submit(submission)` for the current ABI (selector `0xbc8c11f8`).
    ///
    /// Refuses what the contract would refuse: a zero submitter or an invalid submission.
    pub fn submit_calldata(&self, submitter: Address) -> Result<Bytes, Error> {
        if submitter == Address::ZERO {
            return Err(Error::ZeroSubmitter);
        }
        self.validate()?;
        let call = abi::submitCall {
            submission: self.to_abi(submitter),
        };
        Ok(call.abi_encode().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(heights: &[u64]) -> Vec<SubmissionNode> {
        heights
            .iter()
            .map(|&height| SubmissionNode {
                root: B256::ZERO,
                height,
            })
            .collect()
    }

    #[test]
    fn selector_is_the_current_abi() {
        assert_eq!(abi::submitCall::SELECTOR, SUBMIT_SELECTOR);
    }

    #[test]
    fn fail_validate_rejects_what_the_contract_rejects() {
        let sub = |length, h: &[u64]| Submission {
            length,
            tags: Bytes::new(),
            nodes: nodes(h),
        };
        assert!(sub(262_145, &[10, 7]).validate().is_ok());
        assert!(sub(1, &[0]).validate().is_ok());
        assert!(sub(0, &[]).validate().is_err());
        assert!(sub(262_145, &[7, 10]).validate().is_err());
        assert!(sub(262_145, &[11]).validate().is_err(), "too much padding");
        assert!(sub(262_145, &[10]).validate().is_err(), "too long");
        assert!(sub(1, &[5, 1]).validate().is_err(), "span of 4 levels");
        assert!(sub(1, &[64]).validate().is_err());
    }

    #[test]
    fn fail_zero_submitter() {
        let sub = Submission {
            length: 1,
            tags: Bytes::new(),
            nodes: nodes(&[0]),
        };
        assert!(matches!(
            sub.submit_calldata(Address::ZERO),
            Err(Error::ZeroSubmitter)
        ));
    }
}
