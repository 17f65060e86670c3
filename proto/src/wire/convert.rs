//! Validated Rust types for the wire messages, and the conversions both ways.
//!
//! `*_from_pb` never panics: every length is checked and every failure is an [`Error`].

use alloy_primitives::{Address, B256};
use zeroize::Zeroizing;

use super::{
    ErrorCode, MAX_CAPSULE_BYTES, MAX_ERROR_MESSAGE_BYTES, WIRE_VERSION, fixed, hash_field, pb,
};
use crate::{
    error::{Error, Result},
    request::{
        ADDRESS_LEN, AccessRequest, EthSignature, FileRef, KeyDeposit, Scheme, ShareDeposit, Shred,
        SignedAccessRequest, SignedKeyDeposit, SignedShareDeposit, SignedShred,
    },
    sealbox::{self, BoxPublicKey, BoxPurpose, BoxSecretKey, MAX_BOX_LEN},
    threshold::UncheckedCommitments,
};

/// A request a node receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRequest {
    /// Release your share of a file's key to the signer.
    Access(SignedAccessRequest),
    /// Store this Shamir share (from the file's owner).
    Deposit(SignedShareDeposit),
    /// Custodial vault: store this file key (from the file's owner).
    KeyDeposit(SignedKeyDeposit),
    /// Forget what you hold for this file (from the file's owner).
    Shred(SignedShred),
}

/// A node's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyResponse {
    /// A BLS answer (signature share on the file's capsule label), sealed to the requester.
    Partial(SealedShare),
    /// A Shamir share, sealed to the requester.
    Share(SealedShare),
    /// The deposit was stored.
    DepositAck(DepositAck),
    /// The custodial vault's answer: K sealed to the requester (`node_index` is 0).
    Key(SealedShare),
    /// The shred was carried out.
    ShredAck(ShredAck),
    /// The request was refused.
    Error(ErrorReply),
}

/// A node's contribution sealed to the requester's response key, with the request hash and
/// the node's index as associated data: only the requester can open it, only as the answer
/// to that request, and only as that node's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedShare {
    /// The answering node's 0-based index.
    pub node_index: u32,
    /// Hash of the request answered.
    pub request_hash: B256,
    /// The sealed box.
    pub sealed: Vec<u8>,
}

impl SealedShare {
    /// Node side: seals `share` (a BLS partial or a Shamir share value) for `request`.
    pub fn seal(node_index: u32, request: &SignedAccessRequest, share: &[u8]) -> Result<Self> {
        let request_hash = request.hash();
        let sealed = sealbox::seal(
            &request.request().response_key,
            BoxPurpose::Response,
            &response_aad(&request_hash, node_index),
            share,
        )?;
        Ok(Self {
            node_index,
            request_hash,
            sealed,
        })
    }

    /// Client side: opens the box with the request's response key. Refuses an answer to
    /// another request before spending any work on it.
    pub fn open(
        &self,
        response_key: &BoxSecretKey,
        request_hash: &B256,
    ) -> Result<Zeroizing<Vec<u8>>> {
        if &self.request_hash != request_hash {
            return Err(Error::RequestHashMismatch);
        }
        response_key.open(
            BoxPurpose::Response,
            &response_aad(request_hash, self.node_index),
            &self.sealed,
        )
    }
}

/// A response box's associated data: `requestHash (32) ‖ nodeIndex (4, big-endian)`. The
/// index binds the box to the node that sealed it, so a relay that moves one node's box into
/// another node's answer makes it unopenable (`Unsealable`) instead of getting the honest
/// node blamed for a share that does not verify.
fn response_aad(request_hash: &B256, node_index: u32) -> [u8; 36] {
    let mut aad = [0u8; 36];
    aad[..32].copy_from_slice(request_hash.as_slice());
    aad[32..].copy_from_slice(&node_index.to_be_bytes());
    aad
}

/// A node stored a deposited share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepositAck {
    /// The node's index.
    pub node_index: u32,
    /// The file the share belongs to.
    pub file_id: B256,
}

