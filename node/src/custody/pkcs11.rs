//! A KEK inside a PKCS#11 token: a non-extractable AES-256 key found (or created) by label;
//! K is sealed with AES-256-GCM by the token itself, so the KEK never enters our memory.
//!
//! Beside it, the token holds the KEK's audit key: a non-extractable 256-bit generic secret
//! labelled `<key_label>` + [`AUDIT_KEY_LABEL_SUFFIX`], usable only to sign and verify
//! (`CKM_SHA256_HMAC`). The token computes every audit MAC; the key never leaves it. A
//! separate key rather than one derived from the KEK: deriving needs `CKA_DERIVE` on the
//! KEK, which existing KEKs lack and which would turn the KEK into an ECB oracle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use super::kek::{AUDIT_MAC_LEN, Kek};
use crate::error::{Error, Result};

/// Where Debian's SoftHSM2 module lives.
pub const DEFAULT_SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Appended to `key_label` to name the KEK's audit key in the token.
pub const AUDIT_KEY_LABEL_SUFFIX: &str = "/audit-mac";
const GCM_TAG_BITS: u64 = 128;
const IV_LEN: usize = 12;
/// Length of the audit key generated in the token (bytes): HMAC-SHA256's block strength.
const AUDIT_KEY_LEN: u64 = 32;

/// Which token and key to use.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (`.so`).
    pub module: PathBuf,
    /// Label of an initialised token.
    pub token_label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
    /// Label of the KEK object; created in the token if absent.
    pub key_label: String,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .field("key_label", &self.key_label)
            .finish()
    }
}

/// The KEK in a PKCS#11 token, with one logged-in session.
pub struct Pkcs11Kek {
    id: String,
    key: ObjectHandle,
    /// The audit key, when the token holds one (see [`Pkcs11Kek::open_existing`]).
    audit_key: Option<ObjectHandle>,
    /// Its label, for error messages.
    audit_label: String,
    // PKCS#11 sessions must not be used from two threads at once.
    session: Mutex<Session>,
    _ctx: Arc<Pkcs11>,
}

impl std::fmt::Debug for Pkcs11Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Kek({})", self.id)
    }
}

/// The error of a token call that failed at `operation` ("list tokens", "encrypt", ...).
fn failed(operation: &'static str) -> impl FnOnce(CkError) -> Error {
    move |source| Error::Pkcs11 { operation, source }
}

/// Which keys [`Pkcs11Kek::open_with`] may create when the token lacks them.
#[derive(Clone, Copy)]
struct MayCreate {
    kek: bool,
    audit_key: bool,
}

impl Pkcs11Kek {
    /// Loads the module, finds the token by label, logs in, and finds or creates the KEK and
    /// its audit key.
    pub fn open(config: &Pkcs11Config) -> Result<Pkcs11Kek> {
        Self::open_with(
            config,
            MayCreate {
                kek: true,
                audit_key: true,
            },
        )
    }

    /// Like [`Pkcs11Kek::open`], but nothing is created: a missing KEK is an error (a fresh
    /// key under the same label would open none of the records it sealed), and a missing
    /// audit key leaves [`Kek::audit_mac`] failing. For a previous KEK and for verifiers.
    pub fn open_existing(config: &Pkcs11Config) -> Result<Pkcs11Kek> {
        Self::open_with(
            config,
            MayCreate {
                kek: false,
                audit_key: false,
            },
        )
    }

    /// Like [`Pkcs11Kek::open_existing`], but the audit key is created if the token has
    /// none: for the current KEK of a vault that ran before audit lines were MACed.
    pub fn open_existing_with_audit_key(config: &Pkcs11Config) -> Result<Pkcs11Kek> {
        Self::open_with(
            config,
            MayCreate {
                kek: false,
                audit_key: true,
            },
        )
    }

