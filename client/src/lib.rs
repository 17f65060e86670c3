#![doc = include_str!("../README.md")]

mod error;
pub mod storage;
pub mod zg;

pub use error::{Error, ProofError, SubmissionRule};
