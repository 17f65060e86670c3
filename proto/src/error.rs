//! The one error type of `zgvault-proto`.
//!
//! Variants are grouped by the part of the protocol that raises them. New modules (access
//! requests, threshold wrappers, response sealing) add their own group below; the enum is
//! `#[non_exhaustive]` so that adding a variant is not a breaking change for callers.
//!
//! Every message says what went wrong and what to do next, because these strings reach users
//! of the CLI and the web UI unchanged.

use std::{io, path::PathBuf};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `zgvault-proto`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- file keys -------------------------------------------------------------------------
    /// A file key had the wrong number of bytes.
    #[error(
        "a file key is {expected} bytes, got {got}: check that the key file is complete and \
         was not re-encoded"
    )]
    InvalidKeyLength {
        /// Required length ([`crate::KEY_LEN`]).
        expected: usize,
        /// Length that was supplied.
        got: usize,
    },
    /// A hex-encoded file key contained a character that is not a hex digit.
    #[error("the file key is not valid hex: check that the key file was not edited or truncated")]
    InvalidKeyEncoding,
    /// The operating system's random number generator failed.
    #[error(
        "the operating system random number generator failed ({source}); nothing was encrypted, \
         retry, and check the system entropy source if it keeps failing"
    )]
    Rng {
        /// Error reported by the RNG.
        #[source]
        source: rand_core::Error,
    },

    // ----- sealing (input checks) ------------------------------------------------------------
    /// A metadata field is longer than the format allows.
    #[error(
        "the {field} is {len} bytes, the sealed-file format allows at most {max}: shorten it \
         before sealing"
    )]
    MetadataTooLong {
        /// Which field (`"file name"` or `"media type"`).
        field: &'static str,
        /// Length in bytes (UTF-8).
        len: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// The plaintext is larger than [`crate::seal::MAX_PLAINTEXT_LEN`].
    #[error(
        "a plaintext of {len} bytes is larger than the {max} bytes one sealed file can hold: \
         split the data into several files"
    )]
    PlaintextTooLarge {
        /// Requested plaintext length.
        len: u64,
        /// Maximum allowed.
        max: u64,
    },
    /// The number of plaintext bytes written differs from the size declared in the metadata.
    #[error(
        "the metadata declares {declared} plaintext bytes but {written} were written: the input \
         changed while it was being sealed; seal it again (the partial output is not a valid \
         sealed file)"
    )]
    SizeMismatch {
        /// Size declared in [`crate::seal::Metadata::size`].
        declared: u64,
        /// Bytes actually written (so far, if `written > declared`).
        written: u64,
    },
    /// A [`crate::seal::SealWriter`] was used again after one of its writes failed.
    #[error(
        "this seal writer already failed and its output is incomplete: discard the output and \
         seal the file again"
    )]
    WriterFailed,

    // ----- opening: header -------------------------------------------------------------------
    /// The input does not start with the sealed-file magic bytes.
    #[error(
        "this is not a zgvault sealed file (it starts with {found_hex} instead of the zgvault \
         magic): check that you picked the right file or root hash"
    )]
    NotSealedFile {
        /// The first bytes found, in hex (at most the magic's length).
        found_hex: String,
    },
    /// A sealed file of format 1, whose sub-keys did not bind the cipher suite: retired.
    #[error(
        "this file was sealed in format {got}, which this zgvault no longer opens (its keys were \
         not bound to the cipher suite): open it with the zgvault that sealed it and seal it \
         again with this one"
    )]
    RetiredFormat {
        /// Version byte found.
        got: u8,
    },
    /// The header names a format version this build does not know.
    #[error(
        "sealed-file format version {got} is not supported (this build reads version \
         {supported}): upgrade zgvault"
    )]
    UnsupportedVersion {
        /// Version byte found.
        got: u8,
        /// Version this build reads.
        supported: u8,
    },
    /// The header names a cipher suite this build does not know.
    #[error(
        "cipher suite id {got} is not supported (known: 1 = XChaCha20-Poly1305, 2 = AES-256-GCM): \
         upgrade zgvault, or the header is corrupted"
    )]
    UnknownSuite {
        /// Suite byte found.
        got: u8,
    },
    /// The header names a chunk size this version of the format does not allow.
    #[error(
        "chunk size {got} is not allowed in this format version (expected {expected}): the \
         header is corrupted or was written by an incompatible tool"
    )]
    UnsupportedChunkSize {
        /// Chunk size found.
        got: u32,
        /// The only chunk size this version allows.
        expected: u32,
    },
    /// The input ended inside the header.
    #[error(
        "the sealed file is truncated inside its header ({got} of {expected} bytes): the \
         download or copy is incomplete, fetch it again"
    )]
    TruncatedHeader {
        /// Header length.
        expected: usize,
        /// Bytes available.
        got: usize,
    },
    /// The key does not belong to this file.
    #[error(
        "wrong key: this file was sealed under a different key; check that you requested the \
         key for this file id"
    )]
    WrongKey,
    /// The key is right but the header MAC does not verify: header bytes were changed.
    #[error(
        "the sealed file's header was modified (its MAC does not verify under the right key): \
         the file is corrupted or was tampered with; fetch it again from storage"
    )]
    HeaderTampered,
    /// The key-check field was changed while the rest of the header is intact.
    #[error(
        "the sealed file's key-check field was modified (the rest of the header verifies): the \
         file is corrupted or was tampered with; fetch it again from storage"
    )]
    KeyCheckTampered,
    /// The header is authentic but its decrypted metadata is not well formed.
    #[error(
        "the sealed file's metadata is malformed ({reason}): it was written by a faulty tool; \
         report this with the tool name and version that sealed the file"
    )]
    MetadataMalformed {
        /// What is wrong.
        reason: &'static str,
    },

    // ----- opening: body ---------------------------------------------------------------------
    /// A chunk failed authentication.
    #[error(
        "chunk {index} failed authentication: the file was modified, its chunks were reordered, \
         or chunks from another file were mixed in; fetch it again from storage and do not use \
         the output"
    )]
    ChunkAuthFailed {
        /// Zero-based index of the chunk.
        index: u64,
    },
    /// The input ended before the last chunk.
    #[error(
        "the sealed file is truncated: expected {expected_len} bytes, got only {got_len} (it \
         ends in chunk {chunk}); the download or copy is incomplete, fetch it again and do not \
         use the output"
    )]
    Truncated {
        /// Full sealed length implied by the header.
        expected_len: u64,
        /// Bytes actually available.
        got_len: u64,
        /// Zero-based index of the chunk where the input ended.
        chunk: u64,
    },
    /// Bytes follow the last chunk.
    #[error(
        "the sealed file has extra bytes after its last chunk (expected exactly {expected_len} \
         bytes): the file was appended to or concatenated; fetch it again and do not use the \
         output"
    )]
    TrailingData {
        /// Full sealed length implied by the header.
        expected_len: u64,
    },
    /// An [`crate::seal::OpenReader`] was read again after it reported an error.
    #[error(
        "this sealed file already failed to open and no further output is produced: discard \
         everything read from it"
    )]
    ReaderFailed,
    /// The AEAD refused to encrypt a chunk (only possible with a broken cipher build).
    #[error("encrypting chunk {index} failed: this is a bug, please report it")]
    EncryptFailed {
        /// Zero-based index of the chunk.
        index: u64,
    },

    /// A cryptographic primitive rejected a parameter that is fixed by this crate.
    #[error("internal error ({what}): this is a bug in zgvault-proto, please report it")]
    Internal {
        /// Which parameter.
        what: &'static str,
    },

    // ----- access requests and deposits (request/) -------------------------------------------
    /// A request or deposit names another chain than the node serves.
    #[error(
        "the request is for chain {got} but this node serves chain {expected}: send it to a node \
         of the right network, or fix the client's chain id"
    )]
    WrongChain {
        /// The node's chain id.
        expected: u64,
        /// The chain id in the request.
        got: u64,
    },
    /// A request or deposit names another FileRegistry than the node serves.
    #[error(
        "the request is for registry {got} but this node serves registry {expected}: fix the \
         client's registry address"
    )]
    WrongRegistry {
        /// The node's FileRegistry address.
        expected: alloy_primitives::Address,
        /// The address in the request.
        got: alloy_primitives::Address,
    },
    /// `expires_at` is not after `issued_at`.
    #[error(
        "the request expires at {expires_at}, not after it was issued at {issued_at}: build a \
         new request"
    )]
    RequestTimesInvalid {
        /// Unix seconds.
        issued_at: u64,
        /// Unix seconds.
        expires_at: u64,
    },
    /// The request would stay valid for longer than allowed.
    #[error(
        "the request is valid for {lifetime} s, at most {max} s is allowed: build a new request \
         with a shorter lifetime"
    )]
    RequestLifetimeTooLong {
        /// `expires_at - issued_at`, seconds.
        lifetime: u64,
        /// [`crate::request::MAX_REQUEST_LIFETIME_SECS`].
        max: u64,
    },
    /// The request (or deposit) is dated in the future beyond the allowed clock skew.
    #[error(
        "the request was issued at {issued_at}, in the future of this node's clock ({now}): \
         check the requester's clock and send a new request"
    )]
    RequestNotYetValid {
        /// Unix seconds.
        issued_at: u64,
        /// The node's time, Unix seconds.
        now: u64,
    },
    /// The request (or deposit) has expired.
    #[error(
        "the request expired at {expires_at} (node time {now}): sign a new request and send it \
         at once"
    )]
    RequestExpired {
        /// Unix seconds (for deposits: issue time plus the maximum age).
        expires_at: u64,
        /// The node's time, Unix seconds.
        now: u64,
    },
    /// A BLS request carries no capsule.
    #[error(
        "the request is for a BLS-protected file but carries no capsule: attach the capsule \
         registered with the file"
    )]
    CapsuleMissing,
    /// The capsule does not hash to the value signed in the request (or registered on-chain).
    #[error(
        "the capsule does not match its signed or registered hash: use the capsule registered \
         with this file id"
    )]
    CapsuleMismatch,
    /// A signature is not in the 65-byte Ethereum form.
    #[error("the signature is malformed ({reason}): sign the request again with an Ethereum key")]
    MalformedSignature {
        /// What is wrong.
        reason: &'static str,
    },
    /// No public key can be recovered from the signature.
    #[error(
        "the signature does not verify: the request was modified or signed incorrectly; sign \
         it again"
    )]
    BadSignature,
    /// The scheme number is not one this build knows.
    #[error(
        "custody scheme {got} is unknown (1 = bls, 2 = shamir, 3 = custodial): upgrade zgvault"
    )]
    UnknownScheme {
        /// The value found.
        got: i64,
    },

    // ----- sealed boxes (sealbox.rs) ---------------------------------------------------------
    /// A sealed box is shorter than its overhead or longer than the limit.
    #[error(
        "a sealed box of {len} bytes is outside the allowed {min}..={max} bytes: the response \
         is corrupted or not a zgvault box; ask the node again"
    )]
    BoxLength {
        /// Length found.
        len: usize,
        /// Smallest valid length.
        min: usize,
        /// Largest valid length.
        max: usize,
    },
    /// An X25519 key is of low order, so the shared secret would be predictable.
    #[error("a weak (low-order) X25519 public key was refused: generate a new key pair")]
    WeakBoxKey,
    /// A sealed box does not open.
    #[error(
        "a sealed box does not open: it was sealed to another key or for another request, or \
         modified in transit; ask the node again"
    )]
    BoxOpenFailed,

    // ----- threshold schemes (threshold/) ----------------------------------------------------
    /// Threshold parameters out of range.
    #[error(
        "cannot split {needed} of {nodes}: need {min} <= shares needed <= nodes <= {max}; \
         choose other parameters"
    )]
    InvalidThreshold {
        /// Shares needed.
        needed: usize,
        /// Fewest shares needed the scheme allows (1 for bls, 2 for shamir).
        min: usize,
        /// Number of nodes.
        nodes: usize,
        /// [`crate::threshold::MAX_NODES`].
        max: usize,
    },
    /// A serialized BLS key set is not valid.
    #[error("the BLS key set ({len} bytes) is invalid: {reason}; re-read it from the NodeRegistry")]
    InvalidKeySet {
        /// What is wrong.
        reason: &'static str,
        /// Length of the input.
        len: usize,
    },
    /// Serialized Feldman commitments are not valid.
    #[error("the share commitments are invalid: {reason}; re-read them from the FileRegistry")]
    InvalidCommitments {
        /// What is wrong.
        reason: &'static str,
    },
    /// A BLS capsule does not decode or fails its validity check.
    #[error("the BLS capsule is not a valid ciphertext: use the capsule registered with this file")]
    CapsuleInvalid,
    /// A BLS capsule of the first format (176 bytes, not bound to its file), which no node
    /// answers for any more.
    #[error(
        "this file's BLS capsule is in the retired first format, which was not bound to its \
         file and is no longer served: the owner must put the file again with this version"
    )]
    CapsuleRetired,
    /// Verified shares on the file's label do not open the capsule: it was made for another
    /// file (copied), or under another key set.
    #[error(
        "the nodes' verified answers do not open this capsule: it was not made for this file \
         under the network's key set (copied from another file, or sealed to an older key \
         set); ask the file owner to register a capsule made for this file"
    )]
    CapsuleNotForFile,
    /// Stored secret-share bytes do not decode.
    #[error(
        "the secret share does not decode (not a scalar in range): the key store is corrupted; \
         restore it from backup"
    )]
    InvalidSecretShare,
    /// A Shamir share does not verify against the commitments.
    #[error(
        "the share for node {node_index} does not match the file's commitments: it belongs to \
         another file or node, or was corrupted; ask the owner to deposit it again"
    )]
    ShareInvalid {
        /// The node the share claims to be for.
        node_index: u32,
    },
    /// Too few verified shares to recover the key.
    #[error(
        "only {good} of the {needed} verified shares needed arrived ({culprits}): ask more \
         nodes or retry later"
    )]
    NotEnoughShares {
        /// Verified shares.
        good: usize,
        /// Shares needed.
        needed: usize,
        /// Every node whose contribution failed.
        culprits: crate::threshold::Culprits,
    },

    // ----- wire messages (wire/) -------------------------------------------------------------
    /// A message is larger than [`crate::wire::MAX_MESSAGE_BYTES`].
    #[error("a message of {len} bytes exceeds the {max}-byte limit and was not decoded")]
    MessageTooLarge {
        /// Length received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A message is not valid protobuf for its type.
    #[error("the {message} is not a valid zgvault message ({source}): upgrade or report the peer")]
    WireDecode {
        /// `"request"` or `"response"`.
        message: &'static str,
        /// What prost reported.
        #[source]
        source: prost::DecodeError,
    },
    /// A fixed-length field has the wrong length.
    #[error("the {field} is {got} bytes, expected {expected}: the message is malformed")]
    FieldLength {
        /// Which field.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// A variable-length field is over its limit.
    #[error("the {field} is {len} bytes, at most {max} are allowed: the message is malformed")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required field is absent.
    #[error("the message has no {field}: it is malformed or from an incompatible version")]
    MissingField {
        /// Which field.
        field: &'static str,
    },
    /// The envelope's version is not spoken here.
    #[error(
        "protocol version {got} is not supported (this build speaks version {supported}): \
         upgrade the older side"
    )]
    UnsupportedWireVersion {
        /// Version found.
        got: u32,
        /// [`crate::wire::WIRE_VERSION`].
        supported: u32,
    },
    /// A response answers another request than the one it was matched with.
    #[error(
        "the response answers another request (hash mismatch): ignore it; the node or a relay \
         mixed up requests"
    )]
    RequestHashMismatch,

    // ----- I/O -------------------------------------------------------------------------------
    /// Reading or writing a stream failed.
    #[error("I/O error: {source}; check the input and output and try again")]
    Io {
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// A file-system operation on a named path failed.
    #[error("cannot {op} {}: {source}", path.display())]
    PathIo {
        /// What was being done ("create", "write", "rename", ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: io::Error,
    },

    // ----- endpoints ---------------------------------------------------------------------------
    /// An RPC URL that does not parse. The URL itself is not repeated: it may hold an API key.
    #[error("the RPC URL does not parse ({source}): give it as http(s)://host[:port][/path]")]
    RpcUrl {
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// An RPC URL that is not HTTP(S).
    #[error("the RPC URL uses {scheme}://, but only http:// and https:// are supported")]
    RpcUrlScheme {
        /// The scheme it has.
        scheme: String,
    },
}

impl Error {
    /// Recovers an [`Error`] from an [`io::Error`] returned by the `Read`/`Write` impls of
    /// [`crate::seal::SealWriter`] and [`crate::seal::OpenReader`].
    ///
    /// Those traits can only return `io::Error`, so the precise error travels inside it; this
    /// takes it back out. Any other I/O error becomes [`Error::Io`].
    pub fn from_io(err: io::Error) -> Self {
        match err.downcast::<Error>() {
            Ok(ours) => ours,
            Err(source) => Error::Io { source },
        }
    }

    /// Wraps this error in an [`io::Error`] with a fitting [`io::ErrorKind`], for the `Read`
    /// and `Write` impls.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match &self {
            Error::Io { source } | Error::PathIo { source, .. } => {
                return io::Error::new(source.kind(), self);
            }
            Error::Truncated { .. } | Error::TruncatedHeader { .. } => io::ErrorKind::UnexpectedEof,
            Error::SizeMismatch { .. } | Error::MetadataTooLong { .. } => {
                io::ErrorKind::InvalidInput
            }
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::from_io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_round_trip_keeps_the_variant() {
        let io = Error::ChunkAuthFailed { index: 7 }.into_io();
        assert_eq!(io.kind(), io::ErrorKind::InvalidData);
        assert!(matches!(
            Error::from_io(io),
            Error::ChunkAuthFailed { index: 7 }
        ));
    }

    #[test]
    fn foreign_io_errors_become_io() {
        let err = Error::from_io(io::Error::new(io::ErrorKind::BrokenPipe, "pipe"));
        assert!(
            matches!(err, Error::Io { ref source } if source.kind() == io::ErrorKind::BrokenPipe)
        );
    }
}
