#![doc = include_str!("../README.md")]

pub mod account;
mod error;
mod files;
pub mod flows;
pub mod keys;
pub mod network;
mod sealing;
pub mod storage;
pub mod zg;

pub use error::{Error, ProofError, Quoted, SubmissionRule, VaultIdentity, quoted};
pub use sealing::{SealedFile, media_type_of, open_file, seal_file, sealed_metadata};
