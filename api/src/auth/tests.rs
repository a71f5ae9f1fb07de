use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

const SECRET: &str = "an-hs256-test-secret-of-at-least-32-bytes";
const SECRET2: &str = "a-second-hs256-secret-also-32-bytes-long";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/auth/testdata")
}

fn private_pem() -> Vec<u8> {
    std::fs::read(testdata().join("rsa_private.pem")).unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn auth_with(jwt: Value) -> Authenticator {
    let cfg = json!({ "jwt": jwt });
    Authenticator::from_json(&cfg.to_string(), &testdata(), &[]).unwrap()
}

fn hs_auth() -> Authenticator {
    auth_with(json!({ "hs256_secrets": [SECRET, SECRET2], "leeway_seconds": 30 }))
}

fn claims(extra: Value) -> Value {
    let mut c = json!({ "sub": "user-1", "exp": now() + 600 });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn b64(v: &Value) -> String {
    // base64url without padding, enough for hand-made tokens.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = v.to_string().into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

// ---------------------------------------------------------------- API keys

#[test]
fn plain_api_keys_raw_and_bearer() {
    let auth = Authenticator::with_api_keys(&["k3y-one".into(), "".into()]);
    let p = auth.authenticate("k3y-one").unwrap();
    assert_eq!(p.subject, "api-key:k3y-");
    assert!(p.has_scope("reports:read") && p.has_scope("anything"));
    assert!(p.memberships.is_empty());
    assert_eq!(auth.authenticate("Bearer k3y-one"), Some(p.clone()));
    assert_eq!(auth.authenticate("bearer k3y-one"), Some(p.clone()));
    assert_eq!(auth.authenticate("BEARER\tk3y-one"), Some(p.clone()));
    assert_eq!(auth.authenticate("  k3y-one  "), Some(p));
    assert_eq!(auth.authenticate("k3y-on"), None);
    assert_eq!(auth.authenticate("k3y-one1"), None);
    assert_eq!(
        auth.authenticate(""),
        None,
        "the empty key is never accepted"
    );
    assert_eq!(auth.authenticate("Bearer "), None);
    assert_eq!(auth.authenticate("Basic k3y-one"), None);
    assert_eq!(auth.api_key_count(), 1);
    assert!(!auth.accepts_jwt());
    // Non-ASCII keys: no slicing panic.
    let auth = Authenticator::with_api_keys(&["ключ-ü".into()]);
    assert_eq!(auth.authenticate("ключ-ü").unwrap().subject, "api-key:ключ");
}

#[test]
fn config_api_keys_carry_scopes_and_memberships() {
    let cfg = json!({
        "api_keys": [
            { "key": "grafana-key", "name": "grafana", "scopes": ["reports:read", "stats:read"],
              "memberships": { "acme": "Admin", "globex": "member" } },
            { "key": "bare-key" }
        ]
    });
    let auth = Authenticator::from_json(
        &cfg.to_string(),
        Path::new("."),
        &["cli-key".into(), "".into()],
    )
    .unwrap();
    let p = auth.authenticate("grafana-key").unwrap();
    assert_eq!(p.subject, "api-key:grafana");
    assert!(p.has_scope("reports:read") && p.has_scope("stats:read"));
    assert!(!p.has_scope("audit:write"));
    assert!(p.require("reports:read").is_ok());
    assert!(matches!(p.require("audit:write"), Err(ApiError::Forbidden)));
    assert_eq!(p.role_in("acme"), Some(Role::Admin));
    assert_eq!(p.role_in("globex"), Some(Role::Member));
    assert_eq!(p.role_in("initech"), None);
    assert_eq!(auth.authenticate("Bearer grafana-key"), Some(p));

    let bare = auth.authenticate("bare-key").unwrap();
    assert!(bare.scopes.is_empty() && bare.memberships.is_empty());
    assert!(matches!(
        bare.require("reports:read"),
        Err(ApiError::Forbidden)
    ));

    let cli = auth.authenticate("cli-key").unwrap();
    assert!(cli.has_scope("audit:write"));
    assert_eq!(auth.api_key_count(), 3);
}

#[test]
fn debug_output_hides_secrets() {
    let cfg = json!({
        "api_keys": [{ "key": "super-secret-key", "name": "grafana" }],
        "jwt": { "hs256_secrets": [SECRET] }
    });
    let auth = Authenticator::from_json(&cfg.to_string(), Path::new("."), &[]).unwrap();
    let dbg = format!("{auth:?}");
    assert!(!dbg.contains("super-secret-key"), "{dbg}");
    assert!(!dbg.contains(SECRET), "{dbg}");
    assert!(dbg.contains("api-key:grafana"), "{dbg}");
}

// ---------------------------------------------------------------- HS256

#[test]
fn hs256_valid_token() {
    let auth = hs_auth();
    assert!(auth.accepts_jwt());
    let token = sign_hs256(
        SECRET.as_bytes(),
        &claims(json!({ "scope": "jans_stat reports:read" })),
    );
    let p = auth.authenticate(&bearer(&token)).unwrap();
    assert_eq!(p.subject, "user-1");
    assert!(p.has_scope("jans_stat") && p.has_scope("reports:read"));
    assert!(!p.has_scope("audit:write"));
    // Any configured secret.
    let token = sign_hs256(SECRET2.as_bytes(), &claims(json!({})));
    assert_eq!(
        auth.authenticate(&bearer(&token)).unwrap().subject,
        "user-1"
    );
}

#[test]
fn hs256_wrong_secret() {
    let token = sign_hs256(
        b"not-the-configured-secret-but-long-enough",
        &claims(json!({})),
    );
    assert_eq!(hs_auth().authenticate(&bearer(&token)), None);
}

#[test]
fn jwt_is_not_accepted_raw_or_without_jwt_config() {
    let token = sign_hs256(SECRET.as_bytes(), &claims(json!({})));
    assert_eq!(
        hs_auth().authenticate(&token),
        None,
        "raw values are API keys"
    );
    let keys_only = Authenticator::with_api_keys(&["k".into()]);
    assert_eq!(keys_only.authenticate(&bearer(&token)), None);
}

#[test]
fn expired_and_leeway() {
    let auth = hs_auth();
    let expired = sign_hs256(
        SECRET.as_bytes(),
        &json!({ "sub": "u", "exp": now() - 300 }),
    );
    assert_eq!(auth.authenticate(&bearer(&expired)), None);
    let within_leeway = sign_hs256(SECRET.as_bytes(), &json!({ "sub": "u", "exp": now() - 5 }));
    assert!(auth.authenticate(&bearer(&within_leeway)).is_some());
}

#[test]
fn exp_is_required_and_must_be_numeric() {
    let auth = hs_auth();
    for c in [
        json!({ "sub": "u" }),
        json!({ "sub": "u", "exp": "9999999999" }),
        json!({ "sub": "u", "exp": -1 }),
        json!({ "sub": "u", "exp": null }),
    ] {
        let t = sign_hs256(SECRET.as_bytes(), &c);
        assert_eq!(auth.authenticate(&bearer(&t)), None, "{c}");
    }
    // Huge and fractional values do not overflow.
    let t = sign_hs256(SECRET.as_bytes(), &json!({ "sub": "u", "exp": u64::MAX }));
    assert!(auth.authenticate(&bearer(&t)).is_some());
    let t = sign_hs256(
        SECRET.as_bytes(),
        &json!({ "sub": "u", "exp": (now() + 100) as f64 + 0.5 }),
    );
    assert!(auth.authenticate(&bearer(&t)).is_some());
    let t = sign_hs256(SECRET.as_bytes(), &json!({ "sub": "u", "exp": 1e300 }));
    assert_eq!(auth.authenticate(&bearer(&t)), None);
}

#[test]
fn not_yet_valid() {
    let auth = hs_auth();
    let t = sign_hs256(SECRET.as_bytes(), &claims(json!({ "nbf": now() + 300 })));
    assert_eq!(auth.authenticate(&bearer(&t)), None);
    let t = sign_hs256(SECRET.as_bytes(), &claims(json!({ "nbf": now() + 5 })));
    assert!(auth.authenticate(&bearer(&t)).is_some(), "within leeway");
    let t = sign_hs256(SECRET.as_bytes(), &claims(json!({ "nbf": now() - 5 })));
    assert!(auth.authenticate(&bearer(&t)).is_some());
    let t = sign_hs256(SECRET.as_bytes(), &claims(json!({ "nbf": u64::MAX })));
    assert_eq!(auth.authenticate(&bearer(&t)), None);
}

#[test]
fn alg_none_and_other_algs_are_rejected() {
    let auth = hs_auth();
    let body = b64(&claims(json!({ "scope": "*" })));
    for alg in ["none", "None", "NONE", ""] {
        let header = b64(&json!({ "alg": alg, "typ": "JWT" }));
        assert_eq!(
            auth.authenticate(&bearer(&format!("{header}.{body}."))),
            None,
            "{alg}"
        );
        assert_eq!(
            auth.authenticate(&bearer(&format!("{header}.{body}"))),
            None,
            "{alg}"
        );
    }
    let no_alg = b64(&json!({ "typ": "JWT" }));
    assert_eq!(
        auth.authenticate(&bearer(&format!("{no_alg}.{body}."))),
        None
    );
    // HS384/HS512 with a configured secret: still not accepted.
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let t = jsonwebtoken::encode(
            &Header::new(alg),
            &claims(json!({})),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(auth.authenticate(&bearer(&t)), None, "{alg:?}");
    }
    // Unknown critical header extensions.
    let mut h = Header::new(Algorithm::HS256);
    h.crit = Some(vec!["exp-ext".into()]);
    let t = jsonwebtoken::encode(
        &h,
        &claims(json!({})),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(auth.authenticate(&bearer(&t)), None);
}

#[test]
fn issuer_and_audience() {
    let auth = auth_with(json!({
        "hs256_secrets": [SECRET], "issuer": "https://idp.example", "audience": "authpulse"
    }));
    let ok = claims(json!({ "iss": "https://idp.example", "aud": "authpulse" }));
    assert!(auth
        .authenticate(&bearer(&sign_hs256(SECRET.as_bytes(), &ok)))
        .is_some());
    let ok_list = claims(json!({ "iss": "https://idp.example", "aud": ["other", "authpulse"] }));
    assert!(auth
        .authenticate(&bearer(&sign_hs256(SECRET.as_bytes(), &ok_list)))
        .is_some());
    for bad in [
        json!({ "iss": "https://evil.example", "aud": "authpulse" }),
        json!({ "aud": "authpulse" }),
        json!({ "iss": "https://idp.example", "aud": "other" }),
        json!({ "iss": "https://idp.example", "aud": ["other"] }),
        json!({ "iss": "https://idp.example" }),
        json!({ "iss": 7, "aud": "authpulse" }),
    ] {
        let t = sign_hs256(SECRET.as_bytes(), &claims(bad.clone()));
        assert_eq!(auth.authenticate(&bearer(&t)), None, "{bad}");
    }
    // Without an audience configured, `aud` is not checked.
    let t = sign_hs256(SECRET.as_bytes(), &claims(json!({ "aud": "whatever" })));
    assert!(hs_auth().authenticate(&bearer(&t)).is_some());
}

#[test]
fn subject_is_required() {
    let auth = hs_auth();
    let t = sign_hs256(SECRET.as_bytes(), &json!({ "exp": now() + 60 }));
    assert_eq!(auth.authenticate(&bearer(&t)), None);
    let t = sign_hs256(SECRET.as_bytes(), &json!({ "exp": now() + 60, "sub": "" }));
    assert_eq!(auth.authenticate(&bearer(&t)), None);
    let t = sign_hs256(
        SECRET.as_bytes(),
        &json!({ "exp": now() + 60, "client_id": "svc" }),
    );
    assert_eq!(auth.authenticate(&bearer(&t)).unwrap().subject, "svc");
}

// ---------------------------------------------------------------- RS256

#[test]
fn rs256_spki_and_pkcs1_public_keys() {
    for key in ["rsa_public.pem", "rsa_public_pkcs1.pem"] {
        let auth = auth_with(json!({ "rs256_public_keys": [key] }));
        let t = sign_rs256(
            &private_pem(),
            &claims(json!({ "permissions": ["stats:read"] })),
        );
        let p = auth
            .authenticate(&bearer(&t))
            .unwrap_or_else(|| panic!("{key}"));
        assert_eq!(p.subject, "user-1");
        assert!(p.has_scope("stats:read"));
        // Also via EncodingKey directly (the documented way).
        let enc = EncodingKey::from_rsa_pem(&private_pem()).unwrap();
        let t =
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims(json!({})), &enc).unwrap();
        assert!(auth.authenticate(&bearer(&t)).is_some());
        let expired = sign_rs256(&private_pem(), &json!({ "sub": "u", "exp": now() - 3600 }));
        assert_eq!(auth.authenticate(&bearer(&expired)), None);
    }
}

#[test]
fn rs256_wrong_key_and_alg_confusion() {
    let auth =
        auth_with(json!({ "rs256_public_keys": ["rsa_public.pem"], "hs256_secrets": [SECRET] }));
    let other = std::fs::read(testdata().join("other_private.pem")).unwrap();
    let t = sign_rs256(&other, &claims(json!({})));
    assert_eq!(auth.authenticate(&bearer(&t)), None);
    // HS256 signed with the public key as the HMAC secret.
    let public = std::fs::read(testdata().join("rsa_public.pem")).unwrap();
    let t = sign_hs256(&public, &claims(json!({})));
    assert_eq!(auth.authenticate(&bearer(&t)), None);
    // RS256 token when only HS256 is configured.
    let t = sign_rs256(&private_pem(), &claims(json!({})));
    assert_eq!(hs_auth().authenticate(&bearer(&t)), None);
    // Tampered payload.
    let good = sign_rs256(&private_pem(), &claims(json!({})));
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims(json!({ "scope": "*" }))),
        parts[2]
    );
    assert_eq!(auth.authenticate(&bearer(&forged)), None);
}

// ---------------------------------------------------------------- claims

fn principal(extra: Value) -> Option<Principal> {
    hs_auth().authenticate(&bearer(&sign_hs256(SECRET.as_bytes(), &claims(extra))))
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn scope_claim_shapes() {
    assert_eq!(principal(json!({})).unwrap().scopes, set(&[]));
    assert_eq!(
        principal(json!({ "scope": "a b  c" })).unwrap().scopes,
        set(&["a", "b", "c"])
    );
    assert_eq!(
        principal(json!({ "scopes": ["a", "b"] })).unwrap().scopes,
        set(&["a", "b"])
    );
    assert_eq!(
        principal(json!({ "permissions": ["audit:read"] }))
            .unwrap()
            .scopes,
        set(&["audit:read"])
    );
    assert_eq!(
        principal(json!({ "scp": ["x"] })).unwrap().scopes,
        set(&["x"])
    );
    let union = principal(json!({
        "scope": "jans_stat reports:read", "scopes": ["stats:read"], "permissions": ["audit:write", "jans_stat"]
    }))
    .unwrap();
    assert_eq!(
        union.scopes,
        set(&["audit:write", "jans_stat", "reports:read", "stats:read"])
    );
    assert_eq!(
        principal(json!({ "scope": null })).unwrap().scopes,
        set(&[])
    );
    for bad in [
        json!({ "scope": 5 }),
        json!({ "scopes": [1] }),
        json!({ "permissions": { "a": 1 } }),
    ] {
        assert_eq!(principal(bad.clone()), None, "{bad}");
    }
}

#[test]
fn org_claim_shapes() {
    let p =
        principal(json!({ "orgs": { "acme": "Owner", "globex": "member", "initech": "ADMIN" } }))
            .unwrap();
    assert_eq!(p.role_in("acme"), Some(Role::Owner));
    assert_eq!(p.role_in("globex"), Some(Role::Member));
    assert_eq!(p.role_in("initech"), Some(Role::Admin));
    assert_eq!(p.role_in("umbrella"), None);

    let p = principal(json!({ "orgs": [
        { "slug": "acme", "role": "Admin" },
        { "slug": "globex", "role": "member" },
        { "slug": "acme", "role": "owner" },
        { "slug": "hooli", "role": "Janitor" }
    ] }))
    .unwrap();
    assert_eq!(p.role_in("acme"), Some(Role::Owner), "strongest role wins");
    assert_eq!(p.role_in("globex"), Some(Role::Member));
    assert_eq!(p.role_in("hooli"), None, "unknown roles are skipped");

    let p = principal(json!({ "orgs": { "acme": "superuser" } })).unwrap();
    assert!(p.memberships.is_empty());

    for bad in [
        json!({ "orgs": "acme" }),
        json!({ "orgs": { "acme": 1 } }),
        json!({ "orgs": [{ "slug": "acme" }] }),
        json!({ "orgs": [{ "role": "Admin" }] }),
        json!({ "orgs": ["acme"] }),
    ] {
        assert_eq!(principal(bad.clone()), None, "{bad}");
    }
}

#[test]
fn role_parsing() {
    assert_eq!(Role::parse(" OWNER "), Some(Role::Owner));
    assert_eq!(Role::parse("Admin"), Some(Role::Admin));
    assert_eq!(Role::parse("member"), Some(Role::Member));
    assert_eq!(Role::parse("members"), None);
    assert_eq!(Role::Member.stronger(Role::Admin), Role::Admin);
    assert_eq!(Role::Owner.stronger(Role::Member), Role::Owner);
    assert_eq!(Role::Admin.to_string(), "Admin");
}

// ---------------------------------------------------------------- config

fn config_err(cfg: Value) -> String {
    match Authenticator::from_json(&cfg.to_string(), &testdata(), &[]) {
        Ok(_) => panic!("accepted: {cfg}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_err(cfg: Value, needle: &str) {
    let e = config_err(cfg);
    assert!(
        e.contains(needle),
        "error {e:?} does not contain {needle:?}"
    );
}

#[test]
fn config_errors_name_the_field() {
    assert_err(
        json!({ "api_keys": [{ "key": "k", "scope": ["a"] }] }),
        "api_keys[0].scope: unknown field `scope`",
    );
    assert_err(
        json!({ "api_keys": [{ "key": "k", "scopes": "a" }] }),
        "api_keys[0].scopes",
    );
    assert_err(
        json!({ "api_keys": [{ "scopes": [] }] }),
        "missing field `key`",
    );
    assert_err(
        json!({ "api_keys": [{ "key": "" }] }),
        "api_keys[0].key: is empty",
    );
    assert_err(
        json!({ "api_keys": [{ "key": "a b" }] }),
        "api_keys[0].key: may only contain",
    );
    assert_err(
        json!({ "api_keys": [{ "key": "a.b.c" }] }),
        "api_keys[0].key: contains two or more dots",
    );
    assert_err(
        json!({ "api_keys": [{ "key": "k1" }, { "key": "k1" }] }),
        "api_keys[1].key: duplicates api_keys[0].key",
    );
    assert_err(
        json!({ "api_keys": [{ "key": "k1", "name": "x" }, { "key": "k2", "name": "x" }] }),
        "api_keys[1].name",
    );
    assert_err(
        json!({ "api_keys": [{ "key": "k", "scopes": ["a b"] }] }),
        "api_keys[0].scopes[0]",
    );
    assert_err(
        json!({ "api_keys": [{ "key": "k", "memberships": { "acme": "Boss" } }] }),
        "api_keys[0].memberships.acme: unknown role \"Boss\"",
    );
    assert_err(
        json!({ "jwt": { "hs256_secret": [SECRET] } }),
        "jwt.hs256_secret: unknown field `hs256_secret`",
    );
    assert_err(
        json!({ "jwt": { "hs256_secrets": ["short"] } }),
        "jwt.hs256_secrets[0]: secret is 5 bytes",
    );
    assert_err(json!({ "jwt": {} }), "jwt: give at least one of");
    assert_err(
        json!({ "jwt": { "hs256_secrets": [SECRET], "leeway_seconds": -1 } }),
        "jwt.leeway_seconds",
    );
    assert_err(
        json!({ "jwt": { "hs256_secrets": [SECRET], "leeway_seconds": 1e12 as u64 } }),
        "jwt.leeway_seconds",
    );
    assert_err(
        json!({ "jwt": { "hs256_secrets": [SECRET], "issuer": "" } }),
        "jwt.issuer",
    );
    assert_err(
        json!({ "jwt": { "hs256_secrets": [SECRET], "audience": 3 } }),
        "jwt.audience",
    );
    assert_err(
        json!({ "jwt": { "rs256_public_keys": ["missing.pem"] } }),
        "jwt.rs256_public_keys[0]: cannot read",
    );
    assert_err(
        json!({ "jwt": { "rs256_public_keys": ["rsa_private.pem"] } }),
        "is a private key",
    );
    assert_err(
        json!({ "jwt": { "rs256_public_keys": ["README.md"] } }),
        "holds no PEM block",
    );
    assert_err(json!({ "unknown": 1 }), "unknown: unknown field `unknown`");
    assert_err(json!({}), "no credentials configured");
    assert_err(json!([]), "invalid auth config");

    let e = Authenticator::from_json("{ \"api_keys\": [", Path::new("."), &[]).unwrap_err();
    assert!(e.contains("EOF"), "{e}");
    let e = Authenticator::from_json(
        &json!({ "api_keys": [{ "key": "k" }] }).to_string(),
        Path::new("."),
        &["k".into()],
    )
    .unwrap_err();
    assert!(
        e.contains("extra API key #1 (--api-key): duplicates api_keys[0].key"),
        "{e}"
    );
}

#[test]
fn config_pem_checks() {
    let dir = scratch_dir();
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
    )
    .unwrap();
    let two = dir.join("two.pem");
    let pubkey = std::fs::read_to_string(testdata().join("rsa_public.pem")).unwrap();
    std::fs::write(&two, format!("{pubkey}{pubkey}")).unwrap();
    let cert = dir.join("cert.pem");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (path, needle) in [
        (&garbage, "not"),
        (&two, "2 PEM blocks"),
        (&cert, "is a certificate"),
    ] {
        let cfg = json!({ "jwt": { "rs256_public_keys": [path] } });
        let e = Authenticator::from_json(&cfg.to_string(), Path::new("."), &[]).unwrap_err();
        assert!(
            e.starts_with("jwt.rs256_public_keys[0]: ") && e.contains(needle),
            "{e}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "authpulse-auth-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn from_file_resolves_pem_paths_relative_to_the_file() {
    let dir = scratch_dir();
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::copy(testdata().join("rsa_public.pem"), dir.join("keys/idp.pem")).unwrap();
    let cfg = json!({
        "api_keys": [{ "key": "grafana-key", "name": "grafana", "scopes": ["reports:read"], "memberships": { "acme": "Admin" } }],
        "jwt": {
            "hs256_secrets": [SECRET],
            "rs256_public_keys": ["keys/idp.pem"],
            "issuer": "https://idp.example",
            "audience": "authpulse",
            "leeway_seconds": 30
        }
    });
    let path = dir.join("auth.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let auth = Authenticator::from_file(&path, &["demo-key".into()]).unwrap();
    assert_eq!(auth.api_key_count(), 2);
    let t = sign_rs256(
        &private_pem(),
        &claims(
            json!({ "iss": "https://idp.example", "aud": "authpulse", "orgs": [{ "slug": "acme", "role": "owner" }] }),
        ),
    );
    assert_eq!(
        auth.authenticate(&bearer(&t)).unwrap().role_in("acme"),
        Some(Role::Owner)
    );
    assert!(auth.authenticate("demo-key").unwrap().has_scope("org:read"));

    let e = Authenticator::from_file(&dir.join("nope.json"), &[]).unwrap_err();
    assert!(e.contains("cannot read"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

// ---------------------------------------------------------------- robustness

#[test]
fn garbage_headers_never_panic() {
    let auth = Authenticator::from_json(
        &json!({
            "api_keys": [{ "key": "k" }],
            "jwt": { "hs256_secrets": [SECRET], "rs256_public_keys": ["rsa_public.pem"] }
        })
        .to_string(),
        &testdata(),
        &[],
    )
    .unwrap();
    let valid = sign_hs256(SECRET.as_bytes(), &claims(json!({})));
    let mut inputs: Vec<String> = vec![
        String::new(),
        " ".into(),
        "Bearer".into(),
        "Bearer ".into(),
        "Bearer  ".into(),
        "Bearer\t".into(),
        "Bearé x".into(),
        "Bearer ..".into(),
        "Bearer ...".into(),
        "Bearer a.b.c".into(),
        "Bearer a.b.c.d.e".into(),
        "Bearer ....................".into(),
        "Bearer ey.ey.ey".into(),
        "Bearer 日本語.日本語.日本語".into(),
        "Bearer 🦀🦀🦀.🦀.🦀".into(),
        "ü".into(),
        "Beü".into(),
        "Bearer\u{0}x.y.z".into(),
        "\u{feff}Bearer k".into(),
        format!("Bearer {}", "A".repeat(MAX_CREDENTIAL_LEN + 10)),
        format!(
            "Bearer {}.{}.{}",
            "e".repeat(300_000),
            "e".repeat(300_000),
            "e".repeat(10)
        ),
        "x".repeat(2_000_000),
        format!("Bearer {}", &valid[..valid.len() - 1]),
        format!("Bearer {valid}x"),
        format!("Bearer {valid}.extra"),
        format!("Bearer {}", valid.replace('.', "..")),
        format!("Bearer {}", valid.chars().rev().collect::<String>()),
        format!(
            "Bearer {}.{}.",
            b64(&json!({ "alg": "HS256" })),
            b64(&json!([1, 2]))
        ),
        format!(
            "Bearer {}.{}.AAAA",
            b64(&json!({ "alg": "RS256" })),
            b64(&json!("str"))
        ),
        format!("Bearer {}.{}.{}", b64(&json!("x")), b64(&json!({})), "%%%"),
        format!(
            "Bearer {}.{}.sig",
            b64(&json!({ "alg": "HS256", "crit": 5 })),
            b64(&json!({}))
        ),
        format!(
            "Bearer {}.{}.sig",
            b64(&json!({ "alg": "RS256", "kid": "\u{1f980}" })),
            b64(&json!({}))
        ),
    ];
    // Deterministic pseudo-random strings over a mixed alphabet.
    let alphabet: Vec<char> = "aZ09-_.= \t+/ü日🦀\u{0}\u{7f}Bearer".chars().collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..400 {
        let mut s = String::from(if len % 2 == 0 { "Bearer " } else { "" });
        for _ in 0..(len % 97) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        inputs.push(s);
    }
    for input in &inputs {
        assert_eq!(
            auth.authenticate(input),
            None,
            "{:?}",
            input.chars().take(80).collect::<String>()
        );
    }
    assert!(auth.authenticate(&bearer(&valid)).is_some());
}

// ---------------------------------------------------------------- extractor

async fn extract(auth: &Arc<Authenticator>, header: Option<&str>) -> Result<Principal, ApiError> {
    let mut req = axum::http::Request::builder().uri("/");
    if let Some(h) = header {
        req = req.header(axum::http::header::AUTHORIZATION, h);
    }
    let (mut parts, ()) = req.body(()).unwrap().into_parts();
    Auth::from_request_parts(&mut parts, auth)
        .await
        .map(|Auth(p)| p)
}

#[tokio::test]
async fn extractor_401_and_ok() {
    use axum::response::IntoResponse;
    let auth = Arc::new(hs_auth());
    let token = sign_hs256(SECRET.as_bytes(), &claims(json!({ "scope": "jans_stat" })));
    let p = extract(&auth, Some(&bearer(&token))).await.unwrap();
    assert!(p.has_scope("jans_stat"));
    for h in [None, Some("Bearer nope"), Some("nope")] {
        let e = extract(&auth, h).await.unwrap_err();
        assert!(matches!(e, ApiError::Unauthorized));
        assert_eq!(
            e.into_response().status(),
            axum::http::StatusCode::UNAUTHORIZED
        );
    }
    // Non-visible-ASCII header bytes.
    let mut parts = axum::http::Request::builder()
        .header(
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderValue::from_bytes(b"\xffkey").unwrap(),
        )
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert!(matches!(
        Auth::from_request_parts(&mut parts, &auth).await,
        Err(ApiError::Unauthorized)
    ));
}
