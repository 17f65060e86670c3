//! The deployed devnet contracts used through the alloy bindings: the 0G calldata vector
//! accepted by the Flow as raw bytes, a file registered and gated by `canAccess`, a
//! NodeRegistry epoch installed, a vault listed and retired. (Every rule in detail is in the forge tests.)

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256, hex};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use zgvault_contracts::{
    AccessPass, FileRegistry, FixedPriceMarket, Flow, NodeRegistry, REASON_OK_POLICY,
    REASON_POLICY_NOT_MET, REASON_UNKNOWN_FILE, SCHEME_BLS, TestToken, file_id, policy,
};
use zgvault_testnet::{Devnet, DevnetConfig};

/// shared/reference/0g-extra-vectors.json -> calldata[1].newAbiCalldata (1 048 577 bytes).
const VECTOR_CALLDATA: &str = "bc8c11f8000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000400000000000000000000000001111111111111111111111111111111111111111000000000000000000000000000000000000000000000000000000000010000100000000000000000000000000000000000000000000000000000000000000600000000000000000000000000000000000000000000000000000000000000080000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000022da75c6cfe571cd2ccc50628a4b6ec98db45de3d504331e844a29659553cf3c1000000000000000000000000000000000000000000000000000000000000000cd4bf27aee7f9e835f3770d1c5a5c9835bcc242ab55f8bf51e0a046d7ef35d8760000000000000000000000000000000000000000000000000000000000000009";