/// A node or vault carried out a shred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShredAck {
    /// The file.
    pub file_id: B256,
    /// Whether anything was held for it (and is now deleted).
    pub held: bool,
}

/// A refusal with a machine-readable code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    /// Why. Codes this build does not know decode as [`ErrorCode::Unspecified`].
    pub code: ErrorCode,
    /// For humans; at most [`MAX_ERROR_MESSAGE_BYTES`].
    pub message: String,
    /// Seconds to wait before retrying; 0 means do not retry unchanged.
    pub retry_after_secs: u32,
}

impl ErrorReply {
    /// A reply, cutting `message` to [`MAX_ERROR_MESSAGE_BYTES`] at a character boundary.
    pub fn new(code: ErrorCode, message: impl Into<String>, retry_after_secs: u32) -> Self {
        let mut message = message.into();
        if message.len() > MAX_ERROR_MESSAGE_BYTES {
            let mut end = MAX_ERROR_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Self {
            code,
            message,
            retry_after_secs,
        }
    }

    /// The reply for a request that failed with `error`.
    pub fn from_error(error: &Error) -> Self {
        Self::new(error.error_code(), error.to_string(), 0)
    }
}

// ----- requests -------------------------------------------------------------------------------

pub(super) fn request_to_pb(request: &KeyRequest) -> pb::Request {
    let body = match request {
        KeyRequest::Access(access) => pb::request::Body::Access(access_to_pb(access)),
        KeyRequest::Deposit(deposit) => pb::request::Body::Deposit(deposit_to_pb(deposit)),
        KeyRequest::KeyDeposit(deposit) => {
            pb::request::Body::KeyDeposit(key_deposit_to_pb(deposit))
        }
        KeyRequest::Shred(shred) => pb::request::Body::Shred(shred_to_pb(shred)),
    };
    pb::Request {
        version: WIRE_VERSION,
        body: Some(body),
    }
}

pub(super) fn request_from_pb(envelope: pb::Request) -> Result<KeyRequest> {
    check_version(envelope.version)?;
    match envelope.body {
        Some(pb::request::Body::Access(access)) => access_from_pb(access).map(KeyRequest::Access),
        Some(pb::request::Body::Deposit(deposit)) => {
            deposit_from_pb(deposit).map(KeyRequest::Deposit)
        }
        Some(pb::request::Body::KeyDeposit(deposit)) => {
            key_deposit_from_pb(deposit).map(KeyRequest::KeyDeposit)
        }
        Some(pb::request::Body::Shred(shred)) => shred_from_pb(shred).map(KeyRequest::Shred),
        None => Err(Error::MissingField {
            field: "request body",
        }),
    }
}

fn access_to_pb(signed: &SignedAccessRequest) -> pb::AccessRequest {
    let request = signed.request();
    pb::AccessRequest {
        chain_id: request.file.chain_id,
        registry: request.file.registry.to_vec(),
        file_id: request.file.file_id.to_vec(),
        scheme: i32::from(request.scheme.as_u8()),
        response_key: request.response_key.as_bytes().to_vec(),
        capsule_hash: request.capsule_hash.to_vec(),
        nonce: request.nonce.to_vec(),
        issued_at: request.issued_at,
        expires_at: request.expires_at,
        at_block: request.at_block,
        signature: signed.signature().as_bytes().to_vec(),
        capsule: signed.capsule().to_vec(),
    }
}

fn access_from_pb(msg: pb::AccessRequest) -> Result<SignedAccessRequest> {
    let scheme = u8::try_from(msg.scheme)
        .map_err(|_| Error::UnknownScheme {
            got: i64::from(msg.scheme),
        })
        .and_then(Scheme::from_u8)?;
    if msg.capsule.len() > MAX_CAPSULE_BYTES {
        return Err(Error::FieldTooLong {
            field: "capsule",
            len: msg.capsule.len(),
            max: MAX_CAPSULE_BYTES,
        });
    }
    let request = AccessRequest {
        file: file_ref(msg.chain_id, &msg.registry, &msg.file_id)?,
        scheme,
        response_key: BoxPublicKey::from_slice(&msg.response_key)?,
        capsule_hash: hash_field("capsule hash", &msg.capsule_hash)?,
        nonce: hash_field("nonce", &msg.nonce)?,
        issued_at: msg.issued_at,
        expires_at: msg.expires_at,
        at_block: msg.at_block,
    };
    let signature = EthSignature::from_slice(&msg.signature)?;
    Ok(SignedAccessRequest::from_parts(
        request,
        signature,
        msg.capsule,
    ))
}

fn deposit_to_pb(signed: &SignedShareDeposit) -> pb::ShareDeposit {
    let deposit = signed.deposit();
    pb::ShareDeposit {
        chain_id: deposit.file.chain_id,
        registry: deposit.file.registry.to_vec(),
        file_id: deposit.file.file_id.to_vec(),
        node_index: deposit.node_index,
        sealed_share: deposit.sealed_share.clone(),
        commitments: deposit.commitments.as_bytes().to_vec(),
        issued_at: deposit.issued_at,
        signature: signed.signature().as_bytes().to_vec(),
    }
}

fn deposit_from_pb(msg: pb::ShareDeposit) -> Result<SignedShareDeposit> {
    check_sealed("sealed share", &msg.sealed_share)?;
    let deposit = ShareDeposit {
        file: file_ref(msg.chain_id, &msg.registry, &msg.file_id)?,
        node_index: msg.node_index,
        sealed_share: msg.sealed_share,
        commitments: UncheckedCommitments::from_bytes(msg.commitments)?,
        issued_at: msg.issued_at,
    };
    let signature = EthSignature::from_slice(&msg.signature)?;
    Ok(SignedShareDeposit::from_parts(deposit, signature))
}

fn key_deposit_to_pb(signed: &SignedKeyDeposit) -> pb::KeyDeposit {
    let deposit = signed.deposit();
    pb::KeyDeposit {
        chain_id: deposit.file.chain_id,
        registry: deposit.file.registry.to_vec(),
        file_id: deposit.file.file_id.to_vec(),
        sealed_key: deposit.sealed_key.clone(),
        issued_at: deposit.issued_at,
        signature: signed.signature().as_bytes().to_vec(),
    }
}

fn key_deposit_from_pb(msg: pb::KeyDeposit) -> Result<SignedKeyDeposit> {
    check_sealed("sealed key", &msg.sealed_key)?;
    let deposit = KeyDeposit {
        file: file_ref(msg.chain_id, &msg.registry, &msg.file_id)?,
        sealed_key: msg.sealed_key,
        issued_at: msg.issued_at,
    };
    let signature = EthSignature::from_slice(&msg.signature)?;
    Ok(SignedKeyDeposit::from_parts(deposit, signature))
}

fn shred_to_pb(signed: &SignedShred) -> pb::Shred {
    let shred = signed.shred();
    pb::Shred {
        chain_id: shred.file.chain_id,
        registry: shred.file.registry.to_vec(),
        file_id: shred.file.file_id.to_vec(),
        issued_at: shred.issued_at,
        signature: signed.signature().as_bytes().to_vec(),
        holder: shred.holder.as_bytes().to_vec(),
    }
}

fn shred_from_pb(msg: pb::Shred) -> Result<SignedShred> {
    let shred = Shred {
        file: file_ref(msg.chain_id, &msg.registry, &msg.file_id)?,
        holder: BoxPublicKey::from_slice(&msg.holder)?,
        issued_at: msg.issued_at,
    };
    let signature = EthSignature::from_slice(&msg.signature)?;
    Ok(SignedShred::from_parts(shred, signature))
}

fn file_ref(chain_id: u64, registry: &[u8], file_id: &[u8]) -> Result<FileRef> {
    Ok(FileRef {
        chain_id,
        registry: Address::from(fixed::<ADDRESS_LEN>("registry address", registry)?),
        file_id: hash_field("file id", file_id)?,
    })
}

// ----- responses ------------------------------------------------------------------------------

pub(super) fn response_to_pb(response: &KeyResponse) -> pb::Response {
    let body = match response {
        KeyResponse::Partial(share) => pb::response::Body::Partial(pb::PartialResponse {
            node_index: share.node_index,
            request_hash: share.request_hash.to_vec(),
            sealed: share.sealed.clone(),
        }),
        KeyResponse::Share(share) => pb::response::Body::Share(pb::ShareResponse {
            node_index: share.node_index,
            request_hash: share.request_hash.to_vec(),
            sealed: share.sealed.clone(),
        }),
        KeyResponse::DepositAck(ack) => pb::response::Body::DepositAck(pb::DepositAck {
            node_index: ack.node_index,
            file_id: ack.file_id.to_vec(),
        }),
        KeyResponse::Key(key) => pb::response::Body::Key(pb::KeyRelease {
            request_hash: key.request_hash.to_vec(),
            sealed: key.sealed.clone(),
        }),
        KeyResponse::ShredAck(ack) => pb::response::Body::ShredAck(pb::ShredAck {
            file_id: ack.file_id.to_vec(),
            held: ack.held,
        }),
        KeyResponse::Error(reply) => pb::response::Body::Error(pb::ErrorReply {
            code: reply.code as i32,
            message: reply.message.clone(),
            retry_after_secs: reply.retry_after_secs,
        }),
    };
    pb::Response {
        version: WIRE_VERSION,
        body: Some(body),
    }
}

pub(super) fn response_from_pb(envelope: pb::Response) -> Result<KeyResponse> {
    check_version(envelope.version)?;
    match envelope.body {
        Some(pb::response::Body::Partial(msg)) => {
            sealed_share(msg.node_index, &msg.request_hash, msg.sealed).map(KeyResponse::Partial)
        }
        Some(pb::response::Body::Share(msg)) => {
            sealed_share(msg.node_index, &msg.request_hash, msg.sealed).map(KeyResponse::Share)
        }
        Some(pb::response::Body::DepositAck(msg)) => Ok(KeyResponse::DepositAck(DepositAck {
            node_index: msg.node_index,
            file_id: hash_field("file id", &msg.file_id)?,
        })),
        Some(pb::response::Body::Key(msg)) => {
            sealed_share(0, &msg.request_hash, msg.sealed).map(KeyResponse::Key)
        }
        Some(pb::response::Body::ShredAck(msg)) => Ok(KeyResponse::ShredAck(ShredAck {
            file_id: hash_field("file id", &msg.file_id)?,
            held: msg.held,
        })),
        Some(pb::response::Body::Error(msg)) => {
            if msg.message.len() > MAX_ERROR_MESSAGE_BYTES {
                return Err(Error::FieldTooLong {
                    field: "error message",
                    len: msg.message.len(),
                    max: MAX_ERROR_MESSAGE_BYTES,
                });
            }
            Ok(KeyResponse::Error(ErrorReply {
                // A newer node may send codes we do not know yet: keep the reply, lose the code.
                code: ErrorCode::try_from(msg.code).unwrap_or(ErrorCode::Unspecified),
                message: msg.message,
                retry_after_secs: msg.retry_after_secs,
            }))
        }
        None => Err(Error::MissingField {
            field: "response body",
        }),
    }
}

fn sealed_share(node_index: u32, request_hash: &[u8], sealed: Vec<u8>) -> Result<SealedShare> {
    check_sealed("sealed share", &sealed)?;
    Ok(SealedShare {
        node_index,
        request_hash: hash_field("request hash", request_hash)?,
        sealed,
    })
}

fn check_sealed(field: &'static str, sealed: &[u8]) -> Result<()> {
    if sealed.len() > MAX_BOX_LEN {
        return Err(Error::FieldTooLong {
            field,
            len: sealed.len(),
            max: MAX_BOX_LEN,
        });
    }
    Ok(())
}

fn check_version(version: u32) -> Result<()> {
    if version != WIRE_VERSION {
        return Err(Error::UnsupportedWireVersion {
            got: version,
            supported: WIRE_VERSION,
        });
    }
    Ok(())
}
