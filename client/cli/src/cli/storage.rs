//! `zgvault storage upload|download`: raw 0G Storage transfers (no encryption, no
//! registry), for scripts and for checking a network. `put`/`get` build on the same code.

use std::io::IsTerminal;
use std::path::PathBuf;

use alloy::primitives::B256;
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use zgvault_client::network::Network;
use zgvault_client::storage::{DownloadOptions, UploadOptions, download_file, upload_file};
use zgvault_client::zg::RootHasher;

/// Environment variable holding the uploader's private key (hex), until `zgvault init`
/// keystores exist.
pub(crate) const PRIVATE_KEY_ENV: &str = "ZGVAULT_PRIVATE_KEY";

#[derive(Debug, clap::Subcommand)]
pub(crate) enum StorageCommand {
    /// Upload a file to 0G Storage as it is: pay the Flow fee, send every segment, wait
    /// for finality. Signs with the key in $ZGVAULT_PRIVATE_KEY.
    Upload {
        file: PathBuf,
        #[command(flatten)]
        net: NetArgs,
        /// A journal file, so an interrupted upload resumes where it stopped.
        #[arg(long)]
        journal: Option<PathBuf>,
    },
    /// Download a file from 0G Storage by root hash, verifying every segment's proof.
    Download {
        root: B256,
        /// Where to write it.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        net: NetArgs,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct NetArgs {
    /// devnet (from its manifest), galileo, galileo-standard, mainnet or mainnet-standard.
    #[arg(long, default_value = "devnet")]
    network: String,
    /// The devnet manifest [default: $ZGVAULT_DEVNET_DIR/manifest.json, else
    /// ~/.local/state/zgvault/devnet/manifest.json].
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Override the chain RPC URL.
    #[arg(long)]
    rpc: Option<zgvault_proto::RpcUrl>,
    /// Use these storage nodes instead of asking the indexer (repeat).
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl NetArgs {
    fn network(&self) -> anyhow::Result<Network> {
        let mut net = if self.network == "devnet" {
            let path = self
                .manifest
                .clone()
                .unwrap_or_else(zgvault_client::account::default_manifest);
            Network::from_devnet(&path)?
        } else {
            Network::builtin(&self.network).ok_or_else(|| {
                zgvault_client::Error::UnknownNetwork {
                    name: self.network.clone(),
                }
            })?
        };
        if let Some(rpc) = &self.rpc {
            net.rpc_url = rpc.clone();
        }
        if !self.nodes.is_empty() {
            net.storage_nodes = self.nodes.clone();
        }
        Ok(net)
    }
}

pub(crate) fn run(cmd: StorageCommand) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        match cmd {
            StorageCommand::Upload { file, net, journal } => upload(file, net, journal).await,
            StorageCommand::Download { root, output, net } => download(root, output, net).await,
        }
    })
}

async fn upload(file: PathBuf, net: NetArgs, journal: Option<PathBuf>) -> anyhow::Result<()> {
    let key = std::env::var(PRIVATE_KEY_ENV).map_err(|_| {
        anyhow::anyhow!(
            "set {PRIVATE_KEY_ENV} to the hex private key that pays for the upload \
             (on the devnet: `zgvault-testnet manifest` lists funded keys)"
        )
    })?;
    let signer: PrivateKeySigner = key
        .trim()
        .parse()
        .with_context(|| format!("{PRIVATE_KEY_ENV} is not a private key"))?;
    let me = signer.address();
    let meta = std::fs::metadata(&file)
        .with_context(|| format!("cannot read {}: check that the file exists", file.display()))?;
    if meta.is_dir() {
        bail!("{} is a directory: pass a file", file.display());
    }
    let connected = net.network()?.connect().await?;

    let bar = bar(meta.len(), "hashing", net.json);
    let root = {
        let mut h = RootHasher::new();
        let mut f = std::fs::File::open(&file)
            .with_context(|| format!("cannot open {}", file.display()))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf)
                .with_context(|| format!("cannot read {}", file.display()))?;
            if n == 0 {
                break;
            }
            h.update(buf.get(..n).unwrap_or_default())?;
            bar.inc(n as u64);
        }
        h.finish()?
    };
    bar.reset();
    bar.set_length(root.layout().segments_uploaded());
    bar.set_message("uploading segments");
    let provider = ProviderBuilder::new()
        .wallet(signer)
        .connect_http(connected.network.rpc_url.expose().clone());
    let opts = UploadOptions {
        journal,
        ..UploadOptions::default()
    };
    let receipt = upload_file(
        &provider,
        connected.flow,
        me,
        &connected.nodes,
        &file,
        &root,
        &opts,
        &|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )
    .await?;
    bar.finish_and_clear();
    if net.json {
        let out = json!({
            "rootHash": receipt.root,
            "txHash": receipt.tx_hash,
            "txSeq": receipt.tx_seq,
            "feeWei": receipt.fee.to_string(),
            "size": root.size(),
            "segmentsSent": receipt.segments_sent,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("rootHash  {}", receipt.root);
        match receipt.tx_hash {
            Some(tx) => println!("tx        {tx} (txSeq {})", receipt.tx_seq),
            None => println!(
                "tx        none sent: already on the network (txSeq {})",
                receipt.tx_seq
            ),
        }
        println!("fee       {} wei", receipt.fee);
    }
    Ok(())
}

async fn download(root: B256, output: PathBuf, net: NetArgs) -> anyhow::Result<()> {
    if output.exists() {
        bail!("{} exists: pick another --output", output.display());
    }
    let connected = net.network()?.connect().await?;
    let bar = bar(0, "downloading segments", net.json);
    let report = download_file(
        &connected.nodes,
        root,
        &output,
        &DownloadOptions::default(),
        &|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )
    .await?;
    bar.finish_and_clear();
    if net.json {
        let bad: Vec<_> = report
            .bad_nodes
            .iter()
            .map(|(u, why)| json!({"node": u, "error": why}))
            .collect();
        let out =
            json!({"output": output, "size": report.size, "txSeq": report.tx_seq, "badNodes": bad});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "downloaded {} bytes to {} (verified)",
            report.size,
            output.display()
        );
        for (url, why) in &report.bad_nodes {
            eprintln!("warning: node {url} failed and was skipped: {why}");
        }
    }
    Ok(())
}

fn bar(len: u64, msg: &'static str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} eta {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(msg);
    bar
}
