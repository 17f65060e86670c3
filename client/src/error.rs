//! The client crate's one error type.
//!
//! Every message says what went wrong and what to do next; variants carry structured
//! fields (paths, indices, expected/got) so callers can react without parsing text.
//! The enum is `#[non_exhaustive]`: other parts of the client add their variants here.

use std::path::PathBuf;

use alloy::primitives::B256;

/// Errors of the zgvault client library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 0G Storage cannot store a zero-length file: the Flow contract rejects it.
    #[error(
        "the file is empty: 0G Storage cannot store a zero-length file; \
         add content (even one byte) before uploading"
    )]
    EmptyFile,

    /// Reading or writing a local file failed.
    #[error("cannot {action} {path}: {source}; check the path and its permissions")]
    Io {
        /// What we were doing ("read", "open", "write").
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A segment index past the end of the file.
    #[error(
        "segment {index} does not exist: the file has {segments} segments \
         (indices 0..{segments}); ask for a smaller index"
    )]
    SegmentOutOfRange {
        /// The index asked for.
        index: u64,
        /// How many segments there are.
        segments: u64,
    },

    /// Segment bytes of the wrong length for their position in the file.
    #[error(
        "segment {index} has {got} bytes but a file of {file_size} bytes needs {expected} there; \
         re-read or re-download that segment"
    )]
    SegmentLength {
        /// File-local segment index.
        index: u64,
        /// File size in bytes.
        file_size: u64,
        /// Length the protocol requires.
        expected: u64,
        /// Length received.
        got: u64,
    },

    /// A segment proof did not verify.
    #[error(
        "proof for segment {index} is invalid: {reason}; the segment or its proof is corrupt, \
         fetch it again (from another node if it repeats)"
    )]
    InvalidProof {
        /// File-local segment index the proof was checked for.
        index: u64,
        /// The first check that failed.
        reason: ProofError,
    },

    /// A submission the Flow contract would reject (`SubmissionLibrary.valid`).
    #[error(
        "submission is invalid: {reason}; build it from the file with `FileRoot::submission` \
         instead of by hand"
    )]
    InvalidSubmission {
        /// The rule that failed.
        reason: SubmissionRule,
    },

    /// The Flow contract rejects a zero submitter.
    #[error(
        "the submitter address is zero: the Flow contract rejects it; pass the signer's address"
    )]
    ZeroSubmitter,

    /// A hashing worker thread died (out of memory, or a bug).
    #[error(
        "a Merkle hashing worker thread stopped unexpectedly; retry, and report a bug if it repeats"
    )]
    HasherWorker,

    /// An invariant of this library broke.
    #[error("internal error: {what}; this is a bug in zgvault, please report it")]
    Internal {
        /// Which invariant.
        what: &'static str,
    },

    /// The hasher was asked for a root after an earlier failure.
    #[error("the root hasher failed earlier and cannot be used; start a new one")]
    HasherPoisoned,

    /// Sealing or opening a file failed (wrong key, tampering, truncation…); the message
    /// says which and what to do.
    #[error(transparent)]
    Seal(#[from] zgvault_proto::Error),

    /// The config file does not parse.
    #[error(
        "{} is not a valid zgvault config: {source}; fix or delete it and run `zgvault init`",
        path.display()
    )]
    ConfigFile {
        /// The config file.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: toml::de::Error,
    },

    /// A plaintext to seal did not have the length it was announced with.
    #[error(
        "{path} gave {got} bytes where {expected} were announced: it changed or was cut off \
         while being sealed; nothing was uploaded, send it again"
    )]
    SourceLength {
        /// The file, or the name the stream came with.
        path: PathBuf,
        expected: u64,
        got: u64,
    },

    /// The config (or `--network`) names a network this client does not know.
    #[error(
        "unknown network {}: use devnet, galileo, galileo-standard, mainnet or mainnet-standard",
        crate::quoted(name)
    )]
    UnknownNetwork {
        /// The name given.
        name: String,
    },

    /// The devnet manifest does not parse.
    #[error(
        "{} is not a devnet manifest ({source}); start the devnet with `zgvault-testnet up`",
        path.display()
    )]
    DevnetManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: serde_json::Error,
    },

    /// The event-scan chunk setting is not a block count.
    #[error(
        "{name}=\"{value}\" is not a block count: set a whole number of blocks above 0, or \
         unset it for the default ({default})"
    )]
    ChunkSetting {
        /// The environment variable.
        name: &'static str,
        /// What it says.
        value: String,
        /// The block count used when it is unset.
        default: u64,
    },

    /// The network has no address for one of zgvault's contracts.
    #[error(
        "network {network} has no {contract} address: zgvault's contracts are not deployed \
         there yet; set it in the config file"
    )]
    ContractMissing {
        /// The network.
        network: String,
        /// The contract ("FileRegistry").
        contract: &'static str,
    },

    /// The network lists neither storage nodes nor an indexer to find them.
    #[error(
        "network {network} lists neither storage nodes nor an indexer: give storage nodes \
         (--node) or use a network profile with an indexer"
    )]
    NoStorageSource {
        /// The network.
        network: String,
    },

    /// No storage node serves the network.
    #[error(
        "network {network} has no storage nodes: the indexer lists none; retry later or give \
         storage nodes (--node)"
    )]
    NoStorageNodes {
        /// The network.
        network: String,
    },

    /// The NodeRegistry has no key network yet.
    #[error(
        "the NodeRegistry {registry} has no key network yet (epoch {epoch}); wait for the \
         operators to register one"
    )]
    NoKeyNetwork {
        /// The NodeRegistry.
        registry: alloy::primitives::Address,
        /// Its current epoch.
        epoch: u64,
    },

    /// A file registered under a custody scheme this client does not know.
    #[error(
        "file {file_id} uses custody scheme {scheme}, which this zgvault does not know: upgrade zgvault"
    )]
    UnknownScheme {
        /// The file.
        file_id: B256,
        /// The registry's scheme code.
        scheme: u8,
    },

    /// No custodial vault is configured on this network.
    #[error(
        "network {network} has no custodial vault configured: set `vault_url` in the config \
         file or pass --vault-url (the devnet starts one unless `zgvault-testnet up --no-vault`)"
    )]
    NoVault {
        /// The network.
        network: String,
    },

    /// The configured vault is known by libp2p only, so its key cannot be read.
    #[error(
        "the custodial vault has no HTTP URL to read its key from: set `vault_url` in the \
         config file or pass --vault-url"
    )]
    VaultWithoutHttp,

    /// The configured vault URL is a node in another mode.
    #[error(
        "{url} is a zgvault-node in {mode} mode, not a custodial vault: set `vault_url` (or \
         pass --vault-url) to the vault's URL"
    )]
    NotAVault {
        /// The URL.
        url: String,
        /// The mode its `/v1/info` reports.
        mode: String,
    },

    /// The configured vault does not say its mode: an older node.
    #[error(
        "{url} does not say in its /v1/info that it is a custodial vault (no `mode`): it runs \
         an older zgvault-node; ask its operator to upgrade the vault, or set `vault_url` \
         (--vault-url) to an upgraded one"
    )]
    VaultTooOld {
        /// The URL.
        url: String,
    },

    /// The configured vault serves another chain or registry.
    #[error(
        "the custodial vault {url} serves chain {chain_id} registry {registry}, not this \
         network's chain {expected_chain_id} registry {expected_registry}: check --vault-url \
         / `vault_url`"
    )]
    VaultOtherNetwork {
        /// The vault.
        url: String,
        /// The chain it serves.
        chain_id: u64,
        /// The FileRegistry it serves.
        registry: alloy::primitives::Address,
        /// This network's chain.
        expected_chain_id: u64,
        /// This network's FileRegistry.
        expected_registry: alloy::primitives::Address,
    },

    /// The configured vault is not the one the file's capsule names.
    #[error(
        "file {file_id} is held by the custodial vault with key {holds}, but the configured \
         vault {} has key {}: nothing was sent to it; set `vault_url` (or pass --vault-url) \
         to the vault that holds it",
        configured.url,
        configured.key
    )]
    WrongVault {
        /// The file.
        file_id: B256,
        /// The vault key its capsule names.
        holds: B256,
        /// The configured vault and the key it reports (boxed: errors stay small).
        configured: Box<VaultIdentity>,
    },

    /// The access window a policy change asks for is empty.
    #[error(
        "the access window would be empty: not-before {}{} is not earlier than not-after \
         {}{}; give a --not-after later than --not-before, or remove a bound with `none`",
        crate::flows::utc(*not_before),
        if *not_before_kept { " (its current value)" } else { "" },
        crate::flows::utc(*not_after),
        if *not_after_kept { " (its current value)" } else { "" }
    )]
    EmptyWindow {
        /// The window's start (Unix seconds).
        not_before: u64,
        /// The start is the file's current one, not a new one.
        not_before_kept: bool,
        /// The window's end (Unix seconds).
        not_after: u64,
        /// The end is the file's current one, not a new one.
        not_after_kept: bool,
    },

    /// An endpoint belongs to another chain than the network profile says.
    #[error(
        "{endpoint} is on chain {got} but the network profile expects chain {expected}: \
         check the --network / RPC settings"
    )]
    WrongChain {
        /// The RPC or storage node URL.
        endpoint: String,
        /// Chain id of the profile.
        expected: u64,
        /// Chain id the endpoint reported.
        got: u64,
    },

    /// A storage node could not be reached or did not answer in time.
    #[error(
        "storage node {url} did not answer {method}: {message}; check that it is running \
         (`zgvault-testnet status` on the devnet) or use other nodes"
    )]
    NodeUnreachable {
        /// The node's JSON-RPC URL.
        url: String,
        /// The JSON-RPC method called.
        method: &'static str,
        /// What the transport said.
        message: String,
    },

    /// A storage node answered with a JSON-RPC error.
    #[error("storage node {url} refused {method}: {message}{}", data.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NodeRejected {
        /// The node's JSON-RPC URL.
        url: String,
        /// The JSON-RPC method called.
        method: &'static str,
        /// JSON-RPC error code.
        code: i64,
        /// JSON-RPC error message.
        message: String,
        /// JSON-RPC error data: the reason, on 0G nodes.
        data: Option<String>,
    },

    /// A storage node answered something that is not the protocol.
    #[error(
        "storage node {url} sent a malformed answer to {method}: {message}; it may run an incompatible version"
    )]
    NodeMalformed {
        /// The node's JSON-RPC URL.
        url: String,
        /// The JSON-RPC method called.
        method: &'static str,
        /// What was wrong.
        message: String,
    },

    /// The chosen storage nodes leave some shard without a node.
    #[error(
        "the storage nodes do not cover every shard (missing {} of {num_shard}); \
         add nodes for those shards or use the indexer to pick them",
        missing.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    )]
    ShardsNotCovered {
        /// Shard ids with no node.
        missing: Vec<u64>,
        /// The shard count they were checked against.
        num_shard: u64,
    },

    /// No node holds the file.
    #[error(
        "no storage node has file {root} stored and finalized; check the root hash, or wait \
         for its upload to finish"
    )]
    NotStored {
        /// The file root asked for.
        root: B256,
    },

    /// Every node that should hold a segment failed to give a valid one.
    #[error("segment {index} could not be fetched intact from any node: {}", failures.iter().map(|(u, e)| format!("{u}: {e}")).collect::<Vec<_>>().join("; "))]
    SegmentUnavailable {
        /// File-local segment index.
        index: u64,
        /// Each node tried, with what went wrong.
        failures: Vec<(String, String)>,
    },

    /// A chain call failed.
    #[error(
        "the chain RPC failed while {during}: {message}; check the RPC URL of the network profile and that the chain is up"
    )]
    Chain {
        /// What we were doing.
        during: String,
        /// What the chain or transport said.
        message: String,
    },

    /// Waiting for something took longer than allowed.
    #[error(
        "timed out after {secs} s waiting for {what}; the network may be slow: retry, the operation resumes"
    )]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        secs: u64,
    },

    /// A key recovery was given no key nodes, or more than a key set can have.
    #[error(
        "cannot recover a key from {count} key nodes: pass between 1 and {max}, as the \
         NodeRegistry lists them"
    )]
    KeyNodeCount {
        /// Nodes given.
        count: usize,
        /// Most nodes allowed.
        max: usize,
    },

    /// Fewer key shares than needed could be verified; names every node that failed.
    #[error(
        "key recovery failed: {good} of the {needed} needed shares verified; {failures}; {}",
        failures.advice()
    )]
    NotEnoughKeyShares {
        /// Shares that verified.
        good: usize,
        /// Shares needed.
        needed: usize,
        /// Every node that failed, and how.
        failures: crate::keys::NodeFailures,
    },

    /// Every key node refused the request with the same code (e.g. `ACCESS_DENIED`).
    #[error(
        "the key nodes refused the request ({} of {asked}: {}) with {}, saying {}; {}",
        nodes.len(),
        crate::keys::list_nodes(nodes),
        code.as_str_name(),
        crate::keys::quote_messages(messages),
        crate::keys::code_advice(*code)
    )]
    KeyRequestRefused {
        /// The refusal code.
        code: zgvault_proto::wire::ErrorCode,
        /// Nodes asked.
        asked: usize,
        /// The nodes that refused.
        nodes: Vec<u32>,
        /// What they said, each distinct message once (untrusted text from the nodes).
        messages: Vec<String>,
    },

    /// The key nodes or the vault answer only for a block some confirmations below the
    /// head, and what the request relies on (the file's registration, its capsule, the
    /// requester's access) is newer than that; the chain did not get deep enough in time.
    #[error(
        "file {file_id}: {what} is not yet {depth} blocks deep, and {holders} answer only for \
         a block that far below the head: the chain is at block {head} and must reach block \
         {needed}, but {}; run the same command again {}",
        if *stalled {
            format!("it produced no new block in the last {waited_secs} s")
        } else {
            format!("it did not get there within {waited_secs} s")
        },
        match retry_secs {
            Some(secs) => format!("in about {secs} s"),
            None => "once the chain produces blocks again".to_owned(),
        }
    )]
    NotYetConfirmed {
        /// The file.
        file_id: B256,
        /// What is not deep enough ("its registration", "your access …").
        what: &'static str,
        /// Who was to be asked ("the key nodes", "the custodial vault").
        holders: &'static str,
        /// How far below the head the request had to be signed.
        depth: u64,
        /// The head when the wait ended.
        head: u64,
        /// The head at which the request can be signed.
        needed: u64,
        /// How long was waited.
        waited_secs: u32,
        /// The chain produced no block for a while.
        stalled: bool,
        /// In how many seconds to retry, judged from the recent block time (`None`: the
        /// chain stalled, or its block time is unknown).
        retry_secs: Option<u32>,
    },

    /// Requests signed at ever older blocks were still refused `NOT_CONFIRMED`.
    #[error(
        "{who} still answered NOT_CONFIRMED to request {rounds}, signed at block {at_block} \
         ({} below this client's head {head}; each request was signed at an older block), \
         saying {}: their chain RPC is behind this client's, or they need more confirmations \
         than they report. Retry in a minute; if it persists, set `confirmations` in the \
         config to the depth they need, or tell their operators",
        head.saturating_sub(*at_block),
        crate::keys::quote_messages(messages)
    )]
    NotConfirmed {
        /// Who refused ("key nodes 0, 1, 2", "the custodial vault URL").
        who: String,
        /// Requests signed.
        rounds: u32,
        /// The block the last one was signed at.
        at_block: u64,
        /// This client's head then.
        head: u64,
        /// What they said (untrusted text).
        messages: Vec<String>,
    },

    /// A key node's HTTP API could not be reached.
    #[error("key node {url} did not answer: {message}; check that it is running and the URL")]
    KeyNodeUnreachable {
        /// The URL called.
        url: String,
        /// What the transport said.
        message: String,
    },

    /// A key node's HTTP API answered something that is not the protocol.
    #[error(
        "key node {url} sent a malformed answer: {message}; it may run an incompatible version"
    )]
    KeyNodeMalformed {
        /// The URL called.
        url: String,
        /// What was wrong.
        message: String,
    },

    /// The key nodes refused to release a file's key to this account.
    #[error(
        "access denied to file {file_id} for {user}: {reason}. The owner is {owner}: ask \
         them for access (`zgvault grant {file_id} --to {user}`)"
    )]
    AccessDenied {
        /// The file.
        file_id: B256,
        /// Who asked.
        user: alloy::primitives::Address,
        /// The file's owner.
        owner: alloy::primitives::Address,
        /// What the registry says (`reason_text`), or what the nodes said.
        reason: String,
    },

    /// The FileRegistry has no file with this id.
    #[error(
        "no file {file_id} in the FileRegistry {registry}: check the id (`zgvault ls` lists \
         yours) and the network"
    )]
    UnknownFile {
        /// The id asked for.
        file_id: B256,
        /// The registry asked.
        registry: alloy::primitives::Address,
    },

    /// The encrypted keystore could not be created, read or unlocked.
    #[error("keystore {path}: {message}")]
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },

    /// A contract refused a transaction (it reverted, or would have).
    #[error("{during} failed: the contract refused with {reason}; {advice}")]
    Reverted {
        /// What was being done ("registering file 0x…").
        during: String,
        /// The decoded revert, or the node's text.
        reason: String,
        /// What to do next.
        advice: &'static str,
    },

    /// The custodial vault could not be reached (HTTP and libp2p).
    #[error(
        "the custodial vault {url} did not answer: {message}; check that it is running \
         (`zgvault-testnet status` on the devnet) and the vault address (`vault_url` in \
         config.toml, or --vault-url)"
    )]
    VaultUnreachable {
        /// Where the vault was asked.
        url: String,
        /// What the transport said.
        message: String,
    },

    /// The key the custodial vault reports may not receive new file keys: it is neither
    /// registered (and active) in the network's NodeRegistry nor the pinned key, or it was
    /// retired. Nothing was sealed to it.
    #[error(
        "refusing to seal the file key to the custodial vault {url}: the encryption key it \
         reports, {key}, {why}. Nothing was sealed or sent to it (plain HTTP does not prove \
         whose key that is: someone on the way could have swapped it). What to do: {advice}"
    )]
    UntrustedVaultKey {
        /// Where the vault was asked.
        url: String,
        /// The key its `/v1/info` reported.
        key: B256,
        /// Why that key is not trusted.
        why: String,
        /// What to do next.
        advice: String,
    },

    /// A node or the vault limits this signer's requests and asked for a wait longer than
    /// the client waits out on its own.
    #[error(
        "{who} is rate-limiting you: retry in {retry_after_secs} s (it said {}); \
         each node limits requests per signer (by default a burst of 30, then 120 a minute)",
        quoted(message)
    )]
    RateLimited {
        /// `node N`, `key nodes 0, 1, 2` or `the custodial vault URL`.
        who: String,
        /// Seconds it asked to wait.
        retry_after_secs: u32,
        /// What it said (untrusted text).
        message: String,
    },

    /// The custodial vault answered with an error reply.
    #[error(
        "the custodial vault {url} refused with {}, saying {}; {}",
        code.as_str_name(),
        quoted(message),
        crate::keys::code_advice(*code)
    )]
    VaultRefused {
        /// Where the vault was asked.
        url: String,
        /// The refusal code.
        code: zgvault_proto::wire::ErrorCode,
        /// What it said (untrusted text from the vault).
        message: String,
    },

    /// A released key does not match the registered commitment.
    #[error(
        "{source_name} released a key for file {file_id} that does not match the registered \
         key commitment; it was not used: tell the operator of {source_name}"
    )]
    KeyMismatch {
        /// Who released it (the vault's URL).
        source_name: String,
        /// The file.
        file_id: B256,
    },

    /// A put finished, but the local file that holds its K (sealed under the keystore) could
    /// not be deleted: K must not be left behind silently.
    #[error(
        "file {file_id} is registered and its key is protected, but {path}, which still holds \
         that key sealed under your keystore, could not be deleted ({source}): delete it by hand"
    )]
    KeyStateNotRemoved {
        /// The registered file.
        file_id: B256,
        /// The state file.
        path: PathBuf,
        /// Why the delete failed.
        #[source]
        source: std::io::Error,
    },

    /// The file's key was shredded by its owner: nobody can read it any more.
    #[error(
        "the key of file {file_id} was shredded by its owner ({detail}); copies already \
         released stay released, and the ciphertext on 0G stays, unreadable without the key"
    )]
    Shredded {
        /// The file.
        file_id: B256,
        /// Who said so.
        detail: String,
    },

    /// A file too large to open in memory (question answering reads files in memory).
    #[error(
        "file {file_id} holds {size} bytes, more than the {max} that are opened in memory: \
         fetch it with `zgvault get` instead"
    )]
    TooLargeForMemory {
        /// The file.
        file_id: B256,
        /// Its plaintext size.
        size: u64,
        /// The limit.
        max: u64,
    },

    /// Only the file's owner may do this.
    #[error(
        "file {file_id}: only its owner, {owner}, can {action}, not you ({user}); only the \
         owner's key can sign that: switch ZGVAULT_HOME to their account, or ask them"
    )]
    NotOwner {
        /// The file.
        file_id: B256,
        /// Its owner.
        owner: alloy::primitives::Address,
        /// Who asked.
        user: alloy::primitives::Address,
        /// What was refused ("shred it").
        action: &'static str,
    },

    /// Another process is doing the same thing right now.
    #[error(
        "another {what} is running ({pid}); wait for it to finish, then run this again \
         (it resumes). The lock ({path}) is released when that process exits: do not delete \
         the file"
    )]
    Locked {
        /// What is running ("put of this file").
        what: String,
        /// The other process, as its lock file says.
        pid: crate::flows::LockHolder,
        /// The lock file.
        path: PathBuf,
    },

    /// A custody operation (move, shred) that cannot be done on this file.
    #[error("file {file_id}: {message}")]
    Custody {
        /// The file.
        file_id: B256,
        /// Why, and what to do instead.
        message: String,
    },

    /// A `put` left a state file that cannot be used.
    #[error(
        "pending upload state {path} is unusable: {message}; if the file was never \
         registered, delete it and run `zgvault put` again"
    )]
    PendingState {
        /// The state file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },

    /// A `custody` move left a state file that cannot be used. It may hold the only usable
    /// copy of K (once the new capsule is registered, the old holders refuse), so the advice
    /// is never to delete it.
    #[error(
        "custody move state {path} is unusable: {message}; do not delete it (it may hold the \
         file's only usable key): restore it from a backup of the state folder if it was \
         edited, or run the same `zgvault custody` again with the same keystore"
    )]
    PendingMove {
        /// The state file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

/// Why a segment proof was rejected (see `SegmentProof::verify`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The lemma has no entries at all.
    #[error("the lemma is empty")]
    EmptyLemma,
    /// `lemma` must be `[leaf, siblings.., root]`, one sibling per `path` entry.
    #[error("lemma has {lemma} entries but path has {path} (expected path + 2, or 1 and 0)")]
    Shape {
        /// Entries in `lemma`.
        lemma: usize,
        /// Entries in `path`.
        path: usize,
    },
    /// `lemma[0]` is not the segment's root.
    #[error("the proof is for leaf {got}, not for this segment's root {expected}")]
    LeafMismatch {
        /// Root of the segment we hold.
        expected: B256,
        /// First lemma entry.
        got: B256,
    },
    /// Hashing up the path does not give the lemma's root.
    #[error("hashing the path gives {computed}, not the lemma's root {claimed}")]
    PathMismatch {
        /// Root computed from leaf and siblings.
        computed: B256,
        /// Last lemma entry.
        claimed: B256,
    },
    /// The proof is for another file.
    #[error("the proof leads to root {got}, not the file root {expected}")]
    RootMismatch {
        /// The file root we expect.
        expected: B256,
        /// The root the proof leads to.
        got: B256,
    },
    /// The path describes a different position in the tree.
    #[error("the path points at segment {got} of {leaves}, not at segment {expected}")]
    Position {
        /// Segment index we asked for.
        expected: u64,
        /// Segment index the path encodes (meaningless if the path is too long or short).
        got: u64,
        /// Leaves of the segment tree.
        leaves: u64,
    },
}

