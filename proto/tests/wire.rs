//! Wire messages and sealed boxes: round trips, limits, malformed input, and a full
//! request → sealed answers → combine exchange without a network.

// Helpers outside `#[test]` fns unwrap too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

use alloy_primitives::{Address, B256};
use k256::ecdsa::SigningKey;
use proptest::prelude::*;
use prost::Message;
use zgvault_proto::{
    Error, FileKey,
    request::{
        AccessRequest, CustodialCapsule, FileRef, KeyDeposit, Scheme, ShareDeposit, Shred,
        address_of,
    },
    sealbox::{self, BOX_OVERHEAD, BoxPurpose, BoxSecretKey, MAX_BOX_PLAINTEXT},
    threshold::{ShamirShare, deal_bls_key_set, split_new_file_key},
    wire::{
        DepositAck, ErrorCode, ErrorReply, KeyRequest, KeyResponse, MAX_ERROR_MESSAGE_BYTES,
        MAX_MESSAGE_BYTES, SealedShare, ShredAck, decode_request, decode_response, encode_request,
        encode_response,
    },
};

const NOW: u64 = 1_764_000_000;

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

fn access(capsule: Vec<u8>, scheme: Scheme) -> (BoxSecretKey, KeyRequest) {
    let response = BoxSecretKey::generate().unwrap();
    let request = AccessRequest::new(
        file(),
        scheme,
        response.public_key(),
        &capsule,
        NOW,
        120,
        77,
    )
    .unwrap()
    .sign(&requester(), capsule)
    .unwrap();
    (response, KeyRequest::Access(request))
}

/// Hand-built raw messages, to reach fields the validated types cannot express.
mod raw {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct AccessRequest {
        #[prost(uint64, tag = "1")]
        pub(crate) chain_id: u64,
        #[prost(bytes = "vec", tag = "2")]
        pub(crate) registry: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub(crate) file_id: Vec<u8>,
        #[prost(int32, tag = "4")]
        pub(crate) scheme: i32,
        #[prost(bytes = "vec", tag = "5")]
        pub(crate) response_key: Vec<u8>,
        #[prost(bytes = "vec", tag = "6")]
        pub(crate) capsule_hash: Vec<u8>,
        #[prost(bytes = "vec", tag = "7")]
        pub(crate) nonce: Vec<u8>,
        #[prost(bytes = "vec", tag = "11")]
        pub(crate) signature: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Request {
        #[prost(uint32, tag = "1")]
        pub(crate) version: u32,
        #[prost(message, optional, tag = "2")]
        pub(crate) access: Option<AccessRequest>,
    }

