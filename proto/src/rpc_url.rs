//! An RPC endpoint URL whose credentials never reach a message. Providers put API keys in
//! the URL: in its user info (`https://user:key@host`), its query (`?apikey=…`) or a path
//! segment (Infura's `/v3/<key>`, Alchemy's `/v2/<key>`). [`RpcUrl`] shows all of those
//! redacted in `Display`, `Debug` and the errors built from it; only [`RpcUrl::expose`]
//! gives the full URL, for the HTTP client that connects to it. `Serialize` writes the full
//! URL too, so that config files and manifests keep working: serialize it only into files
//! that stay on the user's device, never into output.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// What stands in for a credential.
const REDACTED: &str = "<redacted>";
/// The shortest path segment treated as a key (Infura's are 32 hex digits, Alchemy's 32
/// characters); shorter ones (`v3`, `rpc`, `evm`) are names.
const MIN_KEY_SEGMENT: usize = 16;

/// An HTTP(S) RPC URL, redacted wherever it is shown.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RpcUrl(url::Url);

impl RpcUrl {
    /// Parses `text` as an `http` or `https` URL.
    pub fn parse(text: &str) -> Result<RpcUrl> {
        let url = url::Url::parse(text.trim()).map_err(|source| Error::RpcUrl { source })?;
        match url.scheme() {
            "http" | "https" => Ok(RpcUrl(url)),
            other => Err(Error::RpcUrlScheme {
                scheme: other.to_owned(),
            }),
        }
    }

    /// The full URL, credentials included: for the HTTP client only, never for messages.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// The URL with its credentials replaced by `<redacted>`.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let mut out = format!("{}://", url.scheme());
        if !url.username().is_empty() || url.password().is_some() {
            out.push_str(REDACTED);
            out.push('@');
        }
        if let Some(host) = url.host_str() {
            out.push_str(host);
        }
        if let Some(port) = url.port() {
            out.push_str(&format!(":{port}"));
        }
        let path = url
            .path()
            .split('/')
            .map(|segment| match looks_like_key(segment) {
                true => REDACTED,
                false => segment,
            })
            .collect::<Vec<_>>()
            .join("/");
        out.push_str(&path);
        if let Some(query) = url.query() {
            let pairs = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) => format!("{name}={REDACTED}"),
                    None => REDACTED.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("&");
            out.push('?');
            out.push_str(&pairs);
        }
        if url.fragment().is_some() {
            out.push('#');
            out.push_str(REDACTED);
        }
        out
    }
}

/// A path segment that is an API key rather than a name: long, of key characters, with
/// a digit in it.
fn looks_like_key(segment: &str) -> bool {
    segment.len() >= MIN_KEY_SEGMENT
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && segment.chars().any(|c| c.is_ascii_digit())
}

impl FromStr for RpcUrl {
    type Err = Error;

    fn from_str(text: &str) -> Result<RpcUrl> {
        RpcUrl::parse(text)
    }
}

impl fmt::Display for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RpcUrl({})", self.redacted())
    }
}

impl serde::Serialize for RpcUrl {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RpcUrl {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        RpcUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &str = "9aa3d95b3bc440fa88ea12eaa4456161";

    fn shown(url: &RpcUrl) -> [String; 2] {
        [url.to_string(), format!("{url:?}")]
    }

    #[test]
    fn fail_credentials_never_show() {
        for (text, expected) in [
            (
                format!("https://mainnet.infura.io/v3/{KEY}"),
                "https://mainnet.infura.io/v3/<redacted>",
            ),
            (
                format!("https://eth-mainnet.g.alchemy.com/v2/{KEY}"),
                "https://eth-mainnet.g.alchemy.com/v2/<redacted>",
            ),
            (
                format!("https://rpc.example.org/?apikey={KEY}&chain=1"),
                "https://rpc.example.org/?apikey=<redacted>&chain=<redacted>",
            ),
            (
                format!("https://user:{KEY}@rpc.example.org:8545/evm"),
                "https://<redacted>@rpc.example.org:8545/evm",
            ),
            (
                format!("https://x.quiknode.pro/{KEY}/#{KEY}"),
                "https://x.quiknode.pro/<redacted>/#<redacted>",
            ),
        ] {
            let url = RpcUrl::parse(&text).unwrap();
            for s in shown(&url) {
                assert!(!s.contains(KEY), "{s}");
                assert!(s.contains(expected), "{s} lacks {expected}");
            }
            assert_eq!(url.expose().as_str(), text, "the client gets all of it");
        }
    }

    #[test]
    fn urls_without_credentials_show_as_they_are() {
        for text in [
            "http://127.0.0.1:8545/",
            "https://evmrpc-testnet.0g.ai/",
            "https://rpc.ankr.com/eth",
        ] {
            let url = RpcUrl::parse(text).unwrap();
            assert_eq!(url.to_string(), text);
        }
    }

    #[test]
    fn fail_bad_urls_are_refused_without_repeating_them() {
        let err = RpcUrl::parse(&format!("{KEY}:not a url"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains(KEY), "{err}");
        let err = RpcUrl::parse(&format!("ws://h/{KEY}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ws://") && !err.contains(KEY), "{err}");
        assert!(RpcUrl::parse("not a url").is_err());
    }

    #[test]
    fn serde_keeps_the_full_url_for_config_files() {
        let url = RpcUrl::parse(&format!("https://mainnet.infura.io/v3/{KEY}")).unwrap();
        let json = serde_json::to_string(&url).unwrap();
        assert!(json.contains(KEY));
        assert_eq!(serde_json::from_str::<RpcUrl>(&json).unwrap(), url);
        let err = serde_json::from_str::<RpcUrl>(&format!("\"ftp://h/{KEY}\"")).unwrap_err();
        assert!(!err.to_string().contains(KEY), "{err}");
    }
}
