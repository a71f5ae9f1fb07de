//! Secured connections against the real servers: Kafka with a SASL_SSL
//! listener (SCRAM-SHA-512 and PLAIN) and ClickHouse over HTTPS with a
//! password user, both with a certificate signed by a CA made here. migrate,
//! ingest, the API and loadgen (zstd and lz4) run through them and a report
//! equals the oracle; a wrong password, an untrusted CA and an unreachable
//! server each make a command exit within seconds naming the cause; no
//! secret shows in any output or in `--help`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authpulse_loadgen::{generate, Oracle, Profile};
use chrono::{TimeZone, Utc};
use common::admin::get_json;
use common::{eventually, free_port, repo, wait_exit};
use serde_json::Value;

const CH_USER: &str = "authpulse";
const CH_PASSWORD: &str = "ch-Pw-51c7e";
const SCRAM_USER: &str = "alice";
const SCRAM_PASSWORD: &str = "scram-Pw-93a1";
const PLAIN_USER: &str = "bob";
const PLAIN_PASSWORD: &str = "plain-Pw-2f6d";
const KEY: &str = "secure-api-key-0123456789";
const SECRETS: [&str; 3] = [CH_PASSWORD, SCRAM_PASSWORD, PLAIN_PASSWORD];

/// A start-up check that fails must do so well within this (the connect
/// timeouts are 5 s; the rest is process start on a loaded 2-core box).
const FAIL_FAST: Duration = Duration::from_secs(30);

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 signed by it (PEM, and PKCS#12
/// for the broker), and a second CA that signed nothing.
fn make_certs(dir: &Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    for (key, crt, cn) in [
        ("ca.key", "ca.crt", "authpulse test CA"),
        ("rogue.key", "rogue.crt", "rogue CA"),
    ] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key,
                "-out",
                crt,
                "-days",
                "2",
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-in",
            "server.crt",
            "-inkey",
            "server.key",
            "-certfile",
            "ca.crt",
            "-out",
            "server.p12",
            "-passout",
            "pass:keystore-pw",
            "-name",
            "broker",
        ],
    );
}

/// ClickHouse (HTTPS + password user) and Kafka (SASL_SSL listener), owned
/// by the test, stopped by PID on drop.
struct Secure {
    dir: PathBuf,
    ch_http: u16,
    ch_tcp: u16,
    ch_https: u16,
    broker: u16,
    controller: u16,
    sasl: u16,
    children: Vec<Child>,
}