    impl AccessRequest {
        pub(crate) fn valid() -> Self {
            Self {
                chain_id: 1,
                registry: vec![1; 20],
                file_id: vec![2; 32],
                scheme: 2,
                response_key: vec![3; 32],
                capsule_hash: vec![0; 32],
                nonce: vec![4; 32],
                signature: {
                    let mut s = vec![5; 65];
                    s[32] = 0x10; // low s
                    s[64] = 27;
                    s
                },
            }
        }
    }
}

fn raw_request(access: raw::AccessRequest) -> Vec<u8> {
    raw::Request {
        version: 1,
        access: Some(access),
    }
    .encode_to_vec()
}

// ----- round trips ---------------------------------------------------------------------------

#[test]
fn access_request_round_trip() {
    let (keys, _) = deal_bls_key_set(2, 3).unwrap();
    let key = FileKey::generate().unwrap();
    let capsule = keys.encrypt_file_key(&file(), &key).unwrap().to_bytes();
    let (_, request) = access(capsule, Scheme::Bls);
    let bytes = encode_request(&request);
    assert!(
        bytes.len() < 512,
        "an access request is small: {}",
        bytes.len()
    );
    let decoded = decode_request(&bytes).unwrap();
    assert_eq!(decoded, request);
    let KeyRequest::Access(signed) = decoded else {
        panic!("not an access request")
    };
    let verified = signed.verify(&file().domain(), NOW).unwrap();
    assert_eq!(verified.requester, address_of(&requester()));
}

#[test]
fn deposit_round_trip() {
    let split = split_new_file_key(2, 3).unwrap();
    let node = BoxSecretKey::generate().unwrap();
    let owner = SigningKey::from_slice(&[0x33; 32]).unwrap();
    let deposit = ShareDeposit::new(
        file(),
        split.shares.get(2).unwrap(),
        &node.public_key(),
        split.commitments.clone(),
        NOW,
    )
    .unwrap()
    .sign(&owner)
    .unwrap();
    let request = KeyRequest::Deposit(deposit);
    let decoded = decode_request(&encode_request(&request)).unwrap();
    assert_eq!(decoded, request);
    let KeyRequest::Deposit(deposit) = decoded else {
        panic!("not a deposit")
    };
    assert_eq!(
        deposit.verify(&file().domain(), NOW).unwrap(),
        address_of(&owner)
    );
    let (share, _) = ShamirShare::open_deposit(&node, deposit.deposit()).unwrap();
    assert_eq!(share.node_index(), 2);
}

#[test]
fn custodial_exchange_round_trip() {
    let vault = BoxSecretKey::generate().unwrap();
    let owner = SigningKey::from_slice(&[0x33; 32]).unwrap();
    let key = FileKey::generate().unwrap();
    let capsule = CustodialCapsule::new(&file(), vault.public_key(), &key);

    // The owner deposits K with the vault.
    let deposit = KeyDeposit::new(file(), &key, &vault.public_key(), NOW)
        .unwrap()
        .sign(&owner)
        .unwrap();
    let request = KeyRequest::KeyDeposit(deposit);
    let decoded = decode_request(&encode_request(&request)).unwrap();
    assert_eq!(decoded, request);
    let KeyRequest::KeyDeposit(deposit) = decoded else {
        panic!("not a key deposit")
    };
    assert_eq!(
        deposit.verify(&file().domain(), NOW).unwrap(),
        address_of(&owner)
    );
    let held = deposit.deposit().open_key(&vault).unwrap();
    assert!(capsule.matches(&file(), &held));

    // A reader asks; the vault answers with K sealed to the request.
    let (response_key, access) = access(Vec::new(), Scheme::Custodial);
    let KeyRequest::Access(access) = access else {
        panic!("not an access request")
    };
    let answer = KeyResponse::Key(SealedShare::seal(0, &access, held.as_bytes()).unwrap());
    let KeyResponse::Key(sealed) = decode_response(&encode_response(&answer)).unwrap() else {
        panic!("not a key release")
    };
    let opened = sealed.open(&response_key, &access.hash()).unwrap();
    let released = FileKey::from_slice(&opened).unwrap();
    assert!(capsule.matches(&file(), &released));

    // The owner shreds.
    let shred = Shred {
        file: file(),
        holder: vault.public_key(),
        issued_at: NOW,
    }
    .sign(&owner)
    .unwrap();
    let request = KeyRequest::Shred(shred);
    assert_eq!(decode_request(&encode_request(&request)).unwrap(), request);
}

#[test]
fn fail_custodial_messages_with_wrong_lengths() {
    let owner = SigningKey::from_slice(&[0x33; 32]).unwrap();
    let shred = Shred {
        file: file(),
        holder: BoxSecretKey::generate().unwrap().public_key(),
        issued_at: NOW,
    }
    .sign(&owner)
    .unwrap();
    let mut bytes = encode_request(&KeyRequest::Shred(shred));
    // Cut the last byte (of the signature): the length prefixes overrun, a decode error.
    bytes.pop();
    assert!(decode_request(&bytes).is_err());

    let sealed_too_long = KeyResponse::Key(SealedShare {
        node_index: 0,
        request_hash: B256::repeat_byte(1),
        sealed: vec![0; sealbox::MAX_BOX_LEN + 1],
    });
    assert!(decode_response(&encode_response(&sealed_too_long)).is_err());
}

#[test]
fn responses_round_trip() {
    let responses = [
        KeyResponse::Partial(SealedShare {
            node_index: 4,
            request_hash: B256::repeat_byte(1),
            sealed: vec![9; 96],
        }),
        KeyResponse::Share(SealedShare {
            node_index: 0,
            request_hash: B256::repeat_byte(2),
            sealed: vec![8; 80],
        }),
        KeyResponse::DepositAck(DepositAck {
            node_index: 3,
            file_id: B256::repeat_byte(3),
        }),
        KeyResponse::Key(SealedShare {
            node_index: 0,
            request_hash: B256::repeat_byte(4),
            sealed: vec![7; 80],
        }),
        KeyResponse::ShredAck(ShredAck {
            file_id: B256::repeat_byte(5),
            held: true,
        }),
        KeyResponse::Error(ErrorReply::new(ErrorCode::Shredded, "gone", 0)),
        KeyResponse::Error(ErrorReply::new(ErrorCode::RateLimited, "slow down", 30)),
    ];
    for response in responses {
        assert_eq!(
            decode_response(&encode_response(&response)).unwrap(),
            response
        );
    }
}

#[test]
fn error_reply_is_cut_and_maps_errors() {
    let long = "é".repeat(MAX_ERROR_MESSAGE_BYTES);
    let reply = ErrorReply::new(ErrorCode::Internal, long, 0);
    assert!(reply.message.len() <= MAX_ERROR_MESSAGE_BYTES);
    let reply = ErrorReply::from_error(&Error::RequestExpired {
        expires_at: 1,
        now: 2,
    });
    assert_eq!(reply.code, ErrorCode::Expired);
    assert!(reply.message.contains("expired"));
    assert_eq!(Error::BadSignature.error_code(), ErrorCode::BadSignature);
    assert_eq!(
        Error::CapsuleMismatch.error_code(),
        ErrorCode::CapsuleMismatch
    );
    assert_eq!(
        Error::MessageTooLarge { len: 1, max: 0 }.error_code(),
        ErrorCode::TooLarge
    );
}

// ----- limits and malformed input ------------------------------------------------------------

#[test]
fn fail_oversize_refused_before_decoding() {
    let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert!(matches!(
        decode_request(&big),
        Err(Error::MessageTooLarge { len, max: MAX_MESSAGE_BYTES }) if len == MAX_MESSAGE_BYTES + 1
    ));
    assert!(matches!(
        decode_response(&big),
        Err(Error::MessageTooLarge { .. })
    ));
}

#[test]
fn raw_valid_message_decodes() {
    // Guards the negative tests below: they fail for the field they change, not by accident.
    assert!(decode_request(&raw_request(raw::AccessRequest::valid())).is_ok());
}

#[test]
fn fail_wrong_field_lengths() {
    type Tamper = fn(&mut raw::AccessRequest);
    let cases: [(&str, Tamper); 6] = [
        ("registry address", |m| m.registry.push(0)),
        ("file id", |m| m.file_id.pop().map(drop).unwrap_or(())),
        ("X25519 public key", |m| m.response_key = vec![1; 33]),
        ("capsule hash", |m| m.capsule_hash.clear()),
        ("nonce", |m| m.nonce = vec![0; 16]),
        ("signature", |m| m.signature.truncate(64)),
    ];
    for (field, tamper) in cases {
        let mut msg = raw::AccessRequest::valid();
        tamper(&mut msg);
        match decode_request(&raw_request(msg)) {
            Err(Error::FieldLength { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: unexpected {other:?}"),
        }
    }
}

#[test]
fn fail_unknown_scheme_version_and_missing_body() {
    let mut msg = raw::AccessRequest::valid();
    msg.scheme = 7;
    assert!(matches!(
        decode_request(&raw_request(msg)),
        Err(Error::UnknownScheme { got: 7 })
    ));
    let mut msg = raw::AccessRequest::valid();
    msg.scheme = -1;
    assert!(matches!(
        decode_request(&raw_request(msg)),
        Err(Error::UnknownScheme { got: -1 })
    ));
    let v2 = raw::Request {
        version: 2,
        access: Some(raw::AccessRequest::valid()),
    };
    assert!(matches!(
        decode_request(&v2.encode_to_vec()),
        Err(Error::UnsupportedWireVersion {
            got: 2,
            supported: 1
        })
    ));
    let empty = raw::Request {
        version: 1,
        access: None,
    };
    assert!(matches!(
        decode_request(&empty.encode_to_vec()),
        Err(Error::MissingField { .. })
    ));
    assert!(matches!(
        decode_request(&[0xff, 0xff, 0xff]),
        Err(Error::WireDecode { .. })
    ));
}

// ----- sealed boxes --------------------------------------------------------------------------

#[test]
fn sealbox_round_trip() {
    let key = BoxSecretKey::generate().unwrap();
    for len in [0, 1, 32, 48, MAX_BOX_PLAINTEXT] {
        let plaintext = vec![0x5a; len];
        let sealed =
            sealbox::seal(&key.public_key(), BoxPurpose::Response, b"aad", &plaintext).unwrap();
        assert_eq!(sealed.len(), len + BOX_OVERHEAD);
        let opened = key.open(BoxPurpose::Response, b"aad", &sealed).unwrap();
        assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
    // Two boxes of the same plaintext differ (fresh ephemeral key each time).
    let a = sealbox::seal(&key.public_key(), BoxPurpose::Response, b"", b"x").unwrap();
    let b = sealbox::seal(&key.public_key(), BoxPurpose::Response, b"", b"x").unwrap();
    assert_ne!(a, b);
}

#[test]
fn fail_sealbox_wrong_key_aad_purpose_or_tampered() {
    let key = BoxSecretKey::generate().unwrap();
    let sealed = sealbox::seal(
        &key.public_key(),
        BoxPurpose::Response,
        b"request",
        b"secret",
    )
    .unwrap();
    let other = BoxSecretKey::generate().unwrap();
    assert!(matches!(
        other.open(BoxPurpose::Response, b"request", &sealed),
        Err(Error::BoxOpenFailed)
    ));
    assert!(matches!(
        key.open(BoxPurpose::Response, b"another request", &sealed),
        Err(Error::BoxOpenFailed)
    ));
    assert!(matches!(
        key.open(BoxPurpose::ShareDeposit, b"request", &sealed),
        Err(Error::BoxOpenFailed)
    ));
    for i in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x01;
        assert!(
            key.open(BoxPurpose::Response, b"request", &tampered)
                .is_err(),
            "bit flip at byte {i} not detected"
        );
    }
    assert!(matches!(
        key.open(
            BoxPurpose::Response,
            b"request",
            &sealed[..BOX_OVERHEAD - 1]
        ),
        Err(Error::BoxLength { .. })
    ));
    assert!(
        sealbox::seal(
            &key.public_key(),
            BoxPurpose::Response,
            b"",
            &vec![0; MAX_BOX_PLAINTEXT + 1]
        )
        .is_err()
    );
}

// ----- a whole exchange ----------------------------------------------------------------------

#[test]
fn bls_exchange_over_the_wire() {
    let (keys, shares) = deal_bls_key_set(2, 3).unwrap();
    let key = FileKey::generate().unwrap();
    let capsule = keys.encrypt_file_key(&file(), &key).unwrap();
    let (response_key, request) = access(capsule.to_bytes(), Scheme::Bls);
    let request_bytes = encode_request(&request);

    // Each node: decode, verify, decrypt its share, seal it, encode the response.
    let answers: Vec<Vec<u8>> = shares
        .iter()
        .map(|share| {
            let KeyRequest::Access(signed) = decode_request(&request_bytes).unwrap() else {
                panic!("not an access request")
            };
            signed.verify(&file().domain(), NOW + 1).unwrap();
            let capsule =
                zgvault_proto::threshold::BlsCapsule::from_bytes(signed.capsule()).unwrap();
            let partial = share.decrypt_share(&signed.request().file, &capsule);
            let sealed =
                SealedShare::seal(share.node_index(), &signed, partial.to_bytes().as_slice())
                    .unwrap();
            encode_response(&KeyResponse::Partial(sealed))
        })
        .collect();

    // The client: open each answer, verify, combine; node 1's answer is replayed as node 0's
    // second answer and node 2's is corrupted in transit.
    let KeyRequest::Access(signed) = &request else {
        unreachable!()
    };
    let mut combiner = keys.combiner(&file(), &capsule, 3);
    let mut corrupted = answers[2].clone();
    let last = corrupted.len() - 1;
    corrupted[last] ^= 1;
    for bytes in [&answers[0], &corrupted, &answers[1]] {
        let KeyResponse::Partial(sealed) = decode_response(bytes).unwrap() else {
            panic!("not a partial")
        };
        match sealed.open(&response_key, &signed.hash()) {
            Ok(partial) => {
                let _ = combiner.add(sealed.node_index, &partial);
            }
            Err(_) => combiner.report(
                sealed.node_index,
                zgvault_proto::threshold::CulpritReason::Unsealable,
            ),
        }
    }
    let recovered = combiner.finish().unwrap();
    assert_eq!(recovered.key, key);
    assert_eq!(recovered.culprits.len(), 1);
    assert_eq!(recovered.culprits[0].node_index, 2);

    // An answer to another request is refused before opening.
    let KeyResponse::Partial(sealed) = decode_response(&answers[0]).unwrap() else {
        unreachable!()
    };
    assert!(matches!(
        sealed.open(&response_key, &B256::repeat_byte(9)),
        Err(Error::RequestHashMismatch)
    ));
}

// ----- properties ----------------------------------------------------------------------------

fn arb_reply() -> impl Strategy<Value = KeyResponse> {
    prop_oneof![
        (
            any::<u32>(),
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(node_index, h, sealed)| KeyResponse::Partial(SealedShare {
                node_index,
                request_hash: B256::from(h),
                sealed,
            })),
        (
            any::<u32>(),
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(node_index, h, sealed)| KeyResponse::Share(SealedShare {
                node_index,
                request_hash: B256::from(h),
                sealed,
            })),
        (any::<u32>(), any::<[u8; 32]>()).prop_map(|(node_index, f)| KeyResponse::DepositAck(
            DepositAck {
                node_index,
                file_id: B256::from(f)
            }
        )),
        (
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(h, sealed)| KeyResponse::Key(SealedShare {
                node_index: 0,
                request_hash: B256::from(h),
                sealed,
            })),
        (any::<[u8; 32]>(), any::<bool>()).prop_map(|(f, held)| KeyResponse::ShredAck(ShredAck {
            file_id: B256::from(f),
            held,
        })),
        ("\\PC{0,300}", any::<u32>(), 0i32..20).prop_map(|(message, retry, code)| {
            KeyResponse::Error(ErrorReply::new(
                ErrorCode::try_from(code).unwrap_or(ErrorCode::Unspecified),
                message,
                retry,
            ))
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn response_round_trip(response in arb_reply()) {
        prop_assert_eq!(decode_response(&encode_response(&response)).unwrap(), response);
    }

    #[test]
    fn access_request_round_trip_prop(
        chain_id in any::<u64>(),
        registry in any::<[u8; 20]>(),
        file_id in any::<[u8; 32]>(),
        issued_at in 0u64..u64::MAX / 2,
        lifetime in 1u64..=300,
        at_block in any::<u64>(),
        capsule in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let file = FileRef { chain_id, registry: Address::from(registry), file_id: B256::from(file_id) };
        let response = BoxSecretKey::generate().unwrap();
        let scheme = if capsule.is_empty() { Scheme::Shamir } else { Scheme::Bls };
        let signed = AccessRequest::new(file, scheme, response.public_key(), &capsule, issued_at, lifetime, at_block)
            .unwrap()
            .sign(&requester(), capsule)
            .unwrap();
        let request = KeyRequest::Access(signed);
        prop_assert_eq!(decode_request(&encode_request(&request)).unwrap(), request);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_request(&bytes);
        let _ = decode_response(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_mutated_valid_messages(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (_, request) = access(Vec::new(), Scheme::Shamir);
        let mut bytes = encode_request(&request);
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        let _ = decode_request(&bytes);
        let _ = decode_response(&bytes);
    }
}

/// Security issue, finding 7: a relay moves node 1's sealed answer into node 0's reply. The
/// box is bound to the node that sealed it, so it does not open as node 0's answer, and node
/// 0 is not blamed for a share that fails to verify.
#[test]
fn fail_relayed_box_does_not_open_as_another_nodes_answer() {
    let (keys, shares) = deal_bls_key_set(2, 3).unwrap();
    let key = FileKey::generate().unwrap();
    let capsule = keys.encrypt_file_key(&file(), &key).unwrap();
    let (response_key, request) = access(capsule.to_bytes(), Scheme::Bls);
    let KeyRequest::Access(signed) = &request else {
        unreachable!()
    };
    let partial = shares[1].decrypt_share(&file(), &capsule);
    let honest = SealedShare::seal(1, signed, partial.to_bytes().as_slice()).unwrap();
    assert!(honest.open(&response_key, &signed.hash()).is_ok());
    let moved = SealedShare {
        node_index: 0,
        ..honest
    };
    assert!(matches!(
        moved.open(&response_key, &signed.hash()),
        Err(Error::BoxOpenFailed)
    ));
}

/// Security issue, item 7: a deposit's commitments (up to 256 curve points) are decoded only
/// after its signature and owner are checked, never while decoding the message: a forged
/// deposit full of junk points costs a node one signature recovery, not 256 decompressions.
#[test]
fn forged_deposit_commitments_are_not_decoded_with_the_message() {
    let split = split_new_file_key(2, 3).unwrap();
    let node = BoxSecretKey::generate().unwrap();
    let owner = SigningKey::from_slice(&[0x33; 32]).unwrap();
    let deposit = ShareDeposit::new(
        file(),
        split.shares.first().unwrap(),
        &node.public_key(),
        split.commitments.clone(),
        NOW,
    )
    .unwrap()
    .sign(&owner)
    .unwrap();
    let mut bytes = encode_request(&KeyRequest::Deposit(deposit));
    // Overwrite the commitments in place with non-points (x >= p), keeping every length.
    let real = split.commitments.to_bytes();
    let at = bytes
        .windows(real.len())
        .position(|w| w == real.as_slice())
        .unwrap();
    for chunk in bytes[at..at + real.len()].chunks_mut(33) {
        chunk[0] = 0x02;
        chunk[1..].fill(0xff);
    }
    let KeyRequest::Deposit(forged) = decode_request(&bytes).unwrap() else {
        panic!("not a deposit")
    };
    // The signature no longer covers the commitments: it recovers someone else.
    let signer = forged.verify(&file().domain(), NOW).unwrap();
    assert_ne!(signer, address_of(&owner));
    // Decoding the points is a separate, later step, and it fails.
    assert!(matches!(
        ShamirShare::open_deposit(&node, forged.deposit()),
        Err(Error::InvalidCommitments { .. })
    ));
}
