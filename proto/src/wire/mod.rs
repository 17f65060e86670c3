//! The key-release protocol on the wire: prost messages generated from
//! `proto/zgvault/v1/keys.proto`, size-limited decoding, and conversion into validated types.
//!
//! Everything a peer sends goes through [`decode_request`] / [`decode_response`]: they refuse
//! inputs over [`MAX_MESSAGE_BYTES`] before parsing, and check every fixed-length field, so
//! the rest of the code never sees a malformed value.

mod convert;

use alloy_primitives::B256;
use prost::Message;

pub use convert::{DepositAck, ErrorReply, KeyRequest, KeyResponse, SealedShare, ShredAck};

use crate::error::{Error, Result};

/// The generated prost types (package `zgvault.v1`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub(crate) mod pb {
    include!(concat!(env!("OUT_DIR"), "/zgvault.v1.rs"));
}

/// Machine-readable reasons a node refuses a request (the protobuf `ErrorCode` enum).
pub use pb::ErrorCode;

/// The envelope version this build speaks.
pub const WIRE_VERSION: u32 = 1;
/// Largest encoded request or response accepted, checked before decoding.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest capsule an access request may carry (a BLS capsule is 97 bytes).
pub const MAX_CAPSULE_BYTES: usize = 1024;
/// Largest human-readable message in an [`ErrorReply`]; longer ones are cut on creation.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Encodes a request in its versioned envelope.
pub fn encode_request(request: &KeyRequest) -> Vec<u8> {
    convert::request_to_pb(request).encode_to_vec()
}

/// Decodes and validates a request; refuses more than [`MAX_MESSAGE_BYTES`] unread.
pub fn decode_request(bytes: &[u8]) -> Result<KeyRequest> {
    check_size(bytes)?;
    let envelope = pb::Request::decode(bytes).map_err(|source| Error::WireDecode {
        message: "request",
        source,
    })?;
    convert::request_from_pb(envelope)
}

/// Encodes a response in its versioned envelope.
pub fn encode_response(response: &KeyResponse) -> Vec<u8> {
    convert::response_to_pb(response).encode_to_vec()
}

/// Decodes and validates a response; refuses more than [`MAX_MESSAGE_BYTES`] unread.
pub fn decode_response(bytes: &[u8]) -> Result<KeyResponse> {
    check_size(bytes)?;
    let envelope = pb::Response::decode(bytes).map_err(|source| Error::WireDecode {
        message: "response",
        source,
    })?;
    convert::response_from_pb(envelope)
}

fn check_size(bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::MessageTooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

impl Error {
    /// The wire code a node sends back when a request fails with this error.
    ///
    /// Chain-side refusals (replay, stale block, access denied, ...) are decided by the node,
    /// which picks those codes itself.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::MalformedSignature { .. } | Error::BadSignature => ErrorCode::BadSignature,
            Error::RequestExpired { .. }
            | Error::RequestNotYetValid { .. }
            | Error::RequestLifetimeTooLong { .. }
            | Error::RequestTimesInvalid { .. } => ErrorCode::Expired,
            Error::CapsuleMissing
            | Error::CapsuleMismatch
            | Error::CapsuleInvalid
            | Error::CapsuleRetired => ErrorCode::CapsuleMismatch,
            Error::WrongChain { .. } | Error::WrongRegistry { .. } => ErrorCode::WrongDomain,
            Error::MessageTooLarge { .. } => ErrorCode::TooLarge,
            Error::UnsupportedWireVersion { .. } => ErrorCode::UnsupportedVersion,
            Error::WireDecode { .. }
            | Error::FieldLength { .. }
            | Error::FieldTooLong { .. }
            | Error::MissingField { .. }
            | Error::UnknownScheme { .. }
            | Error::BoxLength { .. }
            | Error::WeakBoxKey
            | Error::InvalidCommitments { .. }
            | Error::ShareInvalid { .. }
            | Error::BoxOpenFailed => ErrorCode::Malformed,
            _ => ErrorCode::Internal,
        }
    }
}

/// Reads a fixed-length byte field.
fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N]> {
    <[u8; N]>::try_from(bytes).map_err(|_| Error::FieldLength {
        field,
        expected: N,
        got: bytes.len(),
    })
}

fn hash_field(field: &'static str, bytes: &[u8]) -> Result<B256> {
    fixed::<32>(field, bytes).map(B256::from)
}
