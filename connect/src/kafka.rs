//! Kafka: the security options every Kafka client of authpulse takes, the
//! one function that applies them to an rdkafka `ClientConfig`, and the
//! start-up check that names a refused password, an untrusted certificate or
//! an unreachable broker instead of hanging.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use crate::{Error, Result, Secret};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityProtocol {
    #[value(name = "plaintext")]
    Plaintext,
    #[value(name = "ssl")]
    Ssl,
    #[value(name = "sasl_plaintext")]
    SaslPlaintext,
    #[value(name = "sasl_ssl")]
    SaslSsl,
}

impl SecurityProtocol {
    fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    #[value(name = "PLAIN")]
    Plain,
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// A librdkafka property given as `key=value`. `Debug` hides the value of
/// keys that look secret (`sasl.password`, `ssl.key.password`, ...).
#[derive(Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
}

impl Property {
    fn secret(&self) -> bool {
        let k = self.key.to_ascii_lowercase();
        ["password", "secret", "key", "token", "jaas"]
            .iter()
            .any(|w| k.contains(w))
    }
}

impl fmt::Debug for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret() {
            write!(f, "{}=<redacted>", self.key)
        } else {
            write!(f, "{}={}", self.key, self.value)
        }
    }
}

impl FromStr for Property {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(Property {
                key: k.trim().to_string(),
                value: v.to_string(),
            }),
            // Not the value: it may be a secret given without its key.
            _ => Err("expected key=value (a librdkafka property)".into()),
        }
    }
}

/// Security options of every Kafka client (consumers, producers, admin).
/// Unset: plaintext without credentials, as before.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct KafkaOptions {
    /// Protocol to reach the brokers with (plaintext|ssl|sasl_plaintext|sasl_ssl).
    #[arg(
        id = "kafka_security_protocol",
        long = "kafka-security-protocol",
        env = "AUTHPULSE_KAFKA_SECURITY_PROTOCOL",
        value_enum,
        ignore_case = true
    )]
    pub security_protocol: Option<SecurityProtocol>,
    /// SASL mechanism (PLAIN|SCRAM-SHA-256|SCRAM-SHA-512), for sasl_* protocols.
    #[arg(
        id = "kafka_sasl_mechanism",
        long = "kafka-sasl-mechanism",
        env = "AUTHPULSE_KAFKA_SASL_MECHANISM",
        value_enum,
        ignore_case = true
    )]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name.
    #[arg(
        id = "kafka_sasl_username",
        long = "kafka-sasl-username",
        env = "AUTHPULSE_KAFKA_SASL_USERNAME"
    )]
    pub sasl_username: Option<String>,
    /// SASL password (prefer the environment variable: a flag shows in `ps`).
    #[arg(
        id = "kafka_sasl_password",
        long = "kafka-sasl-password",
        env = "AUTHPULSE_KAFKA_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub sasl_password: Option<Secret>,
    /// PEM file of the CA(s) that signed the brokers' certificates (default:
    /// the system's trusted CAs).
    #[arg(
        id = "kafka_ssl_ca",
        long = "kafka-ssl-ca",
        env = "AUTHPULSE_KAFKA_SSL_CA"
    )]
    pub ssl_ca: Option<PathBuf>,
    /// Compression of produced batches (none|gzip|snappy|lz4|zstd; producers only).
    #[arg(
        id = "kafka_compression",
        long = "kafka-compression",
        env = "AUTHPULSE_KAFKA_COMPRESSION",
        value_enum,
        ignore_case = true
    )]
    pub compression: Option<Compression>,
    /// Any librdkafka property as key=value (repeatable; applied last, so it
    /// wins). In the environment variable, separate several with `;`.
    #[arg(
        id = "kafka_property",
        long = "kafka-property",
        env = "AUTHPULSE_KAFKA_PROPERTIES",
        value_delimiter = ';',
        hide_env_values = true
    )]
    pub properties: Vec<Property>,
    /// Seconds the start-up check waits for a broker to answer.
    #[arg(
        id = "kafka_connect_timeout_secs",
        long = "kafka-connect-timeout-secs",
        env = "AUTHPULSE_KAFKA_CONNECT_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub connect_timeout_secs: u64,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            security_protocol: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca: None,
            compression: None,
            properties: Vec::new(),
            connect_timeout_secs: 10,
        }
    }
}

