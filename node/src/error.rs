//! The crate's one error type. Refusals sent to a peer are `wire::ErrorReply`s built in
//! `service`, not these: this enum is for the operator (start-up, config, keys, store, chain).

use std::path::PathBuf;

use alloy_primitives::B256;

/// Everything that can go wrong in the node outside a single request's refusal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, written or created.
    #[error("{action} {path}: {source}: check that the path exists and the node may use it")]
    Io {
        /// What the node was doing ("read", "write", "create directory", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },

    /// The config file is not valid TOML or has an unknown key.
    #[error("config {path}: {source}: fix the file (unknown keys are refused, see node/README.md)")]
    ConfigParse {
        /// The config file.
        path: PathBuf,
        /// The TOML error, with line and column.
        source: Box<toml::de::Error>,
    },

    /// A config value (from the file, the environment or a flag) is out of range or unparsable.
    #[error("config value {key} = `{value}` is invalid: {reason}")]
    ConfigValue {
        /// The TOML key or environment variable.
        key: String,
        /// The value given.
        value: String,
        /// What a valid value looks like.
        reason: &'static str,
    },

    /// A config value that must be set is empty.
    #[error("config value {key} is empty: {reason}")]
    ConfigMissing {
        /// The TOML key.
        key: String,
        /// What to set it to.
        reason: &'static str,
    },

    /// A key file is readable by other users.
    #[error(
        "key file {path} has mode {mode:o}, readable by group or others: run `chmod 600 {path}` \
         (and consider the key exposed)",
        path = path.display()
    )]
    KeyFilePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The data folder can be reached by group or others.
    #[error(
        "data folder {path} has mode {mode:o}, readable or enterable by group or others: \
         `chmod 700 {path}` (and check nobody copied its keys)",
        path = path.display()
    )]
    DataDirPermissions {
        /// The data folder.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// A rotation named a PKCS#11 module the node's configuration does not name.
    #[error(
        "PKCS#11 module {module} is not named in this vault's configuration (current KEK or \
         [[vault.previous]]): the daemon loads only configured modules; put the new KEK in \
         the daemon's config file (its [vault]) and run the rotation again",
        module = module.display()
    )]
    ModuleNotConfigured {
        /// The module asked for.
        module: PathBuf,
    },

    /// A key file exists but does not hold a key of the expected form.
    #[error("key file {path} is corrupt: {reason}: restore it from a backup (deleting it makes a new identity)", path = path.display())]
    KeyFileCorrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// `zgvault-node info` on a folder without keys.
    #[error(
        "{path} holds no node keys: run `zgvault-node init --data-dir {path}` first",
        path = data_dir.display()
    )]
    NotInitialized {
        /// The data folder.
        data_dir: PathBuf,
    },

    /// The share store (redb) failed.
    #[error("share store {path}: {what}: {detail}", path = path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// The operation that failed.
        what: &'static str,
        /// redb's error, rendered (its error types differ per operation).
        detail: String,
    },

    /// A stored record does not open under the node's local key: tampering or disk corruption.
    #[error(
        "share store record {record} failed authentication: the database was modified or \
         corrupted; restore data_dir from a backup"
    )]
    StoreTampered {
        /// The record key, hex.
        record: String,
    },

    /// The node holds no BLS key share (nothing imported yet).
    #[error(
        "no BLS key share in the store: start once with genesis_share = PATH (devnet) to import one"
    )]
    NoBlsShare,

    /// The genesis share file is missing fields or malformed.
    #[error("genesis share {path}: {reason}", path = path.display())]
    GenesisShare {
        /// The genesis share file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The chain RPC reported a different chain id from the configured one.
    #[error(
        "rpc_url {rpc_url} serves chain id {got}, but chain_id = {expected} is configured: \
         point rpc_url at the right chain or fix chain_id"
    )]
    WrongChain {
        /// The RPC endpoint.
        rpc_url: String,
        /// `chain_id` from the config.
        expected: u64,
        /// `eth_chainId` from the endpoint.
        got: u64,
    },

    /// A chain call failed or timed out.
    #[error("chain {call} failed: {detail}: check that rpc_url is reachable and synced")]
    Chain {
        /// The call ("eth_chainId", "getFile", ...).
        call: &'static str,
        /// The transport or decoding error, rendered.
        detail: String,
    },

    /// A socket could not be bound.
    #[error(
        "cannot listen on {addr}: {source}: pick another address or port (`http.listen` in \
         the config, or --http-listen)"
    )]
    Bind {
        /// The address asked for.
        addr: String,
        /// The operating-system error.
        source: std::io::Error,
    },

    /// The admin socket could not be bound.
    #[error(
        "cannot create the admin socket {path}: {source}: check that data_dir is writable, and \
         use a shorter data_dir path if this one is long (a Unix socket path is limited to 107 \
         bytes)"
    )]
    AdminSocket {
        /// The socket path.
        path: std::path::PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },

    /// The HTTP server failed.
    #[error("HTTP server failed: {source}")]
    Serve {
        /// The I/O error.
        source: std::io::Error,
    },

    /// The random number generator failed.
    #[error("the operating system's random number generator failed: {source}")]
    Rng {
        /// The RNG error.
        source: rand_core::Error,
    },

    /// The libp2p transport could not start.
    #[error(transparent)]
    P2p(#[from] crate::p2p::P2pError),

    /// A key-encryption key's backend cannot be used right now: for `custody::Kek`
    /// implementations outside this crate (the built-in backends have their own variants).
    #[error("KEK backend {backend}: {message}")]
    KekUnavailable {
        /// `pkcs11` or `file`.
        backend: &'static str,
        /// What failed and what to do.
        message: String,
    },

    /// The HSM PIN or the key-file passphrase is wrong.
    #[error("KEK backend {backend}: wrong {what}: check the configured {what}")]
    KekAuth {
        /// `pkcs11` or `file`.
        backend: &'static str,
        /// `PIN` or `passphrase`.
        what: &'static str,
    },

    /// A PKCS#11 module could not be loaded or initialised.
    #[error(
        "cannot load the PKCS#11 module {module}: {source}; install it (scripts/setup installs \
         SoftHSM2) or fix vault.pkcs11.module",
        module = module.display()
    )]
    Pkcs11Module {
        /// The module's path.
        module: PathBuf,
        /// What the library said.
        source: cryptoki::error::Error,
    },

    /// A call into the PKCS#11 token failed: the token is gone, unreachable or refused.
    #[error(
        "the PKCS#11 token failed to {operation}: {source}: check that the token is present and \
         reachable, then restart the vault (its session died with the token)"
    )]
    Pkcs11 {
        /// What the vault asked the token to do.
        operation: &'static str,
        /// What the library said.
        source: cryptoki::error::Error,
    },

    /// No token has the configured label.
    #[error(
        "no PKCS#11 token labelled `{token}`: create one (e.g. `softhsm2-util --init-token \
         --free --label {token}`) or fix vault.pkcs11.token_label"
    )]
    TokenNotFound {
        /// The configured token label.
        token: String,
    },

    /// The token's user PIN is locked after too many wrong tries.
    #[error("the user PIN of token `{token}` is locked: unlock it with the SO PIN")]
    PinLocked {
        /// The token's label.
        token: String,
    },

    /// The KEK is not in the token, but the vault holds keys sealed under it.
    #[error(
        "no key labelled `{key_label}` in token `{token}`, but this vault has keys sealed under \
         it: restore the token from its backup (or fix vault.pkcs11.key_label)"
    )]
    KekKeyMissing {
        /// The token's label.
        token: String,
        /// The KEK's label.
        key_label: String,
    },

    /// More than one key in the token has the label the vault looks for.
    #[error("{count} keys are labelled `{label}` in token `{token}`: keep exactly one")]
    DuplicateKeyLabel {
        /// The token's label.
        token: String,
        /// The duplicated label.
        label: String,
        /// How many keys carry it.
        count: usize,
    },

    /// The token holds no audit MAC key beside the KEK.
    #[error(
        "the token holds no audit key `{label}` beside KEK {kek}: lines MACed under this KEK \
         cannot be checked (was the key deleted, or is this another token with the same \
         labels?); restore the token from its backup"
    )]
    AuditKeyMissing {
        /// The audit key's label.
        label: String,
        /// The KEK's id.
        kek: String,
    },

    /// The KEK file is gone although the vault holds keys sealed under it.
    #[error(
        "the KEK file {path} is missing, and this vault already holds keys sealed under a KEK: \
         restore the file from its backup (a new KEK would not open them)",
        path = path.display()
    )]
    KekFileMissing {
        /// The configured KEK file.
        path: PathBuf,
    },

    /// Neither a secret file nor the environment variable gives the KEK's secret.
    #[error(
        "no {what} configured: set {key} to a file (mode 0600) holding it, or the environment \
         variable {env}"
    )]
    SecretNotConfigured {
        /// `PIN` or `passphrase`.
        what: &'static str,
        /// The config key naming the file.
        key: &'static str,
        /// The environment variable.
        env: &'static str,
    },

    /// The configured secret file cannot be read.
    #[error(
        "cannot read {key} {path}: {source}: create it (mode 0600) or fix the path",
        path = path.display()
    )]
    SecretFileUnreadable {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },

    /// The secret file can be read by other users.
    #[error(
        "{path} has mode {mode:o} and can be read by other users: run `chmod 600 {path}`",
        path = path.display()
    )]
    SecretFilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The secret file is too large to be a PIN or passphrase.
    #[error(
        "{path} is not a secret file (larger than {max} bytes): point {key} at the file that \
         holds only the secret",
        path = path.display()
    )]
    SecretFileTooLarge {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The largest secret file accepted.
        max: u64,
    },

    /// The secret file is empty.
    #[error("{path} is empty: write the secret into it", path = path.display())]
    SecretFileEmpty {
        /// The file.
        path: PathBuf,
    },

    /// The vault holds records sealed under a KEK its configuration does not load.
    #[error(
        "{records} records are sealed under KEK {kek}, which is not configured: add it under \
         [[vault.previous]] (or restore its key file)"
    )]
    KekNotConfigured {
        /// The KEK's id, as the records name it.
        kek: String,
        /// How many records are sealed under it.
        records: u64,
    },

    /// A KEK's id (`file:…`, `pkcs11:<token>:<key>`) is empty or too long to be stored.
    #[error("KEK id `{id}` must be 1..={max} bytes: shorten the key or token label")]
    KekIdLength {
        /// The id.
        id: String,
        /// The longest id a record can name.
        max: usize,
    },

    /// The KEK file's passphrase is empty.
    #[error(
        "the passphrase of the KEK file {path} is empty: put one in vault.file.passphrase_file \
         (or ZGVAULT_NODE_VAULT_FILE_PASSPHRASE)",
        path = path.display()
    )]
    KekPassphraseEmpty {
        /// The KEK file.
        path: PathBuf,
    },

    /// The KEK file exists but is not one this node can read.
    #[error("KEK file {path}: {problem}", path = path.display())]
    KekFileInvalid {
        /// The KEK file.
        path: PathBuf,
        /// What is wrong with it.
        problem: KekFileProblem,
    },

    /// A `zgvault-node vault …` command on a config that is not a vault's.
    #[error(
        "{config}: mode is not \"custodial\": this node has no vault (use the vault's config file)",
        config = config.display()
    )]
    NotAVault {
        /// The config file given.
        config: PathBuf,
    },

    /// A record sealed under the KEK does not open: modified, moved, or sealed by another KEK.
    #[error(
        "a record sealed under KEK {kek} does not open ({detail}): it was modified or belongs to another vault; restore it from a backup"
    )]
    KekTampered {
        /// The KEK's id.
        kek: String,
        /// Where it failed.
        detail: &'static str,
    },

    /// A vault record names a KEK that is not loaded (a rotation away from it is unfinished).
    #[error(
        "the key of file {file_id} is sealed under KEK {kek}, which is not loaded: configure it \
         as a previous KEK until a rotation has re-wrapped every record (see count_by_kek)"
    )]
    KekNotLoaded {
        /// The file whose record needs it.
        file_id: B256,
        /// The KEK id stored in the record.
        kek: String,
    },

    /// The audit log's chain is broken: a line was edited, removed or inserted, or does not
    /// match its MAC.
    #[error(
        "audit log {path}: line {line} {reason}: the log was modified after it was written; \
         keep the file as evidence and compare it with its off-host copy. To serve again, set \
         it aside and start a new log: `zgvault-node vault audit new-log --config node.toml`",
        path = path.display()
    )]
    AuditChainBroken {
        /// The log file.
        path: PathBuf,
        /// The first line (1-based) that is not what the vault wrote.
        line: usize,
        /// What does not match.
        reason: &'static str,
    },

    /// The audit log ends in an incomplete line (a crash during an append).
    #[error(
        "audit log {path}: the last line ({line}) is incomplete, after {valid_lines} intact lines: \
         a crash interrupted an append; run `zgvault-node vault audit new-log --config \
         node.toml`, which keeps this file beside the new log (its intact lines stay \
         verifiable with `zgvault-node vault audit verify --log FILE`)",
        path = path.display()
    )]
    AuditTornTail {
        /// The log file.
        path: PathBuf,
        /// The torn line (1-based).
        line: usize,
        /// Intact, chained lines before it.
        valid_lines: usize,
    },

    /// The audit log was written before audit lines were MACed (an older zgvault-node).
    #[error(
        "audit log {path} has no MACs ({lines} lines, written by an older zgvault-node; the \
         SHA-256 of its last line is {head}): compare that head with your off-host copy, then \
         run `zgvault-node vault audit new-log --config node.toml`, which keeps this file and \
         records its SHA-256 in the first line of a new, keyed log",
        path = path.display()
    )]
    AuditUnkeyed {
        /// The log file.
        path: PathBuf,
        /// Its lines.
        lines: usize,
        /// SHA-256 of its last line (hex).
        head: String,
    },

    /// Audit lines are MACed under a KEK that is not configured, and no later line under a
    /// configured KEK vouches for them.
    #[error(
        "audit log {path}: line {line} and the lines after it are MACed under KEK {key}, which \
         is not configured: add it under [[vault.previous]] (or restore its key file or token) \
         and verify again",
        path = path.display()
    )]
    AuditKeyNotConfigured {
        /// The log file.
        path: PathBuf,
        /// The first line that cannot be checked.
        line: usize,
        /// The KEK id those lines name.
        key: String,
    },

    /// The audit log is shorter than the head the vault anchored in its store.
    #[error(
        "audit log {path} has {lines} lines, but the vault anchored {anchored} in vault.redb: \
         lines were cut from its end (or it was replaced by an older copy); keep it as evidence \
         and restore the whole log from a backup, or start a new log: `zgvault-node vault \
         audit new-log --config node.toml`",
        path = path.display()
    )]
    AuditCut {
        /// The log file.
        path: PathBuf,
        /// Lines it has.
        lines: usize,
        /// Lines the vault recorded.
        anchored: usize,
    },

    /// The audit log was deleted or moved away while the vault runs.
    #[error(
        "audit log {path} was deleted or replaced while the vault runs: nothing is released \
         until the vault restarts with its log (restore the file, then restart)",
        path = path.display()
    )]
    AuditLogReplaced {
        /// The configured log path.
        path: PathBuf,
    },

    /// Two different keys carry the same KEK id (e.g. another HSM with the same token and key
    /// labels): records sealed under one would be taken for the other's.
    #[error(
        "KEK id {id} names a key that is not the one already loaded under that id (another \
         token or key file with the same labels?): records would be mistaken for the other \
         key's; give the new KEK a new key_label (or key file path) and rotate to that"
    )]
    KekIdCollision {
        /// The id both keys claim.
        id: String,
    },

    /// A KEK rotation was asked for while another one runs.
    #[error("a KEK rotation is already running: wait for it (zgvault-node vault status)")]
    RotationRunning,

    /// The admin socket answered with an error, or could not be reached.
    #[error("admin socket {path}: {message}", path = path.display())]
    Admin {
        /// The socket.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },

    /// A protocol-level error from `zgvault-proto` outside a request (keys, shares).
    #[error(transparent)]
    Proto(#[from] zgvault_proto::Error),

    /// An internal invariant failed (a task panicked or was cancelled).
    #[error("internal error: {what}: this is a bug, please report it")]
    Internal {
        /// What failed.
        what: &'static str,
    },
}

/// What is wrong with a KEK file ([`Error::KekFileInvalid`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KekFileProblem {
    /// Larger than any KEK file.
    #[error("larger than {max} bytes, so not a KEK file: check vault.file.path")]
    TooLarge {
        /// The largest KEK file read.
        max: u64,
    },
    /// Not the JSON of a KEK file.
    #[error("not a KEK file ({source}): check vault.file.path, or restore the file")]
    NotAKekFile {
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A format this node does not read.
    #[error(
        "version {version} / kdf `{kdf}`, but this node reads version {expected} / scrypt: use \
         the zgvault-node that wrote it"
    )]
    Version {
        /// The file's version.
        version: u32,
        /// The file's key-derivation function.
        kdf: String,
        /// The version this node reads.
        expected: u32,
    },
    /// A hex field of the wrong length.
    #[error("a field is not {len} hex bytes: restore the file from its backup")]
    Field {
        /// The length the field must have.
        len: usize,
    },
    /// The sealed key opens but is not 32 bytes.
    #[error("the sealed key is not 32 bytes: restore the file from its backup")]
    KeyLength,
    /// scrypt parameters scrypt refuses.
    #[error("bad scrypt parameters log_n={log_n} r={r} p={p}: restore the file from its backup")]
    ScryptParams {
        /// log2 of N.
        log_n: u8,
        /// r.
        r: u32,
        /// p.
        p: u32,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn store(
        path: impl Into<PathBuf>,
        what: &'static str,
        detail: impl std::fmt::Display,
    ) -> Self {
        Self::Store {
            path: path.into(),
            what,
            detail: detail.to_string(),
        }
    }
}
