//! Custodial deposits and shreds: the file owner hands a custodial vault the file key K
//! ([`KeyDeposit`]), and asks a vault or a share-holder node to forget what it holds for a
//! file ([`Shred`]). Both are signed by the owner as EIP-712 typed data under the same domain
//! as access requests, so the receiver checks the owner on-chain.
//!
//! A custodial file registers a [`CustodialCapsule`]: the vault's encryption key and a
//! commitment to K. The vault refuses a deposit whose K does not match it, and the client
//! refuses a released K that does not match it, so neither side has to trust the other.

use alloy_primitives::{Address, B256, keccak256};
use k256::ecdsa::SigningKey;
use zeroize::Zeroizing;

use super::{
    ADDRESS_LEN, CLOCK_SKEW_SECS, FILE_ID_LEN, FileRef, MAX_DEPOSIT_AGE_SECS, RequestDomain,
    eip712::sol,
    signature::{EthSignature, sign_digest},
};
use crate::{
    FileKey, KEY_LEN,
    error::{Error, Result},
    sealbox::{self, BOX_KEY_LEN, BoxPublicKey, BoxPurpose, BoxSecretKey, MAX_BOX_LEN},
};

/// Domain-separation prefix of the key commitment in a [`CustodialCapsule`].
pub const KEY_COMMITMENT_TAG: &[u8] = b"zgvault/v1/custodial-key";
/// Length of an encoded [`CustodialCapsule`]: vault key (32) ‖ key commitment (32).
pub const CUSTODIAL_CAPSULE_LEN: usize = BOX_KEY_LEN + 32;

/// What a custodial file registers as its capsule: which vault holds K, and a commitment to K.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CustodialCapsule {
    /// The vault's X25519 encryption key (its `/v1/info` `encryption_key`).
    pub vault_key: BoxPublicKey,
    /// [`CustodialCapsule::commitment_of`] of the file and its key.
    pub key_commitment: B256,
}

impl CustodialCapsule {
    /// The capsule of `file` whose key `key` is held by the vault with encryption key
    /// `vault_key`.
    pub fn new(file: &FileRef, vault_key: BoxPublicKey, key: &FileKey) -> Self {
        Self {
            vault_key,
            key_commitment: Self::commitment_of(file, key),
        }
    }

    /// `keccak256("zgvault/v1/custodial-key" ‖ chainId (32 BE) ‖ registry (20) ‖ fileId (32)
    /// ‖ K (32))`. K is 32 uniformly random bytes, so the commitment reveals nothing of it.
    pub fn commitment_of(file: &FileRef, key: &FileKey) -> B256 {
        let mut buf = Zeroizing::new(Vec::with_capacity(
            KEY_COMMITMENT_TAG.len() + 32 + ADDRESS_LEN + FILE_ID_LEN + KEY_LEN,
        ));
        buf.extend_from_slice(KEY_COMMITMENT_TAG);
        buf.extend_from_slice(&file_ref_bytes(file));
        buf.extend_from_slice(key.as_bytes());
        keccak256(buf.as_slice())
    }

    /// Whether `key` is the key this capsule commits to for `file`.
    pub fn matches(&self, file: &FileRef, key: &FileKey) -> bool {
        Self::commitment_of(file, key) == self.key_commitment
    }

    /// `vault_key ‖ key_commitment`, [`CUSTODIAL_CAPSULE_LEN`] bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CUSTODIAL_CAPSULE_LEN);
        out.extend_from_slice(self.vault_key.as_bytes());
        out.extend_from_slice(self.key_commitment.as_slice());
        out
    }

    /// Parses [`CustodialCapsule::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != CUSTODIAL_CAPSULE_LEN {
            return Err(Error::FieldLength {
                field: "custodial capsule",
                expected: CUSTODIAL_CAPSULE_LEN,
                got: bytes.len(),
            });
        }
        let (vault_key, commitment) = bytes.split_at(BOX_KEY_LEN);
        Ok(Self {
            vault_key: BoxPublicKey::from_slice(vault_key)?,
            key_commitment: B256::from_slice(commitment),
        })
    }

    /// `keccak256(to_bytes())`, what the FileRegistry stores as `capsuleHash`.
    pub fn hash(&self) -> B256 {
        keccak256(self.to_bytes())
    }
}