impl Secure {
    fn start() -> Secure {
        let dir = std::env::temp_dir().join(format!(
            "authpulse-test-secure-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        make_certs(&dir);
        let s = Secure {
            dir,
            ch_http: free_port(),
            ch_tcp: free_port(),
            ch_https: free_port(),
            broker: free_port(),
            controller: free_port(),
            sasl: free_port(),
            children: Vec::new(),
        };
        // Controller and inter-broker traffic stay PLAINTEXT; clients use the
        // SASL_SSL listener, which offers SCRAM-SHA-512 (users made at format
        // time) and PLAIN (users in the JAAS line).
        let d = s.dir.display();
        std::fs::write(
            s.dir.join("broker-extra.properties"),
            format!(
                "listeners=PLAINTEXT://127.0.0.1:{b},CONTROLLER://127.0.0.1:{c},SASL_SSL://127.0.0.1:{sasl}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{b},SASL_SSL://127.0.0.1:{sasl}\n\
                 sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN\n\
                 listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
                 listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{PLAIN_USER}=\"{PLAIN_PASSWORD}\";\n\
                 listener.name.sasl_ssl.ssl.keystore.type=PKCS12\n\
                 listener.name.sasl_ssl.ssl.keystore.location={d}/server.p12\n\
                 listener.name.sasl_ssl.ssl.keystore.password=keystore-pw\n",
                b = s.broker,
                c = s.controller,
                sasl = s.sasl,
            ),
        )
        .unwrap();
        s.ctl("clickhouse.sh", "start");
        s.ctl("broker.sh", "start");
        s
    }

    fn ctl(&self, script: &str, action: &str) {
        let status = Command::new("bash")
            .arg(repo().join("deploy/local").join(script))
            .arg(action)
            .env("CH_HTTP_PORT", self.ch_http.to_string())
            .env("CH_TCP_PORT", self.ch_tcp.to_string())
            .env("CH_DATA", self.dir.join("clickhouse"))
            .env("CH_HTTPS_PORT", self.ch_https.to_string())
            .env("CH_TLS_CERT", self.dir.join("server.crt"))
            .env("CH_TLS_KEY", self.dir.join("server.key"))
            .env("CH_USERS", format!("{CH_USER}:{CH_PASSWORD}"))
            .env("BROKER_PORT", self.broker.to_string())
            .env("BROKER_CONTROLLER_PORT", self.controller.to_string())
            .env("BROKER_DATA", self.dir.join("broker"))
            .env(
                "BROKER_EXTRA_PROPERTIES",
                self.dir.join("broker-extra.properties"),
            )
            .env(
                "BROKER_FORMAT_ARGS",
                format!("--add-scram SCRAM-SHA-512=[name={SCRAM_USER},password={SCRAM_PASSWORD}]"),
            )
            .status()
            .unwrap();
        assert!(
            status.success() || action == "stop",
            "{script} {action} failed"
        );
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    fn ch_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.ch_https)
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.sasl)
    }

    /// The working configuration: SCRAM over TLS, password over HTTPS.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AUTHPULSE_CLICKHOUSE_URL", self.ch_url()),
            ("AUTHPULSE_CLICKHOUSE_USER", CH_USER.into()),
            ("AUTHPULSE_CLICKHOUSE_PASSWORD", CH_PASSWORD.into()),
            ("AUTHPULSE_CLICKHOUSE_CA", self.path("ca.crt")),
            ("AUTHPULSE_BROKERS", self.brokers()),
            ("AUTHPULSE_KAFKA_SECURITY_PROTOCOL", "sasl_ssl".into()),
            ("AUTHPULSE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512".into()),
            ("AUTHPULSE_KAFKA_SASL_USERNAME", SCRAM_USER.into()),
            ("AUTHPULSE_KAFKA_SASL_PASSWORD", SCRAM_PASSWORD.into()),
            ("AUTHPULSE_KAFKA_SSL_CA", self.path("ca.crt")),
            ("AUTHPULSE_KAFKA_CONNECT_TIMEOUT_SECS", "5".into()),
            ("AUTHPULSE_CLICKHOUSE_CONNECT_TIMEOUT_SECS", "5".into()),
            ("RUST_LOG", "info,rdkafka=warn".into()),
            ("RUST_BACKTRACE", "0".into()),
        ]
    }

    /// `authpulse <args>` with the working configuration changed by
    /// `overrides`; stderr to `log`.
    fn command(&self, args: &[&str], overrides: &[(&str, &str)], log: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_authpulse"));
        c.args(args)
            .envs(self.env())
            .envs(overrides.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.dir.join(format!("{log}.out"))).unwrap())
            .stderr(std::fs::File::create(self.dir.join(log)).unwrap());
        c
    }

    fn spawn(&mut self, args: &[&str], log: &str) {
        let child = self.command(args, &[], log).spawn().unwrap();
        self.children.push(child);
    }

    /// Runs to completion (at most `limit`); returns (exit code, elapsed, stderr).
    fn run(
        &self,
        args: &[&str],
        overrides: &[(&str, &str)],
        log: &str,
        limit: Duration,
    ) -> (Option<i32>, Duration, String) {
        let t = Instant::now();
        let mut child = self.command(args, overrides, log).spawn().unwrap();
        let code = wait_exit(&mut child, limit);
        (code, t.elapsed(), self.log(log))
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// A query over HTTPS as the password user (curl, independent of the
    /// product's client); the TSV body.
    fn query(&self, sql: &str) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--max-time", "30", "--cacert"])
            .arg(self.dir.join("ca.crt"))
            .args(["-u", &format!("{CH_USER}:{CH_PASSWORD}")])
            .arg(format!("{}/", self.ch_url()))
            .args(["--data-binary", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "query failed: {sql}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn count(&self, sql: &str) -> u64 {
        self.query(sql)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("not a number from {sql}"))
    }
}

