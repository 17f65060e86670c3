#![doc = include_str!("../README.md")]

mod error;
#[cfg(feature = "p2p-framing")]
pub mod framing;
mod key;
pub mod request;
mod rpc_url;
pub mod seal;
pub mod sealbox;
pub mod threshold;
pub mod wire;

pub use error::{Error, Result};
pub use key::{FileKey, KEY_LEN};
pub use rpc_url::RpcUrl;
pub use seal::{
    Metadata, OpenReader, SealWriter, SealedHeader, Suite, open, open_bytes, open_to_path, seal,
    seal_bytes, sealed_len,
};