/// `chainId (32 BE) ‖ registry (20) ‖ fileId (32)`.
fn file_ref_bytes(file: &FileRef) -> [u8; 32 + ADDRESS_LEN + FILE_ID_LEN] {
    let mut buf = [0u8; 32 + ADDRESS_LEN + FILE_ID_LEN];
    buf[24..32].copy_from_slice(&file.chain_id.to_be_bytes());
    buf[32..32 + ADDRESS_LEN].copy_from_slice(file.registry.as_slice());
    buf[32 + ADDRESS_LEN..].copy_from_slice(file.file_id.as_slice());
    buf
}

/// The signed content of a custodial key deposit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDeposit {
    /// The file whose key this is.
    pub file: FileRef,
    /// K sealed to the vault's encryption key, with the file reference as associated data.
    pub sealed_key: Vec<u8>,
    /// Unix seconds.
    pub issued_at: u64,
}

impl KeyDeposit {
    /// Seals `key` to the vault's encryption key and builds the deposit for it.
    pub fn new(file: FileRef, key: &FileKey, vault_key: &BoxPublicKey, now: u64) -> Result<Self> {
        let sealed_key = sealbox::seal(
            vault_key,
            BoxPurpose::KeyDeposit,
            &file_ref_bytes(&file),
            key.as_bytes(),
        )?;
        Ok(Self {
            file,
            sealed_key,
            issued_at: now,
        })
    }

    /// The EIP-712 signing hash of `KeyDeposit(bytes32 fileId,bytes32 sealedKeyHash,uint64
    /// issuedAt)`.
    pub fn signing_hash(&self) -> B256 {
        let value = sol::KeyDeposit {
            fileId: self.file.file_id,
            sealedKeyHash: keccak256(&self.sealed_key),
            issuedAt: self.issued_at,
        };
        self.file.domain().signing_hash(&value)
    }

    /// Signs the deposit with the file owner's Ethereum key.
    pub fn sign(self, owner: &SigningKey) -> Result<SignedKeyDeposit> {
        let signature = sign_digest(owner, &self.signing_hash())?;
        Ok(SignedKeyDeposit::from_parts(self, signature))
    }

    /// Vault side: opens the sealed key with the vault's encryption key. Check the signature,
    /// the owner and the registered capsule first.
    pub fn open_key(&self, vault_key: &BoxSecretKey) -> Result<FileKey> {
        let plaintext = vault_key.open(
            BoxPurpose::KeyDeposit,
            &file_ref_bytes(&self.file),
            &self.sealed_key,
        )?;
        FileKey::from_slice(&plaintext)
    }
}

/// A key deposit with the owner's signature, as it travels on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedKeyDeposit {
    deposit: KeyDeposit,
    signature: EthSignature,
    hash: B256,
}

impl SignedKeyDeposit {
    /// Assembles a deposit signed elsewhere over [`KeyDeposit::signing_hash`].
    pub fn from_parts(deposit: KeyDeposit, signature: EthSignature) -> Self {
        let hash = deposit.signing_hash();
        Self {
            deposit,
            signature,
            hash,
        }
    }

    /// The signed fields.
    pub const fn deposit(&self) -> &KeyDeposit {
        &self.deposit
    }

    /// The owner's signature.
    pub const fn signature(&self) -> &EthSignature {
        &self.signature
    }

    /// The signing hash.
    pub const fn hash(&self) -> B256 {
        self.hash
    }

