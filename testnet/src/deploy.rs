//! Deploying every contract the devnet needs, in dependency order.

use alloy::network::EthereumWallet;
use alloy::primitives::U256;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use zgvault_contracts::{
    AccessPass, FileRegistry, FixedPriceMarket, Flow, NodeRegistry, TestMultiToken, TestNFT,
    TestToken,
};

use crate::devnet::parse_url;
use crate::error::{Error, Result};
use crate::manifest::Contracts;

/// 0G testnet "turbo" price per 256-byte sector (about 0.13 OG per GiB), so fees on the
/// devnet look like fees on the real network.
pub const DEFAULT_PRICE_PER_SECTOR: u64 = 30_733_644_962;
/// Blocks per 0G flow epoch on the devnet.
pub const DEFAULT_BLOCKS_PER_EPOCH: u64 = 100;

/// Knobs for [`deploy_all`].
#[derive(Debug, Clone)]
pub struct DeployConfig {
    pub price_per_sector: U256,
    pub blocks_per_epoch: u64,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            price_per_sector: U256::from(DEFAULT_PRICE_PER_SECTOR),
            blocks_per_epoch: DEFAULT_BLOCKS_PER_EPOCH,
        }
    }
}

/// What [`deploy_all`] deployed.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub contracts: Contracts,
    pub price_per_sector: U256,
    /// The block of the first deployment: where log scans can start.
    pub first_block: u64,
}

/// Deploys Market, Flow, FileRegistry, AccessPass, NodeRegistry and the three test tokens
/// from `deployer`, who becomes the admin of every contract that has one.
pub async fn deploy_all(
    rpc_url: &str,
    deployer: PrivateKeySigner,
    config: &DeployConfig,
) -> Result<Deployed> {
    let admin = deployer.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(deployer))
        .connect_http(parse_url(rpc_url)?.expose().clone());
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e: alloy::contract::Error| Error::chain(rpc_url, format!("deploying {what}"), e)
    };
    let first_block = provider
        .get_block_number()
        .await
        .map_err(|e| Error::chain(rpc_url, "eth_blockNumber", e))?
        + 1;

    let market = FixedPriceMarket::deploy(&provider, config.price_per_sector)
        .await
        .map_err(fail("FixedPriceMarket"))?;
    let flow = Flow::deploy(
        &provider,
        *market.address(),
        U256::from(config.blocks_per_epoch),
    )
    .await
    .map_err(fail("Flow"))?;
    let registry = FileRegistry::deploy(&provider)
        .await
        .map_err(fail("FileRegistry"))?;
    let pass = AccessPass::deploy(&provider, *registry.address())
        .await
        .map_err(fail("AccessPass"))?;
    let nodes = NodeRegistry::deploy(&provider, admin)
        .await
        .map_err(fail("NodeRegistry"))?;
    let token = TestToken::deploy(&provider, "zgvault test token".into(), "ZGT".into())
        .await
        .map_err(fail("TestToken"))?;
    let multi = TestMultiToken::deploy(&provider, "https://zgvault.invalid/{id}.json".into())
        .await
        .map_err(fail("TestMultiToken"))?;
    let nft = TestNFT::deploy(&provider, "zgvault test NFT".into(), "ZGNFT".into())
        .await
        .map_err(fail("TestNFT"))?;

    Ok(Deployed {
        contracts: Contracts {
            flow: *flow.address(),
            market: *market.address(),
            file_registry: *registry.address(),
            access_pass: *pass.address(),
            node_registry: *nodes.address(),
            test_token: *token.address(),
            test_multi_token: *multi.address(),
            test_nft: *nft.address(),
        },
        price_per_sector: config.price_per_sector,
        first_block,
    })
}
