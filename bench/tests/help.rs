//! `authpulse-bench --help` takes the same connection options as the
//! product (authpulse_connect) and, like every `authpulse` subcommand
//! (tests/e2e_secure.rs), never echoes a secret set in the environment.

use std::process::Command;

#[test]
fn help_never_shows_secrets() {
    let secrets = ["ch-Pw-51c7e", "scram-Pw-93a1", "plain-Pw-2f6d"];
    let out = Command::new(env!("CARGO_BIN_EXE_authpulse-bench"))
        .arg("--help")
        .env("AUTHPULSE_CLICKHOUSE_PASSWORD", secrets[0])
        .env("AUTHPULSE_KAFKA_SASL_PASSWORD", secrets[1])
        .env(
            "AUTHPULSE_KAFKA_PROPERTIES",
            format!("sasl.password={}", secrets[2]),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for secret in secrets {
        assert!(!help.contains(secret), "--help shows a secret:\n{help}");
    }
    assert!(help.contains("--kafka-sasl-password"), "{help}");
    assert!(help.contains("AUTHPULSE_CLICKHOUSE_PASSWORD"), "{help}");
}