impl Drop for Secure {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.ctl("broker.sh", "stop");
        self.ctl("clickhouse.sh", "stop");
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Asserts that `authpulse <args>` with `overrides` exits non-zero within
/// FAIL_FAST and says each of `expect` (and no secret).
fn fails_fast(s: &Secure, what: &str, args: &[&str], overrides: &[(&str, &str)], expect: &[&str]) {
    let log = format!("fail-{}.log", what.replace(' ', "-"));
    let (code, elapsed, stderr) = s.run(args, overrides, &log, Duration::from_secs(120));
    assert!(
        code.is_some_and(|c| c != 0),
        "{what}: exit {code:?} after {elapsed:?}, expected a failure\n{stderr}"
    );
    assert!(
        elapsed < FAIL_FAST,
        "{what}: took {elapsed:?} to fail\n{stderr}"
    );
    for e in expect {
        assert!(stderr.contains(e), "{what}: no {e:?} in\n{stderr}");
    }
    for secret in SECRETS {
        assert!(!stderr.contains(secret), "{what}: a secret in\n{stderr}");
    }
    eprintln!("{what}: failed in {elapsed:.1?}: {}", stderr.trim());
}

fn profile(seed: u64) -> Profile {
    Profile {
        seed,
        events: 4_000,
        orgs: 2,
        apps_per_org: 3,
        users_per_org: 300,
        start: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(20),
        ..Profile::default()
    }
}

/// `authpulse loadgen` arguments producing `profile(seed)`.
fn loadgen_args(seed: u64) -> Vec<String> {
    let p = profile(seed);
    vec![
        "loadgen".into(),
        "--quiet".into(),
        "--topic".into(),
        "auth-events".into(),
        "--seed".into(),
        seed.to_string(),
        "--events".into(),
        p.events.to_string(),
        "--orgs".into(),
        p.orgs.to_string(),
        "--apps-per-org".into(),
        p.apps_per_org.to_string(),
        "--users-per-org".into(),
        p.users_per_org.to_string(),
        "--start".into(),
        p.start.to_rfc3339(),
        "--span-days".into(),
        "20".into(),
    ]
}

fn create_topics(s: &Secure) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let kafka = authpulse_connect::KafkaOptions {
        security_protocol: Some(authpulse_connect::SecurityProtocol::SaslSsl),
        sasl_mechanism: Some(authpulse_connect::SaslMechanism::ScramSha512),
        sasl_username: Some(SCRAM_USER.into()),
        sasl_password: Some(authpulse_connect::Secret::new(SCRAM_PASSWORD)),
        ssl_ca: Some(s.dir.join("ca.crt")),
        ..Default::default()
    };
    let admin: AdminClient<DefaultClientContext> =
        kafka.client_config(&s.brokers()).create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.create_topics(
            &[
                NewTopic::new("auth-events", 3, TopicReplication::Fixed(1)),
                NewTopic::new("auth-events-dlq", 1, TopicReplication::Fixed(1)),
            ],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(60))),
        ))
        .unwrap();
    for r in res {
        match r {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => panic!("create topic {t}: {e}"),
        }
    }
}