impl KafkaOptions {
    /// Options that contradict each other, or a CA file that cannot be read.
    pub fn validate(&self) -> Result<()> {
        let protocol = self
            .security_protocol
            .unwrap_or(SecurityProtocol::Plaintext);
        let bad = |m: String| Err(Error::Config(m));
        if protocol.sasl() {
            if self.sasl_mechanism.is_none() {
                return bad(format!(
                    "--kafka-security-protocol {} needs --kafka-sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)",
                    protocol.as_str()
                ));
            }
            if self.sasl_username.as_deref().unwrap_or("").is_empty() {
                return bad(format!(
                    "--kafka-security-protocol {} needs --kafka-sasl-username",
                    protocol.as_str()
                ));
            }
            if self.sasl_password.is_none() {
                return bad(format!(
                    "--kafka-security-protocol {} needs a password (AUTHPULSE_KAFKA_SASL_PASSWORD)",
                    protocol.as_str()
                ));
            }
        } else if self.sasl_mechanism.is_some()
            || self.sasl_username.is_some()
            || self.sasl_password.is_some()
        {
            return bad(format!(
                "SASL options given but --kafka-security-protocol is {}: use sasl_ssl (or sasl_plaintext)",
                protocol.as_str()
            ));
        }
        if let Some(ca) = &self.ssl_ca {
            if !protocol.tls() {
                return bad(format!(
                    "--kafka-ssl-ca given but --kafka-security-protocol is {}: use ssl or sasl_ssl",
                    protocol.as_str()
                ));
            }
            std::fs::metadata(ca)
                .map_err(|e| Error::Config(format!("--kafka-ssl-ca {}: {e}", ca.display())))?;
        }
        Ok(())
    }

    /// Applies the security options and pass-through properties to `config`
    /// (consumers and admin clients).
    pub fn apply<'a>(&self, config: &'a mut ClientConfig) -> &'a mut ClientConfig {
        if let Some(p) = self.security_protocol {
            config.set("security.protocol", p.as_str());
        }
        if let Some(m) = self.sasl_mechanism {
            config.set("sasl.mechanism", m.as_str());
        }
        if let Some(u) = &self.sasl_username {
            config.set("sasl.username", u);
        }
        if let Some(p) = &self.sasl_password {
            config.set("sasl.password", p.expose());
        }
        if let Some(ca) = &self.ssl_ca {
            config.set("ssl.ca.location", ca.to_string_lossy());
        }
        for p in &self.properties {
            config.set(&p.key, &p.value);
        }
        config
    }

    /// A client config for `brokers` with these options (consumers, admin).
    pub fn client_config(&self, brokers: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers);
        self.apply(&mut c);
        c
    }

    /// `client_config` plus the producer-only options (compression).
    pub fn producer_config(&self, brokers: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers);
        if let Some(z) = self.compression {
            c.set("compression.type", z.as_str());
        }
        self.apply(&mut c);
        c
    }

    /// [`KafkaOptions::producer_config`] after [`KafkaOptions::validate`]:
    /// what every producer (loadgen, demo, the bench) starts from.
    pub fn validated_producer_config(&self, brokers: &str) -> Result<ClientConfig> {
        self.validate()?;
        Ok(self.producer_config(brokers))
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.max(1))
    }

    /// These options as the environment variables that set them, for a
    /// child `authpulse` process (the bench spawns ingest).
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![(
            "AUTHPULSE_KAFKA_CONNECT_TIMEOUT_SECS",
            self.connect_timeout_secs.to_string(),
        )];
        if let Some(p) = self.security_protocol {
            env.push(("AUTHPULSE_KAFKA_SECURITY_PROTOCOL", p.as_str().into()));
        }
        if let Some(m) = self.sasl_mechanism {
            env.push(("AUTHPULSE_KAFKA_SASL_MECHANISM", m.as_str().into()));
        }
        if let Some(u) = &self.sasl_username {
            env.push(("AUTHPULSE_KAFKA_SASL_USERNAME", u.clone()));
        }
        if let Some(p) = &self.sasl_password {
            env.push(("AUTHPULSE_KAFKA_SASL_PASSWORD", p.expose().into()));
        }
        if let Some(ca) = &self.ssl_ca {
            env.push(("AUTHPULSE_KAFKA_SSL_CA", ca.to_string_lossy().into()));
        }
        if let Some(z) = self.compression {
            env.push(("AUTHPULSE_KAFKA_COMPRESSION", z.as_str().into()));
        }
        if !self.properties.is_empty() {
            let joined: Vec<String> = self
                .properties
                .iter()
                .map(|p| format!("{}={}", p.key, p.value))
                .collect();
            env.push(("AUTHPULSE_KAFKA_PROPERTIES", joined.join(";")));
        }
        env
    }
}