    /// Domain, box size, age (at most [`MAX_DEPOSIT_AGE_SECS`]) and signature; returns the
    /// signer, whom the vault must find to be the file's owner on-chain.
    pub fn verify(&self, domain: &RequestDomain, now: u64) -> Result<Address> {
        let deposit = &self.deposit;
        if deposit.sealed_key.len() > MAX_BOX_LEN {
            return Err(Error::BoxLength {
                len: deposit.sealed_key.len(),
                min: 0,
                max: MAX_BOX_LEN,
            });
        }
        verify_owner_message(
            domain,
            &deposit.file,
            deposit.issued_at,
            now,
            &self.signature,
            &self.hash,
        )
    }
}

/// The signed content of a shred: "holder, forget what you hold for this file".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shred {
    /// The file.
    pub file: FileRef,
    /// The encryption key of the one node or vault this shred is for: a holder refuses a
    /// shred addressed to another, so a shred sent to one holder cannot be replayed to
    /// another (e.g. to the vault that received K in a custody move).
    pub holder: BoxPublicKey,
    /// Unix seconds. The holder deletes only what was deposited at or before this time,
    /// and refuses, from then on, deposits for this file issued at or before it, so a
    /// captured deposit cannot restore what was shredded and a replayed shred cannot
    /// delete a newer deposit.
    pub issued_at: u64,
}

impl Shred {
    /// The EIP-712 signing hash of `Shred(bytes32 fileId,bytes32 holder,uint64 issuedAt)`.
    pub fn signing_hash(&self) -> B256 {
        let value = sol::Shred {
            fileId: self.file.file_id,
            holder: B256::from(*self.holder.as_bytes()),
            issuedAt: self.issued_at,
        };
        self.file.domain().signing_hash(&value)
    }

    /// Signs the shred with the file owner's Ethereum key.
    pub fn sign(self, owner: &SigningKey) -> Result<SignedShred> {
        let signature = sign_digest(owner, &self.signing_hash())?;
        Ok(SignedShred::from_parts(self, signature))
    }
}

/// A shred with the owner's signature, as it travels on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedShred {
    shred: Shred,
    signature: EthSignature,
    hash: B256,
}

impl SignedShred {
    /// Assembles a shred signed elsewhere over [`Shred::signing_hash`].
    pub fn from_parts(shred: Shred, signature: EthSignature) -> Self {
        let hash = shred.signing_hash();
        Self {
            shred,
            signature,
            hash,
        }
    }

    /// The signed fields.
    pub const fn shred(&self) -> &Shred {
        &self.shred
    }

    /// The owner's signature.
    pub const fn signature(&self) -> &EthSignature {
        &self.signature
    }

    /// The signing hash.
    pub const fn hash(&self) -> B256 {
        self.hash
    }

    /// Domain, age (at most [`MAX_DEPOSIT_AGE_SECS`]) and signature; returns the signer,
    /// whom the receiver must find to be the file's owner on-chain.
    pub fn verify(&self, domain: &RequestDomain, now: u64) -> Result<Address> {
        verify_owner_message(
            domain,
            &self.shred.file,
            self.shred.issued_at,
            now,
            &self.signature,
            &self.hash,
        )
    }
}

/// The checks every owner-signed message shares: domain, `issued_at` no more than
/// [`CLOCK_SKEW_SECS`] ahead and less than [`MAX_DEPOSIT_AGE_SECS`] old, then the signer.
pub(super) fn verify_owner_message(
    domain: &RequestDomain,
    file: &FileRef,
    issued_at: u64,
    now: u64,
    signature: &EthSignature,
    hash: &B256,
) -> Result<Address> {
    if file.chain_id != domain.chain_id() {
        return Err(Error::WrongChain {
            expected: domain.chain_id(),
            got: file.chain_id,
        });
    }
    if file.registry != domain.registry() {
        return Err(Error::WrongRegistry {
            expected: domain.registry(),
            got: file.registry,
        });
    }
    if issued_at > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(Error::RequestNotYetValid { issued_at, now });
    }
    let expires_at = issued_at.saturating_add(MAX_DEPOSIT_AGE_SECS);
    if now >= expires_at {
        return Err(Error::RequestExpired { expires_at, now });
    }
    signature.recover(hash)
}

#[cfg(test)]
mod tests {
    use alloy_primitives::address;

