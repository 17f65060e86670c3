//! `AlloyChain` and the whole gate against a real FileRegistry on a loopback anvil.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;

use alloy::{
    network::EthereumWallet,
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use alloy_primitives::{Address, B256, U256, keccak256};
use common::anvil::start_anvil;
use k256::ecdsa::SigningKey;
use zgvault_contracts::{FileRegistry, REASON_NO_POLICY, SCHEME_BLS, file_id};
use zgvault_devsupport::{DeployConfig, deploy_all};
use zgvault_node::{AlloyChain, Chain, Error, KeyService, NodeKeys, Origin, ShareStore};
use zgvault_proto::{
    FileKey,
    request::{AccessRequest, FileRef, Scheme},
    sealbox::BoxSecretKey,
    threshold::deal_bls_key_set,
    wire::{ErrorCode, KeyRequest, KeyResponse, decode_response, encode_request},
};

/// anvil's first default dev account (public knowledge; a test key only).
const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

#[tokio::test]
async fn alloy_chain_and_gate_against_a_real_registry() {
    let anvil = start_anvil();
    let rpc = anvil.rpc_url().to_owned();
    let owner: PrivateKeySigner = ANVIL_KEY_0.parse().unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(owner.clone()))
        .connect_http(rpc.parse().unwrap());
    let deployed = deploy_all(&rpc, owner.clone(), &DeployConfig::default())
        .await
        .unwrap();
    let registry = FileRegistry::new(deployed.contracts.file_registry, &provider);
    let before = provider.get_block_number().await.unwrap();

    let (key_set, shares) = deal_bls_key_set(2, 3).unwrap();
    let salt = B256::repeat_byte(5);
    let id = file_id(owner.address(), salt);
    let file = FileRef {
        chain_id: 31337,
        registry: *registry.address(),
        file_id: id,
    };
    let capsule = key_set
        .encrypt_file_key(&file, &FileKey::generate().unwrap())
        .unwrap();
    let registration = FileRegistry::Registration {
        rootHash: B256::repeat_byte(9),
        txSeq: U256::from(1),
        size: U256::from(100),
        scheme: SCHEME_BLS,
        capsule: capsule.to_bytes().into(),
        notBefore: 0,
        notAfter: 0,
        policy: Vec::new(),
    };
    registry
        .register(salt, registration)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();

    // The chain reads, at a block.
    let chain = AlloyChain::new(&rpc.parse().unwrap(), *registry.address()).unwrap();
    assert_eq!(chain.chain_id().await.unwrap(), 31337);
    let head = chain.head().await.unwrap();
    let record = chain.file(id, Some(head)).await.unwrap().unwrap();
    assert_eq!(record.owner, owner.address());
    assert_eq!(record.scheme, SCHEME_BLS);
    assert_eq!(record.capsule_hash, keccak256(capsule.to_bytes()));
    assert_eq!(
        chain.file(id, Some(before)).await.unwrap(),
        None,
        "not registered yet then"
    );
    assert_eq!(
        chain.file(B256::repeat_byte(0xee), None).await.unwrap(),
        None
    );
    assert!(chain.can_access(id, owner.address(), head).await.unwrap());
    let stranger = Address::repeat_byte(0x42);
    assert!(!chain.can_access(id, stranger, head).await.unwrap());
    assert_eq!(
        chain.access_check(id, stranger, head).await.unwrap(),
        (false, REASON_NO_POLICY)
    );
    // No contract at the address: a failure, never "unknown file".
    let wrong = AlloyChain::new(&rpc.parse().unwrap(), Address::repeat_byte(0x77)).unwrap();
    assert!(matches!(
        wrong.file(id, None).await,
        Err(Error::Chain { .. })
    ));
    let down =
        AlloyChain::new(&"http://127.0.0.1:1".parse().unwrap(), *registry.address()).unwrap();
    assert!(matches!(down.head().await, Err(Error::Chain { .. })));

    // The whole gate with the real chain: the owner gets a partial, a stranger is refused.
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::default_config(dir.path());
    config.chain.file_registry = *registry.address();
    let keys = NodeKeys::load_or_create(dir.path()).unwrap();
    let store = ShareStore::open(dir.path(), &keys.store).unwrap();
    store.put_bls_share(&shares[1]).unwrap();
    let service = KeyService::new(&config, keys, store, Arc::new(chain)).unwrap();
    let origin = Origin {
        transport: "http",
        id: "127.0.0.1".into(),
    };
    let ask = |wallet: SigningKey| {
        let response_key = BoxSecretKey::generate().unwrap();
        let request = AccessRequest::new(
            file,
            Scheme::Bls,
            response_key.public_key(),
            &capsule.to_bytes(),
            common::now(),
            120,
            head,
        )
        .unwrap()
        .sign(&wallet, capsule.to_bytes())
        .unwrap();
        (response_key, request)
    };
    let (response_key, request) = ask(SigningKey::from_slice(&owner.to_bytes()[..]).unwrap());
    let bytes = encode_request(&KeyRequest::Access(request.clone()));
    let KeyResponse::Partial(sealed) =
        decode_response(&service.handle(origin.clone(), &bytes).await).unwrap()
    else {
        panic!("the owner must get a partial");
    };
    assert_eq!(sealed.node_index, 1);
    let partial = sealed.open(&response_key, &request.hash()).unwrap();
    key_set
        .combiner(&file, &capsule, 3)
        .add(1, &partial)
        .unwrap();

    let (_, request) = ask(SigningKey::from_slice(&[0x42; 32]).unwrap());
    let bytes = encode_request(&KeyRequest::Access(request));
    let answer = decode_response(&service.handle(origin, &bytes).await).unwrap();
    let KeyResponse::Error(reply) = answer else {
        panic!("a stranger must be refused: {answer:?}");
    };
    assert_eq!(reply.code, ErrorCode::AccessDenied);
    assert!(
        reply.message.contains("ask the owner to add you"),
        "{}",
        reply.message
    );
}
