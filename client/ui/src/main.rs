//! `zgvault-ui`: the web app on its own, until the CLI's `zgvault ui` calls
//! [`zgvault_ui::serve`] (the CLI moves to its own crate first: it cannot depend on this
//! one while this one depends on the SDK package the CLI lives in).

use std::net::IpAddr;

use clap::Parser;

/// Serves zgvault's web app on this computer's loopback address and opens the browser.
#[derive(Debug, Parser)]
#[command(name = "zgvault-ui", version)]
struct Args {
    /// The port [default: a free one].
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Only print the URL (with its session token); do not open a browser.
    #[arg(long)]
    no_open: bool,
    /// The loopback address to listen on (127.0.0.1 or ::1; nothing else is accepted).
    #[arg(long, default_value = "127.0.0.1")]
    listen: IpAddr,
    /// The network for a first run (devnet, galileo, mainnet) [default: the config's, else
    /// devnet].
    #[arg(long)]
    network: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    zgvault_ui::serve(zgvault_ui::ServeOptions {
        ip: args.listen,
        port: args.port,
        open_browser: !args.no_open,
        network: args.network,
        asker: None,
    })
    .await?;
    Ok(())
}
