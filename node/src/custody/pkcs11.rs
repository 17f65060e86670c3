//! A KEK inside a PKCS#11 token: a non-extractable AES-256 key found (or created) by label;
//! K is sealed with AES-256-GCM by the token itself, so the KEK never enters our memory.

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

use super::kek::Kek;
use crate::error::{Error, Result};

/// Where Debian's SoftHSM2 module lives.
pub const DEFAULT_SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const GCM_TAG_BITS: u64 = 128;
const IV_LEN: usize = 12;

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
    // PKCS#11 sessions must not be used from two threads at once.
    session: Mutex<Session>,
    _ctx: Arc<Pkcs11>,
}

impl std::fmt::Debug for Pkcs11Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Kek({})", self.id)
    }
}

fn unavailable(message: String) -> Error {
    Error::KekUnavailable {
        backend: "pkcs11",
        message,
    }
}

impl Pkcs11Kek {
    /// Loads the module, finds the token by label, logs in, and finds or creates the key.
    pub fn open(config: &Pkcs11Config) -> Result<Pkcs11Kek> {
        Self::open_with(config, true)
    }

    /// Like [`Pkcs11Kek::open`], but a missing key is an error instead of being created:
    /// for a KEK that already sealed records (a fresh key under the same label would open
    /// none of them).
    pub fn open_existing(config: &Pkcs11Config) -> Result<Pkcs11Kek> {
        Self::open_with(config, false)
    }

    fn open_with(config: &Pkcs11Config, create: bool) -> Result<Pkcs11Kek> {
        let module: &Path = &config.module;
        let ctx = context(module)?;
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| unavailable(format!("cannot list tokens: {e}")))?;
        // SoftHSM renumbers slots when a token is initialised: always look up by label.
        let slot = slots
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|info| info.label().trim_end() == config.token_label)
            })
            .ok_or_else(|| {
                unavailable(format!(
                    "no token labelled {:?}: create one, e.g. `softhsm2-util --init-token --free --label {}`",
                    config.token_label, config.token_label
                ))
            })?;
        let session = ctx
            .open_rw_session(slot)
            .map_err(|e| unavailable(format!("cannot open a session: {e}")))?;
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
            CkError::Pkcs11(RvError::PinLocked, _) => {
                unavailable("the token's PIN is locked: unlock it with the SO PIN".into())
            }
            other => unavailable(format!("login failed: {other}")),
        })?;
        let label = config.key_label.as_bytes().to_vec();
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.clone()),
            ])
            .map_err(|e| unavailable(format!("cannot search the token: {e}")))?;
        let key = match found.as_slice() {
            [key] => *key,
            [] if !create => {
                return Err(unavailable(format!(
                    "no key labelled {:?} in token {:?}, but this vault has keys sealed under \
                     it: restore the token from its backup (or fix key_label)",
                    config.key_label, config.token_label
                )));
            }
            [] => session
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
                        Attribute::Label(label),
                    ],
                )
                .map_err(|e| unavailable(format!("cannot create the KEK in the token: {e}")))?,
            more => {
                return Err(unavailable(format!(
                    "{} keys are labelled {:?} in token {:?}: keep exactly one",
                    more.len(),
                    config.key_label,
                    config.token_label
                )));
            }
        };
        Ok(Pkcs11Kek {
            id: format!("pkcs11:{}:{}", config.token_label, config.key_label),
            key,
            session: Mutex::new(session),
            _ctx: ctx,
        })
    }

    /// Whether the key is marked non-extractable and sensitive in the token.
    pub fn key_is_locked_in(&self) -> Result<bool> {
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let attrs = session
            .get_attributes(
                self.key,
                &[AttributeType::Extractable, AttributeType::Sensitive],
            )
            .map_err(|e| unavailable(format!("cannot read the key's attributes: {e}")))?;
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
    let ctx = Pkcs11::new(module).map_err(|e| {
        unavailable(format!(
            "cannot load the PKCS#11 module {}: {e}; install it (scripts/setup installs SoftHSM2) or fix the module path",
            module.display()
        ))
    })?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| unavailable(format!("C_Initialize failed: {e}")))?;
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
            .map_err(|e| unavailable(format!("GCM parameters: {e}")))?;
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let ct = session
            .encrypt(&Mechanism::AesGcm(params), self.key, plaintext)
            .map_err(|e| unavailable(format!("the token refused to encrypt: {e}")))?;
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
            .map_err(|e| unavailable(format!("GCM parameters: {e}")))?;
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
                other => unavailable(format!("the token refused to decrypt: {other}")),
            })
    }
}