    use super::*;
    use crate::request::address_of;

    fn file() -> FileRef {
        FileRef {
            chain_id: 31337,
            registry: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            file_id: B256::repeat_byte(7),
        }
    }

    fn owner() -> SigningKey {
        SigningKey::from_slice(&[0x11; 32]).unwrap()
    }

    #[test]
    fn deposit_round_trip_opens_only_for_the_vault_and_the_file() {
        let vault = BoxSecretKey::generate().unwrap();
        let key = FileKey::generate().unwrap();
        let deposit = KeyDeposit::new(file(), &key, &vault.public_key(), 1000).unwrap();
        let signed = deposit.clone().sign(&owner()).unwrap();
        let domain = file().domain();
        assert_eq!(signed.verify(&domain, 1000).unwrap(), address_of(&owner()));
        assert_eq!(
            signed.deposit().open_key(&vault).unwrap().as_bytes(),
            key.as_bytes()
        );

        let other = BoxSecretKey::generate().unwrap();
        assert!(matches!(
            deposit.open_key(&other),
            Err(Error::BoxOpenFailed)
        ));
        let mut moved = deposit;
        moved.file.file_id = B256::repeat_byte(8);
        assert!(matches!(moved.open_key(&vault), Err(Error::BoxOpenFailed)));
    }

    #[test]
    fn owner_messages_are_refused_outside_their_window_and_domain() {
        let shred = Shred {
            file: file(),
            holder: BoxPublicKey::from_bytes([5; 32]),
            issued_at: 10_000,
        }
        .sign(&owner())
        .unwrap();
        let domain = file().domain();
        assert!(shred.verify(&domain, 10_000).is_ok());
        assert!(matches!(
            shred.verify(&domain, 10_000 - CLOCK_SKEW_SECS - 1),
            Err(Error::RequestNotYetValid { .. })
        ));
        assert!(matches!(
            shred.verify(&domain, 10_000 + MAX_DEPOSIT_AGE_SECS),
            Err(Error::RequestExpired { .. })
        ));
        let other = RequestDomain::new(1, file().registry);
        assert!(matches!(
            shred.verify(&other, 10_000),
            Err(Error::WrongChain { .. })
        ));
    }

    #[test]
    fn a_tampered_message_recovers_another_signer() {
        let mut shred = Shred {
            file: file(),
            holder: BoxPublicKey::from_bytes([5; 32]),
            issued_at: 10_000,
        };
        let signature = *shred.sign(&owner()).unwrap().signature();
        shred.issued_at += 1;
        let forged = SignedShred::from_parts(shred, signature);
        let signer = forged.verify(&file().domain(), 10_000).ok();
        assert_ne!(signer, Some(address_of(&owner())));
        // Readdressed to another holder: another signer too.
        shred.issued_at -= 1;
        shred.holder = BoxPublicKey::from_bytes([6; 32]);
        let readdressed = SignedShred::from_parts(shred, signature);
        assert_ne!(
            readdressed.verify(&file().domain(), 10_000).ok(),
            Some(address_of(&owner()))
        );
    }

    #[test]
    fn capsule_commits_to_the_key_and_round_trips() {
        let vault = BoxSecretKey::generate().unwrap();
        let key = FileKey::generate().unwrap();
        let capsule = CustodialCapsule::new(&file(), vault.public_key(), &key);
        assert!(capsule.matches(&file(), &key));
        assert!(!capsule.matches(&file(), &FileKey::generate().unwrap()));
        let mut elsewhere = file();
        elsewhere.file_id = B256::repeat_byte(9);
        assert!(!capsule.matches(&elsewhere, &key));
        let bytes = capsule.to_bytes();
        assert_eq!(bytes.len(), CUSTODIAL_CAPSULE_LEN);
        assert_eq!(CustodialCapsule::from_bytes(&bytes).unwrap(), capsule);
        assert_eq!(capsule.hash(), keccak256(&bytes));
        assert!(CustodialCapsule::from_bytes(&bytes[1..]).is_err());
    }
}