/// Compression codecs of the batches in the topic's log segments, as the
/// broker's own DumpLogSegments tool reads them.
fn codecs(s: &Secure) -> String {
    let mut files = Vec::new();
    for p in 0..3 {
        let d = s.dir.join(format!("broker/logs/auth-events-{p}"));
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "log") {
                files.push(f.to_str().unwrap().to_string());
            }
        }
    }
    let out = Command::new("bash")
        .arg(repo().join("deploy/local/broker.sh"))
        .args([
            "tool",
            "org.apache.kafka.tools.DumpLogSegments",
            "--files",
            &files.join(","),
        ])
        .env("BROKER_DATA", s.dir.join("broker"))
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_never_shows_secrets() {
    // The benchmark's own binary: bench/tests/help.rs.
    for cmd in [
        "ingest", "api", "migrate", "loadgen", "up", "collect", "import",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_authpulse"))
            .args([cmd, "--help"])
            .env("AUTHPULSE_KAFKA_SASL_PASSWORD", SCRAM_PASSWORD)
            .env("AUTHPULSE_CLICKHOUSE_PASSWORD", CH_PASSWORD)
            .env(
                "AUTHPULSE_KAFKA_PROPERTIES",
                format!("sasl.password={PLAIN_PASSWORD}"),
            )
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for secret in SECRETS {
            assert!(
                !help.contains(secret),
                "{cmd} --help shows a secret:\n{help}"
            );
        }
        if cmd != "migrate" && cmd != "api" {
            assert!(help.contains("--kafka-sasl-password"), "{cmd}:\n{help}");
        }
        // loadgen, collect and import only produce to Kafka.
        if !["loadgen", "collect", "import"].contains(&cmd) {
            assert!(
                help.contains("AUTHPULSE_CLICKHOUSE_PASSWORD"),
                "{cmd}:\n{help}"
            );
        }
    }
}

