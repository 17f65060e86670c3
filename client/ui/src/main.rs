//! `zgvault-ui`: the web app on its own, with the flags of `zgvault ui` (the CLI's
//! subcommand calls the same [`zgvault_ui::serve`]). The UI's tests run this binary: a
//! test of this crate can start only this crate's binaries.

use clap::Parser;

/// Serves zgvault's web app on this computer's loopback address and opens the browser.
#[derive(Debug, Parser)]
#[command(name = "zgvault-ui", version)]
struct Cli {
    #[command(flatten)]
    args: zgvault_ui::UiArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    zgvault_ui::serve(cli.args.options(None)).await?;
    Ok(())
}
