//! The custodial vault's storage of K (DESIGN §6, Flow A): every K is kept sealed under a
//! key-encryption key (KEK) that never leaves its backend: a PKCS#11 token (an HSM;
//! SoftHSM2 on the devnet) or, for small deployments, a passphrase-sealed key file. Each KEK
//! also keys the audit log's chain (an HMAC key held beside it, see [`Kek::audit_mac`]).

mod audit;
mod file;
mod kek;
mod pkcs11;
mod vault_store;

pub use audit::{
    AUDIT_ANCHOR_SYNC_EVERY, AUDIT_FILE, AUDIT_MAC_CONTEXT, AuditAction, AuditDecision, AuditLog,
    AuditRecord, AuditSummary, MAX_AUDIT_LINE, MAX_AUDIT_NOTE, NewLog, truncate_note, verify_log,
    verify_log_to,
};
pub use file::{AUDIT_KEY_INFO, FILE_KEK_VERSION, FileKek, SCRYPT_LOG_N, SCRYPT_P, SCRYPT_R};
pub use kek::{AUDIT_MAC_LEN, Kek, SEALED_OVERHEAD};
pub use pkcs11::{AUDIT_KEY_LABEL_SUFFIX, DEFAULT_SOFTHSM_MODULE, Pkcs11Config, Pkcs11Kek};
pub use vault_store::{
    AuditHead, MAX_KEK_ID_LEN, ROTATION_BATCH, RotationReport, VAULT_STORE_FILE, VaultEntry,
    VaultStore,
};