#[test]
fn secured_pipeline_and_fail_fast() {
    let mut s = Secure::start();

    // Fail fast, each naming its cause, before anything else runs.
    let sasl = s.brokers();
    let rogue = s.path("rogue.crt");
    fails_fast(
        &s,
        "wrong kafka password",
        &["ingest"],
        &[("AUTHPULSE_KAFKA_SASL_PASSWORD", "not-the-password")],
        &["SASL authentication failed", &sasl],
    );
    fails_fast(
        &s,
        "wrong clickhouse password",
        &["migrate"],
        &[("AUTHPULSE_CLICKHOUSE_PASSWORD", "not-the-password")],
        &[
            "refused the credentials",
            "Authentication failed",
            &s.ch_url(),
        ],
    );
    fails_fast(
        &s,
        "kafka ca that did not sign",
        &["ingest"],
        &[("AUTHPULSE_KAFKA_SSL_CA", &rogue)],
        &[
            "Kafka TLS handshake failed",
            "certificate verify failed",
            &sasl,
        ],
    );
    fails_fast(
        &s,
        "clickhouse ca that did not sign",
        &[
            "api",
            "--api-key",
            KEY,
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ],
        &[("AUTHPULSE_CLICKHOUSE_CA", &rogue)],
        &[
            "TLS handshake with ClickHouse",
            "certificate verify failed",
            &s.ch_url(),
        ],
    );
    let nowhere = format!("127.0.0.1:{}", free_port());
    fails_fast(
        &s,
        "unreachable broker",
        &["loadgen", "--events", "10", "--quiet"],
        &[("AUTHPULSE_BROKERS", &nowhere)],
        &["unreachable", &nowhere, "Connection refused"],
    );
    let nowhere_ch = format!("https://127.0.0.1:{}", free_port());
    fails_fast(
        &s,
        "unreachable clickhouse",
        &[
            "api",
            "--api-key",
            KEY,
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ],
        &[("AUTHPULSE_CLICKHOUSE_URL", &nowhere_ch)],
        &["unreachable", &nowhere_ch, "Connection refused"],
    );

    // The pipeline through SCRAM over TLS and a password over HTTPS.
    create_topics(&s);
    let (code, _, stderr) = s.run(
        &["migrate", "--timezones", "UTC"],
        &[],
        "migrate.log",
        Duration::from_secs(180),
    );
    assert_eq!(code, Some(0), "migrate: {stderr}");
    s.spawn(&["ingest", "--batch-wait-ms", "200"], "ingest.log");
    let listen = format!("127.0.0.1:{}", free_port());
    s.spawn(&["api", "--api-key", KEY, "--listen", &listen], "api.log");

    // Two producers: SCRAM-SHA-512 with zstd, PLAIN with lz4.
    let mut oracle = Oracle::new();
    for (seed, compression, overrides) in [
        (7u64, "zstd", vec![]),
        (
            8,
            "lz4",
            vec![
                ("AUTHPULSE_KAFKA_SASL_MECHANISM", "PLAIN"),
                ("AUTHPULSE_KAFKA_SASL_USERNAME", PLAIN_USER),
                ("AUTHPULSE_KAFKA_SASL_PASSWORD", PLAIN_PASSWORD),
            ],
        ),
    ] {
        let mut args = loadgen_args(seed);
        args.extend(["--kafka-compression".into(), compression.into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let log = format!("loadgen-{compression}.log");
        let (code, _, stderr) = s.run(&args, &overrides, &log, Duration::from_secs(180));
        assert_eq!(code, Some(0), "loadgen {compression}: {stderr}");
        for m in generate(&profile(seed)) {
            oracle.observe(&m);
        }
    }
    let dump = codecs(&s);
    assert!(
        dump.contains("compresscodec: zstd") && dump.contains("compresscodec: lz4"),
        "batches not compressed as asked:\n{}",
        dump.lines().take(20).collect::<Vec<_>>().join("\n")
    );

    // Stored exactly once, then the report equals the oracle.
    let want = oracle.events_by_type();
    let stored = || -> std::collections::BTreeMap<&'static str, u64> {
        want.keys()
            .map(|t| {
                (
                    *t,
                    s.count(&format!("SELECT count() FROM authpulse.{t}_events")),
                )
            })
            .collect()
    };
    let caught_up = eventually(Duration::from_secs(240), || {
        // The login rollup caught up too (views are written after the raw rows).
        (stored() == want
            && s.count("SELECT sum(logins) FROM authpulse.login_counts_15m") == want["login"]
            && s.count("SELECT count() FROM system.processes WHERE query_kind = 'Insert'") == 0)
            .then_some(())
    });
    assert!(
        caught_up.is_some(),
        "never caught up: {:?} vs {want:?}\n--- ingest.log\n{}",
        stored(),
        s.log("ingest.log")
    );
    let base = format!("http://{listen}");
    eventually(Duration::from_secs(60), || {
        (common::http_get(&format!("{base}/jans-auth/sys/health-check"), None).0 == 200)
            .then_some(())
    })
    .expect("api up");
    let p = profile(7);
    let (start, end) = (
        (p.start - chrono::Duration::days(8)).timestamp_millis(),
        (p.start + p.span + chrono::Duration::days(1)).timestamp_millis(),
    );
    let v: Value = get_json(
        &format!("{base}/api/report/login?start={start}&end={end}"),
        KEY,
    );
    let got: std::collections::BTreeMap<i64, u64> = v["hourlyCounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["interval"].as_i64().unwrap(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, oracle.login_hourly(chrono_tz::Tz::UTC, None));
    let poison: u64 = oracle.poison_by_reason().values().sum();
    assert!(
        poison > 0,
        "the profile has poison, for the dead-letter producer"
    );
    let dead = eventually(Duration::from_secs(60), || {
        let n = s.count("SELECT count() FROM authpulse.dead_letters");
        (n == poison).then_some(n)
    });
    assert_eq!(
        dead,
        Some(poison),
        "dead letters: {}",
        s.count("SELECT count() FROM authpulse.dead_letters")
    );

    // No secret in any output.
    for entry in std::fs::read_dir(&s.dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log" || e == "out") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for secret in SECRETS {
                assert!(!text.contains(secret), "{} shows a secret", path.display());
            }
        }
    }
}
