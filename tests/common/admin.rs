//! Helpers for the org analytics / Porta admin end-to-end tests: a stream
//! with its events kept, the API started with an auth config file, HTTP
//! with any method, HS256 tokens.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use authpulse_loadgen::{generate, Message, Oracle, Profile};
use authpulse_schemas::Event;
use serde_json::Value;

use super::pipeline::wait_ingested;
use super::{eventually, free_port, produce, Stack};

/// HS256 secret of the test auth config (≥ 32 bytes).
pub const SECRET: &str = "e2e-admin-hs256-secret-0123456789abcdef";

/// Produces the profile's stream plus `extra` events, ingests them with one
/// consumer and returns the oracle and every valid event.
pub fn load_with_events(stack: &mut Stack, p: &Profile, extra: Vec<Event>) -> (Oracle, Vec<Event>) {
    let mut oracle = Oracle::new();
    let mut events = Vec::new();
    let mut batch = Vec::new();
    let messages = generate(p).chain(extra.into_iter().map(Message::event));
    for m in messages {
        oracle.observe(&m);
        if let Some(e) = m.as_event() {
            events.push(e.clone());
        }
        batch.push((m.key.clone(), m.payload.clone()));
    }
    produce(&stack.brokers(), "auth-events", &batch);
    stack.spawn(&["ingest", "--batch-wait-ms", "200"], "ingest.log");
    wait_ingested(stack, &oracle, &["ingest.log"]);
    (oracle, events)
}

/// Starts `authpulse api` with `auth_config` (written to the stack dir) and
/// the all-scope key `extra_key`; returns the base URL once it answers.
pub fn start_api(stack: &mut Stack, auth_config: &Value, extra_key: &str) -> String {
    let path = stack.dir.join("auth.json");
    std::fs::write(&path, serde_json::to_vec_pretty(auth_config).unwrap()).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (listen, config) = (addr.to_string(), path.to_string_lossy().to_string());
    stack.spawn(
        &[
            "api",
            "--listen",
            &listen,
            "--auth-config",
            &config,
            "--api-key",
            extra_key,
        ],
        "api.log",
    );
    let base = format!("http://{addr}");
    let up = eventually(Duration::from_secs(60), || {
        let (code, _) = http("GET", &format!("{base}/jans-auth/sys/health-check"), None);
        (code == 200).then_some(())
    });
    assert!(up.is_some(), "api did not start:\n{}", stack.log("api.log"));
    base
}

/// `(status, body)` of a request with `method`.
pub fn http(method: &str, url: &str, auth: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "--max-time",
        "60",
        "-X",
        method,
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        url,
    ]);
    if let Some(a) = auth {
        c.args(["-H", &format!("Authorization: {a}")]);
    }
    let out = c.output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// GET expecting 200 and JSON.
pub fn get_json(url: &str, auth: &str) -> Value {
    let (code, body) = http("GET", url, Some(auth));
    assert_eq!(code, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// `Bearer <HS256 JWT>` with these claims.
pub fn bearer(claims: &Value) -> String {
    format!(
        "Bearer {}",
        authpulse_api::auth::sign_hs256(SECRET.as_bytes(), claims)
    )
}

/// Runs `authpulse config ...` against the stack; `(success, stdout+stderr)`.
pub fn config_cli(stack: &Stack, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_authpulse"))
        .arg("config")
        .args(args)
        .env("AUTHPULSE_CLICKHOUSE_URL", stack.ch_url())
        .env("AUTHPULSE_DATABASE", "authpulse")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