#[tokio::test]
async fn deployed_contracts_work_through_the_bindings() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = DevnetConfig::new(dir.path());
    config.storage_nodes = 0;
    config.nodes = 0; // this test installs the first NodeRegistry epoch itself
    let devnet = Devnet::start(&config).await?;
    let signer = devnet.signer("deployer")?;
    let me = signer.address();
    let provider = ProviderBuilder::new()
        .wallet(signer)
        .connect_http(devnet.rpc_url().parse()?);

    // --- Flow + market: the 0G calldata vector is accepted as-is --------------------------
    let c = &devnet.manifest().contracts;
    let price = devnet.manifest().price_per_sector;
    let market = FixedPriceMarket::new(c.market, &provider);
    let flow = Flow::new(c.flow, &provider);
    assert_eq!(flow.market().call().await?, *market.address());
    assert_eq!(market.pricePerSector().call().await?, price);
    let tx = TransactionRequest::default()
        .with_to(*flow.address())
        .with_input(Bytes::from(hex::decode(VECTOR_CALLDATA)?))
        .with_value(U256::from(4608) * price);
    let receipt = provider.send_transaction(tx).await?.get_receipt().await?;
    assert!(receipt.status());
    let submit = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<Flow::Submit>().ok())
        .ok_or_else(|| anyhow::anyhow!("no Submit event"))?;
    let ev = submit.inner.data;
    assert_eq!(ev.sender, Address::repeat_byte(0x11));
    assert_eq!(ev.submissionIndex, U256::ZERO);
    assert_eq!(ev.startPos, U256::from(4096));
    assert_eq!(ev.length, U256::from(4608));
    assert_eq!(ev.submission.length, U256::from(1_048_577));
    assert_eq!(ev.submission.nodes.len(), 2);
    let mut roots = Vec::new();
    for n in &ev.submission.nodes {
        roots.extend_from_slice(n.root.as_slice());
    }
    assert_eq!(ev.identity, alloy::primitives::keccak256(&roots));
    assert_eq!(flow.numSubmissions().call().await?, U256::from(1));
    assert_eq!(
        provider.get_balance(*market.address()).await?,
        U256::from(4608) * price
    );

    // --- FileRegistry + AccessPass + ERC-20 gate ----------------------------------------------
    let registry = FileRegistry::new(c.file_registry, &provider);
    let pass = AccessPass::new(c.access_pass, &provider);
    let token = TestToken::new(c.test_token, &provider);
    let salt = B256::repeat_byte(7);
    let reg = FileRegistry::Registration {
        rootHash: B256::repeat_byte(1),
        txSeq: ev.submissionIndex,
        size: ev.submission.length,
        scheme: SCHEME_BLS,
        capsule: Bytes::from_static(b"capsule"),
        notBefore: 0,
        notAfter: 0,
        policy: vec![
            vec![policy::erc20(*token.address(), U256::from(5))],
            vec![policy::access_pass(*pass.address())],
        ],
    };
    let r = registry
        .register(salt, reg)
        .send()
        .await?
        .get_receipt()
        .await?;
    assert!(r.status());
    let id = file_id(me, salt);
    assert_eq!(registry.fileIdFor(me, salt).call().await?, id);
    let info = registry.getFile(id).call().await?;
    assert_eq!(info.owner, me);
    assert_eq!(info.capsuleHash, alloy::primitives::keccak256(b"capsule"));
    assert_eq!(registry.policyOf(id).call().await?.len(), 2);

    let user = Address::repeat_byte(0x42);
    let check = registry.accessCheck(id, user).call().await?;
    assert!(!check.ok);
    assert_eq!(check.reason, REASON_POLICY_NOT_MET);
    token
        .mint(user, U256::from(5))
        .send()
        .await?
        .get_receipt()
        .await?;
    assert!(registry.canAccess(id, user).call().await?);
    let check = registry.accessCheck(id, user).call().await?;
    assert_eq!(check.reason, REASON_OK_POLICY);
    let unknown = registry.accessCheck(B256::ZERO, user).call().await?;
    assert_eq!(unknown.reason, REASON_UNKNOWN_FILE);

    let other = Address::repeat_byte(0x43);
    pass.mint(id, other).send().await?.get_receipt().await?;
    assert!(pass.hasPass(id, other).call().await?);
    assert!(registry.canAccess(id, other).call().await?);

    // --- NodeRegistry ----------------------------------------------------------------------
    let nodes = NodeRegistry::new(c.node_registry, &provider);
    let members: Vec<NodeRegistry::Member> = (0u8..3)
        .map(|i| NodeRegistry::Member {
            peerId: Bytes::from(vec![0x00, 0x24, i]),
            multiaddrs: vec![format!("/ip4/127.0.0.1/tcp/{}", 4001 + u16::from(i))],
            encKey: B256::repeat_byte(i + 1),
            blsPublicKeyShare: Bytes::from(vec![i; 48]),
            operator: Address::repeat_byte(i + 0x60),
        })
        .collect();
    let r = nodes
        .setEpoch(1, 2, members.clone(), Bytes::from_static(&[0xab; 96]))
        .send()
        .await?
        .get_receipt()
        .await?;
    assert!(r.status());
    let state = nodes.state().call().await?;
    assert_eq!(state.epoch_, 1);
    assert_eq!(state.threshold_, 2);
    assert_eq!(state.members_, members);
    assert_eq!(state.publicKeySet_.len(), 96);

    // A custodial vault listed, then retired (this devnet starts none of its own).
    let key = B256::repeat_byte(0x77);
    assert!(!nodes.isVault(key).call().await?);
    assert_eq!(nodes.vault(key).call().await?.encryptionKey, B256::ZERO);
    let r = nodes
        .registerVault(key, "http://127.0.0.1:7000".into())
        .send()
        .await?
        .get_receipt()
        .await?;
    assert!(r.status());
    assert!(nodes.isVault(key).call().await?);
    let entry = nodes.vault(key).call().await?;
    assert_eq!(entry.url, "http://127.0.0.1:7000");
    assert_eq!(entry.registeredAt, r.block_number.unwrap());
    assert_eq!(entry.retiredAt, 0);
    nodes.retireVault(key).send().await?.get_receipt().await?;
    assert!(!nodes.isVault(key).call().await?);
    let listed = nodes.vaults().call().await?;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].retiredAt >= entry.registeredAt);
    devnet.stop()?;
    Ok(())
}
