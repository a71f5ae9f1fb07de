//! ClickHouse: the one builder of every ClickHouse client of authpulse
//! (user, password, HTTPS with a CA file) and the start-up check.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use crate::{redact_url, Error, Result, Secret};

/// Credentials and TLS trust of the ClickHouse HTTP interface. Unset: the
/// `default` user without a password, as before.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct ClickHouseOptions {
    /// ClickHouse user (default: `default`).
    #[arg(
        id = "clickhouse_user",
        long = "clickhouse-user",
        env = "AUTHPULSE_CLICKHOUSE_USER"
    )]
    pub user: Option<String>,
    /// ClickHouse password (prefer the environment variable: a flag shows in `ps`).
    #[arg(
        id = "clickhouse_password",
        long = "clickhouse-password",
        env = "AUTHPULSE_CLICKHOUSE_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<Secret>,
    /// PEM file of the CA(s) that signed the server certificate, for https://
    /// URLs (default: the system's trusted CAs).
    #[arg(
        id = "clickhouse_ca",
        long = "clickhouse-ca",
        env = "AUTHPULSE_CLICKHOUSE_CA"
    )]
    pub ca: Option<PathBuf>,
    /// Seconds the start-up check (and each new connection) waits for
    /// ClickHouse to answer.
    #[arg(
        id = "clickhouse_connect_timeout_secs",
        long = "clickhouse-connect-timeout-secs",
        env = "AUTHPULSE_CLICKHOUSE_CONNECT_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub connect_timeout_secs: u64,
}

impl Default for ClickHouseOptions {
    fn default() -> Self {
        ClickHouseOptions {
            user: None,
            password: None,
            ca: None,
            connect_timeout_secs: 10,
        }
    }
}

/// Same idle timeout as the crate's default client: below the server's
/// keep-alive timeout (3 s on older servers), so a pooled connection is not
/// reused just as the server closes it.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

impl ClickHouseOptions {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.max(1))
    }

    /// These options as the environment variables that set them, for a
    /// child `authpulse` process.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![(
            "AUTHPULSE_CLICKHOUSE_CONNECT_TIMEOUT_SECS",
            self.connect_timeout_secs.to_string(),
        )];
        if let Some(u) = &self.user {
            env.push(("AUTHPULSE_CLICKHOUSE_USER", u.clone()));
        }
        if let Some(p) = &self.password {
            env.push(("AUTHPULSE_CLICKHOUSE_PASSWORD", p.expose().into()));
        }
        if let Some(ca) = &self.ca {
            env.push(("AUTHPULSE_CLICKHOUSE_CA", ca.to_string_lossy().into()));
        }
        env
    }

    /// A client for `url` (http:// or https://) with these credentials; no
    /// database selected. The CA file is read here, so a missing or invalid
    /// one fails at start.
    pub fn client(&self, url: &str) -> Result<clickhouse::Client> {
        let https = url.starts_with("https://");
        if !https && !url.starts_with("http://") {
            return Err(Error::Config(format!(
                "ClickHouse URL {} must start with http:// or https://",
                redact_url(url)
            )));
        }
        let mut tls = native_tls::TlsConnector::builder();
        if let Some(ca) = &self.ca {
            if !https {
                return Err(Error::Config(format!(
                    "--clickhouse-ca is for https:// URLs, not {}",
                    redact_url(url)
                )));
            }
            // The given CAs replace the system's: the server must be signed
            // by one of them.
            tls.disable_built_in_roots(true);
            for cert in read_pem_certs(ca)? {
                tls.add_root_certificate(cert);
            }
        }
        let tls = tls
            .build()
            .map_err(|e| Error::Config(format!("TLS setup for ClickHouse: {e}")))?;
        let mut http = HttpConnector::new();
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.set_connect_timeout(Some(self.connect_timeout()));
        http.enforce_http(false);
        let connector = hyper_tls::HttpsConnector::from((http, tls.into()));
        let hyper = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        let mut client = clickhouse::Client::with_http_client(hyper).with_url(url);
        if let Some(user) = &self.user {
            client = client.with_user(user);
        }
        if let Some(password) = &self.password {
            client = client.with_password(password.expose());
        }
        Ok(client)
    }
}

fn read_pem_certs(path: &std::path::Path) -> Result<Vec<native_tls::Certificate>> {
    let bad = |why: String| Error::Config(format!("--clickhouse-ca {}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    let certs: Vec<native_tls::Certificate> = text
        .match_indices(BEGIN)
        .map(|(i, _)| {
            let rest = &text[i..];
            let end = rest
                .find("-----END CERTIFICATE-----")
                .map_or(rest.len(), |e| e + "-----END CERTIFICATE-----".len());
            native_tls::Certificate::from_pem(&rest.as_bytes()[..end])
                .map_err(|e| bad(format!("not a PEM certificate: {e}")))
        })
        .collect::<Result<_>>()?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The error and all its causes, `: `-joined (hyper hides the TLS or socket
/// error that matters behind "client error (Connect)").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        src = s.source();
    }
    parts.join(": ")
}

/// Checks that ClickHouse at `url` answers `SELECT 1` with this client
/// within `timeout`, naming what failed: refused credentials, an untrusted
/// certificate or an unreachable server.
pub async fn check_clickhouse(
    client: &clickhouse::Client,
    url: &str,
    timeout: Duration,
) -> Result<()> {
    let at = redact_url(url);
    let answer = tokio::time::timeout(timeout, client.query("SELECT 1").fetch_one::<u8>()).await;
    let e = match answer {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => e,
        Err(_) => {
            return Err(Error::Unreachable(format!(
                "ClickHouse at {at} did not answer within {}s",
                timeout.as_secs()
            )))
        }
    };
    let msg = chain(&e);
    let lower = msg.to_ascii_lowercase();
    Err(
        if lower.contains("authentication_failed") || lower.contains("code: 516") {
            Error::Auth(format!(
                "ClickHouse at {at} refused the credentials (check --clickhouse-user and the \
                 password): {}",
                first_line(&msg)
            ))
        } else if lower.contains("certificate")
            || lower.contains("ssl")
            || lower.contains("tls")
            || lower.contains("handshake")
        {
            Error::Tls(format!(
                "TLS handshake with ClickHouse at {at} failed (is --clickhouse-ca the CA that \
                 signed the server certificate?): {msg}"
            ))
        } else if matches!(e, clickhouse::error::Error::Network(_)) {
            Error::Unreachable(format!("ClickHouse at {at} unreachable: {msg}"))
        } else {
            Error::Other(format!("ClickHouse at {at}: {}", first_line(&msg)))
        },
    )
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_needs_https_and_a_readable_pem() {
        let o = ClickHouseOptions {
            ca: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = o.client("http://127.0.0.1:8123").unwrap_err();
        assert!(e.to_string().contains("https://"), "{e}");
        let e = o.client("https://127.0.0.1:8443").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        assert!(ClickHouseOptions::default().client("ftp://x").is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let o = ClickHouseOptions {
            user: Some("alice".into()),
            password: Some(Secret::new("hunter2")),
            ..Default::default()
        };
        assert!(!format!("{o:?}").contains("hunter2"));
        let c = o.client("http://127.0.0.1:8123").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