    fn open_with(config: &Pkcs11Config, create: MayCreate) -> Result<Pkcs11Kek> {
        let module: &Path = &config.module;
        let ctx = context(module)?;
        let slots = ctx
            .get_slots_with_token()
            .map_err(failed("list its tokens"))?;
        // SoftHSM renumbers slots when a token is initialised: always look up by label.
        let slot = slots
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|info| info.label().trim_end() == config.token_label)
            })
            .ok_or_else(|| Error::TokenNotFound {
                token: config.token_label.clone(),
            })?;
        let session = ctx
            .open_rw_session(slot)
            .map_err(failed("open a session"))?;
        let pin = AuthPin::new(config.pin.as_str().into());
        // Login state is per token and application: a second key in the same token finds
        // the user logged in already (and the token does not check the PIN again then: both
        // keys are the same token's, opened by the same operator config).
        let login = match session.login(UserType::User, Some(&pin)) {
            Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            other => other,
        };
        login.map_err(|e| match e {
            CkError::Pkcs11(
                RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
                _,
            ) => Error::KekAuth {
                backend: "pkcs11",
                what: "PIN",
            },
            CkError::Pkcs11(RvError::PinLocked, _) => Error::PinLocked {
                token: config.token_label.clone(),
            },
            other => Error::Pkcs11 {
                operation: "log in",
                source: other,
            },
        })?;
        let key = match find_key(&session, config, KeyType::AES, &config.key_label)? {
            Some(key) => key,
            None if !create.kek => {
                return Err(Error::KekKeyMissing {
                    token: config.token_label.clone(),
                    key_label: config.key_label.clone(),
                });
            }
            None => session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(32.into()),
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                        Attribute::Label(config.key_label.as_bytes().to_vec()),
                    ],
                )
                .map_err(failed("create the KEK"))?,
        };
        let audit_label = format!("{}{AUDIT_KEY_LABEL_SUFFIX}", config.key_label);
        let audit_key = match find_key(&session, config, KeyType::GENERIC_SECRET, &audit_label)? {
            Some(found) => Some(found),
            None if !create.audit_key => None,
            None => Some(
                session
                    .generate_key(
                        &Mechanism::GenericSecretKeyGen,
                        &[
                            Attribute::Class(ObjectClass::SECRET_KEY),
                            Attribute::KeyType(KeyType::GENERIC_SECRET),
                            Attribute::ValueLen(AUDIT_KEY_LEN.into()),
                            Attribute::Token(true),
                            Attribute::Private(true),
                            Attribute::Sensitive(true),
                            Attribute::Extractable(false),
                            Attribute::Sign(true),
                            Attribute::Verify(true),
                            Attribute::Derive(false),
                            Attribute::Label(audit_label.as_bytes().to_vec()),
                        ],
                    )
                    .map_err(failed("create the audit key"))?,
            ),
        };
        Ok(Pkcs11Kek {
            id: format!("pkcs11:{}:{}", config.token_label, config.key_label),
            key,
            audit_key,
            audit_label,
            session: Mutex::new(session),
            _ctx: ctx,
        })
    }

    /// Whether the KEK is marked non-extractable and sensitive in the token.
    pub fn key_is_locked_in(&self) -> Result<bool> {
        self.locked_in(self.key)
    }

    /// Whether the audit key exists and is marked non-extractable and sensitive.
    pub fn audit_key_is_locked_in(&self) -> Result<bool> {
        match self.audit_key {
            Some(key) => self.locked_in(key),
            None => Ok(false),
        }
    }

    fn locked_in(&self, key: ObjectHandle) -> Result<bool> {
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let attrs = session
            .get_attributes(key, &[AttributeType::Extractable, AttributeType::Sensitive])
            .map_err(failed("read a key's attributes"))?;
        let mut extractable = true;
        let mut sensitive = false;
        for a in attrs {
            match a {
                Attribute::Extractable(v) => extractable = v,
                Attribute::Sensitive(v) => sensitive = v,
                _ => {}
            }
        }
        Ok(!extractable && sensitive)
    }
}

/// The one secret key of type `kind` labelled `label` in the token, if any.
fn find_key(
    session: &Session,
    config: &Pkcs11Config,
    kind: KeyType,
    label: &str,
) -> Result<Option<ObjectHandle>> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(kind),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(failed("search its keys"))?;
    match found.as_slice() {
        [] => Ok(None),
        [key] => Ok(Some(*key)),
        more => Err(Error::DuplicateKeyLabel {
            token: config.token_label.clone(),
            label: label.to_owned(),
            count: more.len(),
        }),
    }
}

/// One initialised context per module, shared by every KEK in it: PKCS#11 allows one
/// `C_Initialize` per process, and dropping a context finalises the library for everyone.
fn context(module: &Path) -> Result<Arc<Pkcs11>> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Weak<Pkcs11>>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = contexts.get(module).and_then(Weak::upgrade) {
        return Ok(ctx);
    }
    let module_error = |source| Error::Pkcs11Module {
        module: module.to_owned(),
        source,
    };
    let ctx = Pkcs11::new(module).map_err(module_error)?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(module_error)?;
    let ctx = Arc::new(ctx);
    contexts.insert(module.to_owned(), Arc::downgrade(&ctx));
    Ok(ctx)
}

impl Kek for Pkcs11Kek {
    fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut iv = [0u8; IV_LEN];
        OsRng.fill_bytes(&mut iv);
        let mut iv_param = iv;
        let params = GcmParams::new(&mut iv_param, aad, GCM_TAG_BITS.into())
            .map_err(failed("take the GCM parameters"))?;
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let ct = session
            .encrypt(&Mechanism::AesGcm(params), self.key, plaintext)
            .map_err(failed("encrypt"))?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let tampered = |detail| Error::KekTampered {
            kek: self.id.clone(),
            detail,
        };
        let (iv, ct) = sealed
            .split_first_chunk::<IV_LEN>()
            .ok_or_else(|| tampered("shorter than an IV"))?;
        let mut iv = *iv;
        let params = GcmParams::new(&mut iv, aad, GCM_TAG_BITS.into())
            .map_err(failed("take the GCM parameters"))?;
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        session
            .decrypt(&Mechanism::AesGcm(params), self.key, ct)
            .map(Zeroizing::new)
            .map_err(|e| match e {
                CkError::Pkcs11(
                    RvError::EncryptedDataInvalid
                    | RvError::EncryptedDataLenRange
                    | RvError::GeneralError,
                    _,
                ) => tampered("authentication failed"),
                other => Error::Pkcs11 {
                    operation: "decrypt",
                    source: other,
                },
            })
    }

    fn audit_mac(&self, message: &[u8]) -> Result<[u8; AUDIT_MAC_LEN]> {
        let key = self.audit_key.ok_or_else(|| Error::AuditKeyMissing {
            label: self.audit_label.clone(),
            kek: self.id.clone(),
        })?;
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let mac = session
            .sign(&Mechanism::Sha256Hmac, key, message)
            .map_err(failed("compute an audit MAC"))?;
        <[u8; AUDIT_MAC_LEN]>::try_from(mac.as_slice()).map_err(|_| Error::Internal {
            what: "the token's HMAC-SHA256 is not 32 bytes",
        })
    }
}
