//! Operability against real servers: the configuration file (and its
//! precedence under flags and environment), JSON logs with the access log,
//! health and readiness of the API and of ingest following ClickHouse,
//! request timeouts, body limits and compression.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const KEY: &str = "ops-key-0123456789";

/// `curl` returning (status, headers, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-D", "-", "-o", "-"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn signal_clickhouse(stack: &Stack, signal: &str) {
    let pid = std::fs::read_to_string(stack.dir.join("clickhouse/clickhouse.pid")).unwrap();
    let status = Command::new("kill")
        .args([signal, pid.trim()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

#[test]
fn config_file_logs_health_and_limits() {
    let mut stack = Stack::start("ops");
    stack.create_topic("auth-events", 1);
    stack.migrate("authpulse");

    // A bad key stops every subcommand at start, naming the key and file.
    let bad = stack.dir.join("bad.toml");
    std::fs::write(&bad, "api_listen = \"127.0.0.1:1\"\nbatch_rowz = 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_authpulse"))
        .args(["--config", bad.to_str().unwrap(), "api"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("batch_rowz") && err.contains("bad.toml"),
        "{err}"
    );

    // The API takes its listen address, key, limits and log format from the
    // file; the environment overrides the file (stat scope), flags the
    // environment (request timeout).
    let port = free_port();
    let file = stack.dir.join("authpulse.toml");
    std::fs::write(
        &file,
        format!(
            "api_listen = \"127.0.0.1:{port}\"\napi_keys = [\"{KEY}\"]\nlog_format = \"json\"\n\
             body_limit_bytes = 200\nrequest_timeout_secs = 60\nreport_tz = \"UTC\"\n"
        ),
    )
    .unwrap();
    stack.spawn_env(
        &["api", "--request-timeout-secs", "3"],
        "api.log",
        &[("AUTHPULSE_CONFIG", file.to_str().unwrap())],
    );
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(60), || {
        (http_get(&format!("{base}/healthz"), None).0 == 200).then_some(())
    })
    .expect("api listens on the file's address");
    assert_eq!(http_get(&format!("{base}/readyz"), None).0, 200);
    let now = chrono::Utc::now().timestamp_millis();
    let login = format!(
        "{base}/api/report/login?start={}&end={now}",
        now - 86_400_000
    );
    assert_eq!(
        curl(&["-H", &format!("Authorization: {KEY}"), &login]).0,
        200
    );

    // Compression where the client accepts it.
    let (status, head, _) = curl(&[
        "-H",
        "Accept-Encoding: gzip",
        &format!("{base}/openapi.json"),
    ]);
    assert_eq!(status, 200);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    // Bodies over the limit: 413, before any handler runs.
    let big = "x".repeat(1000);
    let (status, _, _) = curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {KEY}"),
        "--data-binary",
        &big,
        &format!("{base}/jans-auth/restv1/internal/stat"),
    ]);
    assert_eq!(status, 413);

    // JSON logs: one object per line; the access log has route and status.
    let log = stack.log("api.log");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "request"
            && l["fields"]["status"] == 200
            && l["span"]["path"] == "/api/report/login"),
        "{log}"
    );

    // Ingest: /healthz and /readyz on its metrics listener.
    let metrics = format!("127.0.0.1:{}", free_port());
    stack.spawn(&["ingest", "--metrics-listen", &metrics], "ingest.log");
    eventually(Duration::from_secs(60), || {
        (http_get(&format!("http://{metrics}/readyz"), None).0 == 200).then_some(())
    })
    .expect("ingest ready");

    // ClickHouse hangs (stopped): a report answers 503 at the request
    // timeout (3 s from the flag, not the file's 60); both readiness checks
    // fail, liveness does not.
    signal_clickhouse(&stack, "-STOP");
    // The report cache answers from memory while its last fingerprints are
    // under a second old; past that it asks ClickHouse.
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let (status, _, _) = curl(&["-H", &format!("Authorization: {KEY}"), &login]);
    let took = started.elapsed();
    let api_ready = http_get(&format!("{base}/readyz"), None);
    let ingest_ready = http_get(&format!("http://{metrics}/readyz"), None);
    let live = (
        http_get(&format!("{base}/healthz"), None).0,
        http_get(&format!("http://{metrics}/healthz"), None).0,
    );
    signal_clickhouse(&stack, "-CONT");
    assert_eq!(status, 503, "timed out request");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(30),
        "{took:?}"
    );
    assert_eq!(api_ready.0, 503, "{}", api_ready.1);
    assert!(api_ready.1.contains("clickhouse"), "{}", api_ready.1);
    assert_eq!(ingest_ready.0, 503, "{}", ingest_ready.1);
    assert!(ingest_ready.1.contains("clickhouse"), "{}", ingest_ready.1);
    assert_eq!(live, (200, 200));
    let timeouts = http_get(&format!("{base}/metrics"), None).1;
    assert!(
        timeouts.contains(
            "authpulse_api_requests_total{route=\"/api/report/login\",method=\"GET\",status=\"503\"} 1"
        ),
        "{timeouts}"
    );

    // Back: ready again. The broker down: ingest not ready, naming kafka.
    eventually(Duration::from_secs(60), || {
        (http_get(&format!("{base}/readyz"), None).0 == 200
            && http_get(&format!("http://{metrics}/readyz"), None).0 == 200)
            .then_some(())
    })
    .expect("ready again after ClickHouse resumed");
    stack.broker_ctl("stop");
    let not_ready = eventually(Duration::from_secs(60), || {
        let r = http_get(&format!("http://{metrics}/readyz"), None);
        (r.0 == 503).then_some(r.1)
    })
    .expect("ingest not ready without the broker");
    assert!(not_ready.contains("kafka"), "{not_ready}");
}
