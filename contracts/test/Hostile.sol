// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// Tokens that misbehave in every way a policy evaluation could trip over. Each answers every
/// selector the same way (fallback).

contract RevertingToken {
    fallback() external {
        revert("nope");
    }
}

contract GasBurningToken {
    fallback() external {
        while (true) {}
    }
}

contract EmptyReturnToken {
    fallback() external {
        assembly {
            return(0, 0)
        }
    }
}

contract ShortReturnToken {
    fallback() external {
        assembly {
            mstore(0, not(0))
            return(0, 31)
        }
    }
}

/// Returns a word with dirty high bits: as an address it is not anyone; as a bool it is not 1.
contract GarbageToken {
    fallback() external {
        assembly {
            mstore(0, not(0))
            return(0, 32)
        }
    }
}

/// Returns as much data as its gas allows (return-data bomb).
contract ReturnBombToken {
    fallback() external {
        assembly {
            return(0, 40000)
        }
    }
}

/// Tries to write state (fails under STATICCALL).
contract StateWritingToken {
    uint256 public n;

    fallback() external {
        n += 1;
        assembly {
            mstore(0, 1000000)
            return(0, 32)
        }
    }
}

/// Answers "huge balance / yes" after burning most of its stipend: the worst case for gas.
contract SlowRichToken {
    fallback() external {
        uint256 target = 8_000;
        while (gasleft() > target) {}
        assembly {
            mstore(0, 1)
            return(0, 32)
        }
    }
}

/// Returns a huge balance: a policy trusting it is the owner's choice.
contract LyingToken {
    fallback() external {
        assembly {
            mstore(0, 1)
            return(0, 32)
        }
    }
}