/// Collects what librdkafka reports through the error and log callbacks:
/// that is where a refused password or an untrusted certificate shows up
/// (a metadata request only times out).
#[derive(Default)]
struct Capture {
    errors: Mutex<Vec<(Option<RDKafkaErrorCode>, String)>>,
}

impl ClientContext for Capture {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(target: "librdkafka", "{fac} {message}");
        // Some causes are only logged, e.g. a plaintext client on a TLS
        // listener ("Disconnected while requesting ApiVersion: might be
        // caused by incorrect security.protocol configuration").
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            self.errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((None, message.to_string()));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", "{error}: {reason}");
        let code = error.rdkafka_error_code();
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((code, reason.to_string()));
    }
}

impl ProducerContext for Capture {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

#[derive(PartialEq)]
enum Cause {
    Auth,
    Tls,
    Transport,
    Other,
}

fn classify(code: Option<RDKafkaErrorCode>, reason: &str) -> Cause {
    // Only librdkafka's own phrases for these failures: a log line that
    // merely mentions a certificate must not stop the start.
    let r = reason.to_ascii_lowercase();
    if code == Some(RDKafkaErrorCode::Authentication) || r.contains("sasl authentication error") {
        Cause::Auth
    } else if code == Some(RDKafkaErrorCode::SSL) || r.contains("ssl handshake failed") {
        Cause::Tls
    } else if matches!(
        code,
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::Resolve
        )
    ) {
        Cause::Transport
    } else {
        Cause::Other
    }
}

