//! How every Kafka and ClickHouse client of authpulse is configured and
//! checked: one clap `Args` struct per server with its security options
//! (SASL, TLS, passwords), one function that builds or configures the
//! client from it, and a start-up check that fails within seconds naming
//! what is wrong (docs/security.md).

mod ch;
mod kafka;

use std::fmt;
use std::str::FromStr;

pub use ch::{check_clickhouse, ClickHouseOptions};
pub use clickhouse::Client as ClickHouseClient;
pub use kafka::{
    check_kafka, Compression, KafkaOptions, Property, SaslMechanism, SecurityProtocol,
};

/// A password or other secret: shown as `<redacted>` by `Debug`, has no
/// `Display`, so it cannot reach a log line or an error by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that hands it to a client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// What a connection check or a client build found wrong. Messages name the
/// server address and the option to look at; they never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Options that contradict each other or a file that cannot be read.
    #[error("{0}")]
    Config(String),
    /// Credentials refused by the server.
    #[error("{0}")]
    Auth(String),
    /// TLS handshake failed (certificate not trusted, wrong host, ...).
    #[error("{0}")]
    Tls(String),
    /// Nothing answered at the address.
    #[error("{0}")]
    Unreachable(String),
    /// Anything else the server answered.
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `url` without any `user:password@` part, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_never_shown() {
        let s: Secret = "hunter2".parse().unwrap();
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://bob:pw@ch.example:8443/x?y=1"),
            "https://ch.example:8443/x?y=1"
        );
        assert_eq!(redact_url("http://127.0.0.1:8123"), "http://127.0.0.1:8123");
    }
}
