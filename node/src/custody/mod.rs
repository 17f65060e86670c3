//! The custodial vault's storage of K (DESIGN §6, Flow A): every K is kept sealed under a
//! key-encryption key (KEK) that never leaves its backend: a PKCS#11 token (an HSM;
//! SoftHSM2 on the devnet) or, for small deployments, a passphrase-sealed key file.

mod file;
mod kek;
mod pkcs11;

pub use file::{FILE_KEK_VERSION, FileKek, SCRYPT_LOG_N, SCRYPT_P, SCRYPT_R};
pub use kek::{Kek, SEALED_OVERHEAD};
pub use pkcs11::{DEFAULT_SOFTHSM_MODULE, Pkcs11Config, Pkcs11Kek};