/// Checks within `options.connect_timeout()` that the brokers answer a
/// metadata request with these options. A refused password or an untrusted
/// certificate fails at once; an unreachable broker when the time is up.
/// Blocking: run it on a blocking thread.
pub fn check_kafka(brokers: &str, options: &KafkaOptions) -> Result<()> {
    options.validate()?;
    let timeout = options.connect_timeout();
    let producer: BaseProducer<Capture> = options
        .producer_config(brokers)
        // One attempt's worth of reconnect back-off, so a broker that is
        // still starting is retried within the timeout.
        .set("reconnect.backoff.max.ms", "1000")
        .create_with_context(Capture::default())
        .map_err(|e| {
            Error::Config(match e {
                // Its Display holds the value, which may be a secret.
                KafkaError::ClientConfig(_, desc, key, _) => {
                    format!("Kafka client configuration, property {key}: {desc}")
                }
                e => format!("Kafka client configuration: {e}"),
            })
        })?;
    let deadline = Instant::now() + timeout;
    let mut last_transport: Option<String> = None;
    loop {
        producer.poll(Duration::from_millis(100));
        let errors: Vec<(Option<RDKafkaErrorCode>, String)> = std::mem::take(
            &mut *producer
                .context()
                .errors
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for (code, reason) in errors {
            match classify(code, &reason) {
                Cause::Auth => {
                    return Err(Error::Auth(format!(
                    "Kafka SASL authentication failed at {brokers} (check --kafka-sasl-username, \
                         the password and --kafka-sasl-mechanism): {reason}"
                )))
                }
                Cause::Tls => {
                    return Err(Error::Tls(format!(
                        "Kafka TLS handshake failed at {brokers} (is --kafka-ssl-ca the CA that \
                         signed the broker certificate, and is the protocol right?): {reason}"
                    )))
                }
                Cause::Transport | Cause::Other => last_transport = Some(reason),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let wait = left.min(Duration::from_secs(1));
        if let Ok(md) = producer.client().fetch_metadata(None, wait) {
            if !md.brokers().is_empty() {
                return Ok(());
            }
        }
    }
    Err(Error::Unreachable(match last_transport {
        Some(reason) => format!(
            "Kafka broker(s) {brokers} unreachable within {}s: {reason}",
            timeout.as_secs()
        ),
        // Connected but no answer: typically a plaintext client on a TLS or
        // SASL listener.
        None => format!(
            "Kafka broker(s) {brokers} did not answer within {}s (security protocol {}: \
             does the listener expect another? see --kafka-security-protocol)",
            timeout.as_secs(),
            options
                .security_protocol
                .unwrap_or(SecurityProtocol::Plaintext)
                .as_str()
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaOptions,
    }

    fn parse(args: &[&str]) -> KafkaOptions {
        let mut v = vec!["x"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap().kafka
    }

    #[test]
    fn options_become_librdkafka_properties() {
        let o = parse(&[
            "--kafka-security-protocol",
            "SASL_SSL",
            "--kafka-sasl-mechanism",
            "scram-sha-512",
            "--kafka-sasl-username",
            "alice",
            "--kafka-sasl-password",
            "pw",
            "--kafka-compression",
            "zstd",
            "--kafka-property",
            "client.id=x",
            "--kafka-property",
            "sasl.mechanism=PLAIN",
        ]);
        o.validate().unwrap();
        let c = o.producer_config("b:1");
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.username"), Some("alice"));
        assert_eq!(c.get("sasl.password"), Some("pw"));
        assert_eq!(c.get("compression.type"), Some("zstd"));
        assert_eq!(c.get("client.id"), Some("x"));
        // Pass-through properties win.
        assert_eq!(c.get("sasl.mechanism"), Some("PLAIN"));
        // Compression is a producer property only.
        assert_eq!(o.client_config("b:1").get("compression.type"), None);
    }

    #[test]
    fn contradictions_are_refused() {
        let e = parse(&["--kafka-security-protocol", "sasl_ssl"])
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("--kafka-sasl-mechanism"), "{e}");
        let e = parse(&["--kafka-sasl-username", "a"])
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("plaintext"), "{e}");
        let e = parse(&[
            "--kafka-security-protocol",
            "ssl",
            "--kafka-ssl-ca",
            "/nonexistent/ca.pem",
        ])
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        assert!(Cli::try_parse_from(["x", "--kafka-property", "novalue"]).is_err());
    }

    #[test]
    fn causes_from_librdkafka_reports() {
        let auth = "sasl_ssl://h:9094/bootstrap: SASL authentication error: Authentication \
                    failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512";
        assert!(classify(None, auth) == Cause::Auth);
        let tls = "ssl://h:9094/bootstrap: SSL handshake failed: error:0A000086:SSL \
                   routines::certificate verify failed";
        assert!(classify(None, tls) == Cause::Tls);
        assert!(classify(None, "ssl.ca.location: certificate store loaded") == Cause::Other);
        assert!(
            classify(
                Some(RDKafkaErrorCode::BrokerTransportFailure),
                "Connect to ipv4#127.0.0.1:1 failed: Connection refused"
            ) == Cause::Transport
        );
    }

    #[test]
    fn a_bad_property_is_named_without_its_value() {
        let o = parse(&["--kafka-property", "sasl.passwrod=hunter4"]);
        let e = check_kafka("127.0.0.1:1", &o).unwrap_err().to_string();
        assert!(e.contains("sasl.passwrod") && !e.contains("hunter4"), "{e}");
    }

    #[test]
    fn debug_hides_secrets() {
        let o = parse(&[
            "--kafka-sasl-password",
            "hunter2",
            "--kafka-property",
            "ssl.key.password=hunter3",
            "--kafka-property",
            "client.id=visible",
        ]);
        let d = format!("{o:?}");
        assert!(!d.contains("hunter2") && !d.contains("hunter3"), "{d}");
        assert!(d.contains("client.id=visible"), "{d}");
        let c = format!("{:?}", o.producer_config("b:1"));
        assert!(!c.contains("hunter2"), "{c}");
    }
}