/// A rule of the Flow contract's `SubmissionLibrary.valid` (§2.2 of the protocol notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmissionRule {
    /// No nodes.
    #[error("it has no nodes")]
    NoNodes,
    /// Heights must strictly decrease, span fewer than 4 levels, and stay below 64.
    #[error("node heights must strictly decrease, span fewer than 4 levels and stay below 64")]
    Heights,
    /// `length` exceeds the capacity of the nodes.
    #[error("length {length} exceeds the {capacity} bytes its nodes cover")]
    TooLong {
        /// Submission length in bytes.
        length: u64,
        /// Bytes the nodes cover.
        capacity: u128,
    },
    /// The nodes carry more padding than the minimal flow padding allows.
    #[error("length {length} must exceed {min_exclusive} bytes for these nodes (too much padding)")]
    TooMuchPadding {
        /// Submission length in bytes.
        length: u64,
        /// The bound it must exceed.
        min_exclusive: u128,
    },
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        // Keep the kind (callers match on it) and the whole message (it names the path).
        let kind = match &err {
            Error::Io { source, .. } => source.kind(),
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, err)
    }
}

/// An I/O error on `path` while doing `action` ("read", "create", ...).
pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// A custodial vault: where it is and the encryption key it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultIdentity {
    /// Its address (HTTP URL, or libp2p address).
    pub url: String,
    /// Its X25519 encryption key.
    pub key: B256,
}

/// `text` in double quotes, with quotes, backslashes and control characters escaped: how
/// messages show text that came from a node, a file or the command line.
pub fn quoted(text: &str) -> Quoted<'_> {
    Quoted(text)
}

/// See [`quoted`].
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(&'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.0.escape_debug())
    }
}
