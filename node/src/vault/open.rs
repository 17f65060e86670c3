//! Opening the vault's KEKs from the config: secrets from 0600 files or the environment,
//! paths relative to `data_dir`. Everything fails closed with a message saying what to fix.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use zeroize::Zeroizing;

use crate::vault_config::{
    FILE_PASSPHRASE_ENV, KekBackend, KekConfig, PKCS11_PIN_ENV, VaultConfig,
};
use crate::{
    custody::{FileKek, Kek, Pkcs11Config, Pkcs11Kek},
    error::{Error, Result},
};

/// Largest secret file read (a PIN or a passphrase).
const MAX_SECRET_BYTES: u64 = 4096;

/// What may be created when it is missing: the KEK (key file, or key in the token) on the
/// first start of a new vault or for the target of a rotation; only the token's audit key
/// for the current KEK of a vault that has started before; nothing for a previous KEK or a
/// verifier. (A key file's audit key is derived, never created.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Create {
    /// Create the KEK, and its audit key, if missing.
    IfMissing,
    /// The KEK must exist; a token's missing audit key is created.
    AuditKey,
    /// Nothing is created: a missing KEK is an error, a missing audit key fails its MACs.
    Never,
}

/// `path` if absolute, else `data_dir/path`.
pub(crate) fn resolve(data_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        data_dir.join(path)
    }
}

/// A vault's KEKs: the current one and the previous ones.
pub(crate) type Keks = (Arc<dyn Kek>, Vec<Arc<dyn Kek>>);

/// Opens the current KEK of `vault` (creating what `create` allows) and every previous one
/// (creating nothing).
pub(crate) fn open_keks(vault: &VaultConfig, data_dir: &Path, create: Create) -> Result<Keks> {
    let current = open_kek(&vault.current(), data_dir, create)?;
    let previous = vault
        .previous
        .iter()
        .map(|kek| open_kek(kek, data_dir, Create::Never))
        .collect::<Result<Vec<Arc<dyn Kek>>>>()?;
    Ok((current, previous))
}

/// Opens the KEK `config` describes.
pub(crate) fn open_kek(
    config: &KekConfig,
    data_dir: &Path,
    create: Create,
) -> Result<Arc<dyn Kek>> {
    match config.kek {
        KekBackend::Pkcs11 => {
            let p = &config.pkcs11;
            let pin = read_secret(
                data_dir,
                p.pin_file.as_deref(),
                PKCS11_PIN_ENV,
                "PIN",
                "vault.pkcs11.pin_file",
            )?;
            let config = Pkcs11Config {
                module: p.module.clone(),
                token_label: p.token_label.clone(),
                pin,
                key_label: p.key_label.clone(),
            };
            let kek = match create {
                Create::IfMissing => Pkcs11Kek::open(&config)?,
                Create::AuditKey => Pkcs11Kek::open_existing_with_audit_key(&config)?,
                Create::Never => Pkcs11Kek::open_existing(&config)?,
            };
            Ok(Arc::new(kek))
        }
        KekBackend::File => {
            let f = &config.file;
            let path = resolve(data_dir, &f.path);
            if create != Create::IfMissing && !path.exists() {
                return Err(Error::KekFileMissing { path });
            }
            let passphrase = read_secret(
                data_dir,
                f.passphrase_file.as_deref(),
                FILE_PASSPHRASE_ENV,
                "passphrase",
                "vault.file.passphrase_file",
            )?;
            Ok(Arc::new(FileKek::open_or_create(
                &path,
                passphrase.as_bytes(),
            )?))
        }
    }
}

/// A secret from `file` (mode 0600, one line; a trailing newline is dropped) or, when no
/// file is configured, from the environment variable `env`.
fn read_secret(
    data_dir: &Path,
    file: Option<&Path>,
    env: &'static str,
    what: &'static str,
    key: &'static str,
) -> Result<Zeroizing<String>> {
    let Some(file) = file else {
        return std::env::var(env)
            .map(Zeroizing::new)
            .map_err(|_| Error::SecretNotConfigured { what, key, env });
    };
    let path = resolve(data_dir, file);
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(source) => return Err(Error::SecretFileUnreadable { key, path, source }),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::SecretFilePermissions { path, mode });
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(Error::SecretFileTooLarge {
            key,
            path,
            max: MAX_SECRET_BYTES,
        });
    }
    let text =
        Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?);
    let secret = Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_owned());
    if secret.is_empty() {
        return Err(Error::SecretFileEmpty { path });
    }
    Ok(secret)
}
