//! Access requests and share deposits: EIP-712 known-answer vectors, sign/verify, and every
//! rule a node enforces before touching the chain.

// Helpers outside `#[test]` fns unwrap too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

use alloy_primitives::{Address, B256, U256, keccak256};
use k256::ecdsa::SigningKey;
use serde_json::Value;
use zgvault_proto::{
    Error,
    request::{
        AccessRequest, CLOCK_SKEW_SECS, EthSignature, FileRef, KeyDeposit, MAX_DEPOSIT_AGE_SECS,
        MAX_REQUEST_LIFETIME_SECS, RequestDomain, SIGNATURE_LEN, Scheme, ShareDeposit, Shred,
        SignedAccessRequest, address_of,
    },
    sealbox::{BoxPublicKey, BoxSecretKey},
    threshold::{deal_bls_key_set, split_new_file_key},
};

const NOW: u64 = 1_764_000_000;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/access.json")).unwrap()
}

fn hex32(v: &Value) -> B256 {
    B256::from_slice(&hex::decode(v.as_str().unwrap()).unwrap())
}

fn vector_key(v: &Value) -> SigningKey {
    SigningKey::from_slice(&hex::decode(v["private_key"].as_str().unwrap()).unwrap()).unwrap()
}

fn vector_file(v: &Value) -> FileRef {
    FileRef {
        chain_id: v["domain"]["chain_id"].as_u64().unwrap(),
        registry: v["domain"]["verifying_contract"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
        file_id: hex32(&v["access_request"]["file_id"]),
    }
}

fn vector_request(v: &Value) -> AccessRequest {
    let r = &v["access_request"];
    AccessRequest {
        file: vector_file(v),
        scheme: Scheme::from_u8(u8::try_from(r["scheme"].as_u64().unwrap()).unwrap()).unwrap(),
        response_key: BoxPublicKey::from_bytes(hex32(&r["response_key"]).0),
        capsule_hash: hex32(&r["capsule_hash"]),
        nonce: hex32(&r["nonce"]),
        issued_at: r["issued_at"].as_u64().unwrap(),
        expires_at: r["expires_at"].as_u64().unwrap(),
        at_block: r["at_block"].as_u64().unwrap(),
    }
}

// ----- independent EIP-712 encoding (by hand, from the spec) -----------------------------------

fn word_u64(x: u64) -> [u8; 32] {
    U256::from(x).to_be_bytes()
}

fn word_addr(a: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

fn hand_separator(chain_id: u64, registry: Address) -> B256 {
    let mut enc = Vec::new();
    enc.extend_from_slice(
        keccak256(
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
        )
        .as_slice(),
    );
    enc.extend_from_slice(keccak256("zgvault").as_slice());
    enc.extend_from_slice(keccak256("1").as_slice());
    enc.extend_from_slice(&word_u64(chain_id));
    enc.extend_from_slice(&word_addr(registry));
    keccak256(enc)
}

fn hand_digest(separator: B256, struct_hash: B256) -> B256 {
    let mut enc = vec![0x19, 0x01];
    enc.extend_from_slice(separator.as_slice());
    enc.extend_from_slice(struct_hash.as_slice());
    keccak256(enc)
}

fn hand_request_digest(r: &AccessRequest) -> B256 {
    let mut enc = Vec::new();
    enc.extend_from_slice(
        keccak256(
            "AccessRequest(bytes32 fileId,uint8 scheme,bytes32 responseKey,bytes32 capsuleHash,\
             bytes32 nonce,uint64 issuedAt,uint64 expiresAt,uint64 atBlock)",
        )
        .as_slice(),
    );
    enc.extend_from_slice(r.file.file_id.as_slice());
    enc.extend_from_slice(&word_u64(u64::from(r.scheme.as_u8())));
    enc.extend_from_slice(r.response_key.as_bytes());
    enc.extend_from_slice(r.capsule_hash.as_slice());
    enc.extend_from_slice(r.nonce.as_slice());
    enc.extend_from_slice(&word_u64(r.issued_at));
    enc.extend_from_slice(&word_u64(r.expires_at));
    enc.extend_from_slice(&word_u64(r.at_block));
    hand_digest(
        hand_separator(r.file.chain_id, r.file.registry),
        keccak256(enc),
    )
}

fn hand_deposit_digest(
    file: &FileRef,
    node_index: u32,
    sealed_share_hash: B256,
    commitments_hash: B256,
    issued_at: u64,
) -> B256 {
    let mut enc = Vec::new();
    enc.extend_from_slice(
        keccak256(
            "ShareDeposit(bytes32 fileId,uint32 nodeIndex,bytes32 sealedShareHash,\
             bytes32 commitmentsHash,uint64 issuedAt)",
        )
        .as_slice(),
    );
    enc.extend_from_slice(file.file_id.as_slice());
    enc.extend_from_slice(&word_u64(u64::from(node_index)));
    enc.extend_from_slice(sealed_share_hash.as_slice());
    enc.extend_from_slice(commitments_hash.as_slice());
    enc.extend_from_slice(&word_u64(issued_at));
    hand_digest(hand_separator(file.chain_id, file.registry), keccak256(enc))
}

fn hand_key_deposit_digest(file: &FileRef, sealed_key_hash: B256, issued_at: u64) -> B256 {
    let mut enc = Vec::new();
    enc.extend_from_slice(
        keccak256("KeyDeposit(bytes32 fileId,bytes32 sealedKeyHash,uint64 issuedAt)").as_slice(),
    );
    enc.extend_from_slice(file.file_id.as_slice());
    enc.extend_from_slice(sealed_key_hash.as_slice());
    enc.extend_from_slice(&word_u64(issued_at));
    hand_digest(hand_separator(file.chain_id, file.registry), keccak256(enc))
}

fn hand_shred_digest(file: &FileRef, holder: B256, issued_at: u64) -> B256 {
    let mut enc = Vec::new();
    enc.extend_from_slice(
        keccak256("Shred(bytes32 fileId,bytes32 holder,uint64 issuedAt)").as_slice(),
    );
    enc.extend_from_slice(file.file_id.as_slice());
    enc.extend_from_slice(holder.as_slice());
    enc.extend_from_slice(&word_u64(issued_at));
    hand_digest(hand_separator(file.chain_id, file.registry), keccak256(enc))
}

// ----- helpers -------------------------------------------------------------------------------

fn file() -> FileRef {
    FileRef {
        chain_id: 16602,
        registry: Address::repeat_byte(0x42),
        file_id: B256::repeat_byte(0x07),
    }
}

fn requester() -> SigningKey {
    SigningKey::from_slice(&[0x11; 32]).unwrap()
}

fn shamir_request(issued_at: u64, lifetime: u64) -> AccessRequest {
    let response = BoxSecretKey::generate().unwrap();
    AccessRequest::new(
        file(),
        Scheme::Shamir,
        response.public_key(),
        &[],
        issued_at,
        lifetime,
        100,
    )
    .unwrap()
}

fn signed(request: AccessRequest) -> SignedAccessRequest {
    request.sign(&requester(), Vec::new()).unwrap()
}

fn domain() -> RequestDomain {
    file().domain()
}

// ----- known answers -------------------------------------------------------------------------

#[test]
fn kat_access_request_digest_and_signature_match_cast() {
    let v = vectors();
    let request = vector_request(&v);
    let domain = request.file.domain();
    assert_eq!(domain.separator(), hex32(&v["domain"]["separator"]));
    let digest = hex32(&v["access_request"]["digest"]);
    assert_eq!(request.signing_hash(), digest);
    assert_eq!(hand_request_digest(&request), digest);

    let key = vector_key(&v);
    let expected_address: Address = v["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(address_of(&key), expected_address);
    let signed = request.clone().sign(&key, Vec::new()).unwrap();
    let expected_sig = hex::decode(v["access_request"]["signature"].as_str().unwrap()).unwrap();
    assert_eq!(
        signed.signature().as_bytes().as_slice(),
        expected_sig,
        "RFC 6979 signatures are deterministic: ours must equal cast's byte for byte"
    );
    let from_cast = SignedAccessRequest::from_parts(
        request,
        EthSignature::from_slice(&expected_sig).unwrap(),
        Vec::new(),
    );
    // (The vector's capsule hash is a placeholder, so check the signature alone.)
    assert_eq!(from_cast.hash(), digest);
    assert_eq!(
        from_cast.signature().recover(&digest).unwrap(),
        expected_address
    );
}

#[test]
fn kat_share_deposit_encoding_matches_cast() {
    let v = vectors();
    let d = &v["share_deposit"];
    let digest = hand_deposit_digest(
        &vector_file(&v),
        u32::try_from(d["node_index"].as_u64().unwrap()).unwrap(),
        hex32(&d["sealed_share_hash"]),
        hex32(&d["commitments_hash"]),
        d["issued_at"].as_u64().unwrap(),
    );
    assert_eq!(digest, hex32(&d["digest"]));
    let sig =
        EthSignature::from_slice(&hex::decode(d["signature"].as_str().unwrap()).unwrap()).unwrap();
    let expected: Address = v["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(sig.recover(&digest).unwrap(), expected);
}

#[test]
fn request_digest_matches_hand_encoding_for_varied_fields() {
    for (i, scheme) in [Scheme::Bls, Scheme::Shamir, Scheme::Custodial]
        .into_iter()
        .enumerate()
    {
        let mut request = shamir_request(NOW + i as u64 * 977, 60 + i as u64);
        request.scheme = scheme;
        request.at_block = u64::MAX - i as u64;
        request.file.chain_id = 1 + i as u64 * 1_000_000_007;
        assert_eq!(request.signing_hash(), hand_request_digest(&request));
        assert_eq!(
            request.file.domain().eip712_domain().separator(),
            request.file.domain().separator()
        );
    }
}

#[test]
fn kat_key_deposit_and_shred_match_cast() {
    let v = vectors();
    let expected: Address = v["address"].as_str().unwrap().parse().unwrap();
    let file = FileRef {
        file_id: hex32(&v["key_deposit"]["file_id"]),
        ..vector_file(&v)
    };
    let d = &v["key_deposit"];
    let digest = hand_key_deposit_digest(
        &file,
        hex32(&d["sealed_key_hash"]),
        d["issued_at"].as_u64().unwrap(),
    );
    assert_eq!(digest, hex32(&d["digest"]));
    let sig =
        EthSignature::from_slice(&hex::decode(d["signature"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(sig.recover(&digest).unwrap(), expected);

    // The shred's fields are all known, so sign it with the library and compare bytes.
    let d = &v["shred"];
    let holder = hex32(&d["holder"]);
    let shred = Shred {
        file,
        holder: BoxPublicKey::from_bytes(holder.0),
        issued_at: d["issued_at"].as_u64().unwrap(),
    };
    assert_eq!(shred.signing_hash(), hex32(&d["digest"]));
    assert_eq!(
        hand_shred_digest(&file, holder, shred.issued_at),
        hex32(&d["digest"])
    );
    let key =
        SigningKey::from_slice(&hex::decode(v["private_key"].as_str().unwrap()).unwrap()).unwrap();
    let signed = shred.sign(&key).unwrap();
    assert_eq!(
        hex::encode(signed.signature().as_bytes()),
        d["signature"].as_str().unwrap()
    );
}

#[test]
fn key_deposit_digest_matches_hand_encoding() {
    let vault = BoxSecretKey::generate().unwrap();
    let key = zgvault_proto::FileKey::generate().unwrap();
    let deposit = KeyDeposit::new(file(), &key, &vault.public_key(), NOW).unwrap();
    assert_eq!(
        deposit.signing_hash(),
        hand_key_deposit_digest(&file(), keccak256(&deposit.sealed_key), NOW)
    );
}

#[test]
fn share_deposit_digest_matches_hand_encoding() {
    let split = split_new_file_key(2, 3).unwrap();
    let node = BoxSecretKey::generate().unwrap();
    let share = split.shares.get(1).unwrap();
    let deposit = ShareDeposit::new(
        file(),
        share,
        &node.public_key(),
        split.commitments.clone(),
        NOW,
    )
    .unwrap();
    assert_eq!(
        deposit.signing_hash(),
        hand_deposit_digest(
            &file(),
            1,
            keccak256(&deposit.sealed_share),
            split.commitments.hash(),
            NOW
        )
    );
}

// ----- sign / verify -------------------------------------------------------------------------

#[test]
fn sign_verify_round_trip() {
    let request = shamir_request(NOW, MAX_REQUEST_LIFETIME_SECS);
    let hash = request.signing_hash();
    let signed = signed(request);
    let verified = signed.verify(&domain(), NOW + 10).unwrap();
    assert_eq!(verified.requester, address_of(&requester()));
    assert_eq!(verified.hash, hash);
    assert_eq!(signed.hash(), hash);
    assert_eq!(
        verified.replay_until,
        NOW + MAX_REQUEST_LIFETIME_SECS + CLOCK_SKEW_SECS
    );
    let v = signed.signature().as_bytes()[SIGNATURE_LEN - 1];
    assert!(v == 27 || v == 28, "v must be in Ethereum form, got {v}");
}

#[test]
fn bls_request_binds_its_capsule() {
    let (keys, _) = deal_bls_key_set(2, 3).unwrap();
    let key = zgvault_proto::FileKey::generate().unwrap();
    let capsule = keys.encrypt_file_key(&file(), &key).unwrap().to_bytes();
    let response = BoxSecretKey::generate().unwrap();
    let request = AccessRequest::new(
        file(),
        Scheme::Bls,
        response.public_key(),
        &capsule,
        NOW,
        60,
        1,
    )
    .unwrap();
    assert_eq!(request.capsule_hash, keccak256(&capsule));
    let good = request.clone().sign(&requester(), capsule.clone()).unwrap();
    good.verify(&domain(), NOW).unwrap();

    let mut other = capsule.clone();
    other[90] ^= 1;
    let swapped = request.clone().sign(&requester(), other).unwrap();
    assert!(matches!(
        swapped.verify(&domain(), NOW),
        Err(Error::CapsuleMismatch)
    ));
    let missing = request.sign(&requester(), Vec::new()).unwrap();
    assert!(matches!(
        missing.verify(&domain(), NOW),
        Err(Error::CapsuleMissing)
    ));
}

#[test]
fn time_window_boundaries() {
    let request = signed(shamir_request(NOW, 60));
    // Issued up to CLOCK_SKEW_SECS in the node's future is fine.
    request
        .verify(&domain(), NOW - CLOCK_SKEW_SECS)
        .expect("within skew before issue");
    // Valid until CLOCK_SKEW_SECS after expiry, exclusive.
    request
        .verify(&domain(), NOW + 60 + CLOCK_SKEW_SECS - 1)
        .expect("within skew after expiry");
    // Exactly the maximum lifetime is allowed.
    signed(shamir_request(NOW, MAX_REQUEST_LIFETIME_SECS))
        .verify(&domain(), NOW)
        .unwrap();
}

#[test]
fn fail_expired() {
    let signed = signed(shamir_request(NOW, 60));
    let now = NOW + 60 + CLOCK_SKEW_SECS;
    assert!(matches!(
        signed.verify(&domain(), now),
        Err(Error::RequestExpired { expires_at, now: n }) if expires_at == NOW + 60 && n == now
    ));
}

#[test]
fn fail_future_dated() {
    let signed = signed(shamir_request(NOW, 60));
    assert!(matches!(
        signed.verify(&domain(), NOW - CLOCK_SKEW_SECS - 1),
        Err(Error::RequestNotYetValid { issued_at: NOW, .. })
    ));
}

#[test]
fn fail_lifetime_too_long() {
    assert!(matches!(
        AccessRequest::new(
            file(),
            Scheme::Shamir,
            BoxPublicKey::from_bytes([9; 32]),
            &[],
            NOW,
            MAX_REQUEST_LIFETIME_SECS + 1,
            1
        ),
        Err(Error::RequestLifetimeTooLong { lifetime, max: MAX_REQUEST_LIFETIME_SECS })
            if lifetime == MAX_REQUEST_LIFETIME_SECS + 1
    ));
    // A signed request with a long lifetime (built by hand) is refused by the node too.
    let mut request = shamir_request(NOW, 60);
    request.expires_at = NOW + 3600;
    assert!(matches!(
        signed(request).verify(&domain(), NOW),
        Err(Error::RequestLifetimeTooLong { lifetime: 3600, .. })
    ));
}

#[test]
fn fail_expires_before_issued() {
    let mut request = shamir_request(NOW, 60);
    request.expires_at = NOW;
    assert!(matches!(
        signed(request).verify(&domain(), NOW),
        Err(Error::RequestTimesInvalid { .. })
    ));
}

#[test]
fn fail_wrong_chain() {
    let signed = signed(shamir_request(NOW, 60));
    let other = RequestDomain::new(1, file().registry);
    assert!(matches!(
        signed.verify(&other, NOW),
        Err(Error::WrongChain {
            expected: 1,
            got: 16602
        })
    ));
}

#[test]
fn fail_wrong_registry() {
    let signed = signed(shamir_request(NOW, 60));
    let other = RequestDomain::new(16602, Address::repeat_byte(0x43));
    assert!(matches!(
        signed.verify(&other, NOW),
        Err(Error::WrongRegistry { .. })
    ));
}

#[test]
fn fail_tampered_field() {
    let original = signed(shamir_request(NOW, 60));
    let signer = address_of(&requester());
    type Tamper = fn(&mut AccessRequest);
    let tampers: Vec<(&str, Tamper)> = vec![
        ("file id", |r| r.file.file_id = B256::repeat_byte(0x08)),
        ("scheme", |r| r.scheme = Scheme::Custodial),
        ("response key", |r| {
            r.response_key = BoxPublicKey::from_bytes([1; 32])
        }),
        ("nonce", |r| r.nonce = B256::repeat_byte(0x99)),
        ("issued at", |r| r.issued_at -= 1),
        ("expires at", |r| r.expires_at -= 1),
        ("at block", |r| r.at_block += 1),
    ];
    for (name, tamper) in tampers {
        let mut request = original.request().clone();
        tamper(&mut request);
        let forged = SignedAccessRequest::from_parts(request, *original.signature(), Vec::new());
        match forged.verify(&domain(), NOW) {
            Ok(v) => assert_ne!(v.requester, signer, "tampered {name} still verifies"),
            Err(e) => assert!(matches!(e, Error::BadSignature), "{name}: {e}"),
        }
    }
}

#[test]
fn fail_signature_from_another_key() {
    let request = shamir_request(NOW, 60);
    let other = SigningKey::from_slice(&[0x22; 32]).unwrap();
    let signed = request.sign(&other, Vec::new()).unwrap();
    let verified = signed.verify(&domain(), NOW).unwrap();
    assert_eq!(verified.requester, address_of(&other));
    assert_ne!(verified.requester, address_of(&requester()));
}

#[test]
fn fail_malformed_signature() {
    let good = *signed(shamir_request(NOW, 60)).signature().as_bytes();
    assert!(matches!(
        EthSignature::from_slice(&good[..64]),
        Err(Error::FieldLength {
            expected: 65,
            got: 64,
            ..
        })
    ));
    let mut bad_v = good;
    bad_v[64] = 29;
    assert!(matches!(
        EthSignature::from_slice(&bad_v),
        Err(Error::MalformedSignature { .. })
    ));
    // High s (the malleable twin of a valid signature) is refused.
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let s = U256::from_be_slice(&good[32..64]);
    let mut high = good;
    high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    high[64] ^= 1;
    assert!(matches!(
        EthSignature::from_slice(&high),
        Err(Error::MalformedSignature { .. })
    ));
    // r = 0 parses but recovers nothing.
    let mut zero_r = good;
    zero_r[..32].fill(0);
    let sig = EthSignature::from_slice(&zero_r).unwrap();
    let forged = SignedAccessRequest::from_parts(shamir_request(NOW, 60), sig, Vec::new());
    assert!(matches!(
        forged.verify(&domain(), NOW),
        Err(Error::BadSignature)
    ));
}

#[test]
fn v_zero_or_one_is_accepted_and_normalised() {
    let signed = signed(shamir_request(NOW, 60));
    let mut raw = *signed.signature().as_bytes();
    raw[64] -= 27;
    let parsed = EthSignature::from_slice(&raw).unwrap();
    assert_eq!(parsed, *signed.signature());
}

// ----- deposits ------------------------------------------------------------------------------

#[test]
fn deposit_sign_verify_and_open() {
    let owner = SigningKey::from_slice(&[0x33; 32]).unwrap();
    let split = split_new_file_key(2, 3).unwrap();
    let node = BoxSecretKey::generate().unwrap();
    let share = split.shares.first().unwrap();
    let deposit = ShareDeposit::new(
        file(),
        share,
        &node.public_key(),
        split.commitments.clone(),
        NOW,
    )
    .unwrap()
    .sign(&owner)
    .unwrap();
    assert_eq!(
        deposit.verify(&domain(), NOW + 5).unwrap(),
        address_of(&owner)
    );
    let (opened, _) =
        zgvault_proto::threshold::ShamirShare::open_deposit(&node, deposit.deposit()).unwrap();
    assert_eq!(opened.to_bytes(), share.to_bytes());
}

#[test]
fn fail_deposit_too_old_or_future() {
    let owner = SigningKey::from_slice(&[0x33; 32]).unwrap();
    let split = split_new_file_key(2, 2).unwrap();
    let node = BoxSecretKey::generate().unwrap();
    let deposit = ShareDeposit::new(
        file(),
        split.shares.first().unwrap(),
        &node.public_key(),
        split.commitments,
        NOW,
    )
    .unwrap()
    .sign(&owner)
    .unwrap();
    assert!(matches!(
        deposit.verify(&domain(), NOW + MAX_DEPOSIT_AGE_SECS),
        Err(Error::RequestExpired { .. })
    ));
    assert!(matches!(
        deposit.verify(&domain(), NOW - CLOCK_SKEW_SECS - 1),
        Err(Error::RequestNotYetValid { .. })
    ));
    assert!(matches!(
        deposit.verify(&RequestDomain::new(5, file().registry), NOW),
        Err(Error::WrongChain { .. })
    ));
}

#[test]
fn fail_deposit_opened_for_another_node_or_file() {
    let split = split_new_file_key(2, 3).unwrap();
    let node = BoxSecretKey::generate().unwrap();
    let share = split.shares.first().unwrap();
    let mut deposit = ShareDeposit::new(
        file(),
        share,
        &node.public_key(),
        split.commitments.clone(),
        NOW,
    )
    .unwrap();
    // Same sealed box presented as node 1's deposit, or for another file: the AAD differs.
    deposit.node_index = 1;
    assert!(matches!(
        zgvault_proto::threshold::ShamirShare::open_deposit(&node, &deposit),
        Err(Error::BoxOpenFailed)
    ));
    deposit.node_index = 0;
    deposit.file.file_id = B256::repeat_byte(0x55);
    assert!(matches!(
        zgvault_proto::threshold::ShamirShare::open_deposit(&node, &deposit),
        Err(Error::BoxOpenFailed)
    ));
    // Another node's key cannot open it.
    deposit.file = file();
    let other = BoxSecretKey::generate().unwrap();
    assert!(matches!(
        zgvault_proto::threshold::ShamirShare::open_deposit(&other, &deposit),
        Err(Error::BoxOpenFailed)
    ));
}
