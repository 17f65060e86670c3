//! The custodial vault's storage of K (DESIGN §6, Flow A): every K is kept sealed under a
//! key-encryption key (KEK) that never leaves its backend: a PKCS#11 token (an HSM;
//! SoftHSM2 on the devnet) or, for small deployments, a passphrase-sealed key file.

mod audit;
mod file;
mod kek;
mod pkcs11;
mod vault_store;

pub use audit::{
    AUDIT_FILE, AuditAction, AuditDecision, AuditLog, AuditRecord, MAX_AUDIT_LINE, MAX_AUDIT_NOTE,
    verify_chain,
};
pub use file::{FILE_KEK_VERSION, FileKek, SCRYPT_LOG_N, SCRYPT_P, SCRYPT_R};
pub use kek::{Kek, SEALED_OVERHEAD};
pub use pkcs11::{DEFAULT_SOFTHSM_MODULE, Pkcs11Config, Pkcs11Kek};
pub use vault_store::{
    MAX_KEK_ID_LEN, ROTATION_BATCH, RotationReport, VAULT_STORE_FILE, VaultEntry, VaultStore,
};
