//! The command line of the web app, shared by `zgvault ui` (the CLI) and the `zgvault-ui`
//! binary, so both take the same flags.

use std::net::IpAddr;
use std::sync::Arc;

use crate::{Asker, ServeOptions};

/// Serves zgvault's web app on this computer's loopback address and opens the browser.
#[derive(Debug, Clone, clap::Args)]
pub struct UiArgs {
    /// The port [default: a free one].
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub port: u16,
    /// Only print the URL (with its session token); do not open a browser.
    #[arg(long)]
    pub no_open: bool,
    /// The loopback address to listen on (127.0.0.1 or ::1; nothing else is accepted).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,
    /// The network for a first run (devnet, galileo, mainnet) [default: the config's, else
    /// devnet].
    #[arg(long)]
    pub network: Option<String>,
}

impl UiArgs {
    /// What [`crate::serve`] takes, with `asker` behind the Ask panel.
    pub fn options(self, asker: Option<Arc<dyn Asker>>) -> ServeOptions {
        ServeOptions {
            ip: self.listen,
            port: self.port,
            open_browser: !self.no_open,
            network: self.network,
            asker,
        }
    }
}
