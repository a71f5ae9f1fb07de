//! Every fixture (a payload in the shape the vendor documents) maps to the
//! contract events listed by hand in its directory's `expected.json`, and
//! every row of every mapping table has a fixture.

use std::collections::BTreeMap;
use std::path::PathBuf;

use authpulse_collector::sources::{self, auth0, fusionauth, keycloak};
use authpulse_collector::{prepare, Orgs, Source};
use serde_json::Value;

fn dir(source: Source) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(source.name())
}

fn expected(source: Source) -> BTreeMap<String, Vec<String>> {
    serde_json::from_slice(&std::fs::read(dir(source).join("expected.json")).unwrap()).unwrap()
}

/// `type[:action-or-outcome]` of a contract event, as expected.json spells it.
fn describe(e: &Value) -> String {
    let d = &e["data"];
    match e["type"].as_str().unwrap() {
        "login" => format!(
            "login:{}",
            if d["success"] == true {
                "success"
            } else {
                "failure"
            }
        ),
        "token" => "token".into(),
        t => format!("{t}:{}", d["action"].as_str().unwrap()),
    }
}

#[test]
fn fixtures_map_as_expected() {
    let orgs = Orgs::default();
    for source in Source::ALL {
        let want = expected(source);
        assert!(!want.is_empty());
        for (file, kinds) in &want {
            let body = std::fs::read(dir(source).join(file)).unwrap();
            let p = prepare(source, &body, &orgs, 10)
                .unwrap_or_else(|e| panic!("{source}/{file}: {e}"));
            let got: Vec<String> = p
                .records
                .iter()
                .map(|r| describe(&serde_json::from_slice(&r.payload).unwrap()))
                .chain(p.skipped.iter().map(|s| {
                    assert_eq!(s.reason, "unmapped_type", "{source}/{file}: {}", s.detail);
                    "skip".to_string()
                }))
                .collect();
            assert_eq!(&got, kinds, "{source}/{file}");
            // The same payload always yields the same ids.
            let again = prepare(source, &body, &orgs, 10).unwrap();
            let ids = |p: &authpulse_collector::Prepared| {
                p.records.iter().map(|r| r.key.clone()).collect::<Vec<_>>()
            };
            assert_eq!(ids(&p), ids(&again));
        }
    }
}

#[test]
fn every_mapped_type_has_a_fixture() {
    let tables: [(Source, Vec<&str>); 3] = [
        (
            Source::FusionAuth,
            fusionauth::TABLE.iter().map(|r| r.0).collect(),
        ),
        (
            Source::Keycloak,
            keycloak::TABLE.iter().map(|r| r.0).collect(),
        ),
        (Source::Auth0, auth0::TABLE.iter().map(|r| r.0).collect()),
    ];
    for (source, types) in tables {
        let have = expected(source);
        for t in types {
            assert!(
                have.contains_key(&format!("{t}.json")),
                "{source}: no fixture for {t}"
            );
        }
    }
    let admin = expected(Source::Keycloak);
    for (op, _) in keycloak::ADMIN_VERBS {
        assert!(
            admin
                .keys()
                .any(|k| k.starts_with("admin-") && k.contains(op)),
            "keycloak: no admin fixture for {op}"
        );
    }
}

#[test]
fn ids_and_orgs_follow_the_source() {
    let orgs =
        Orgs::from_specs(&["keycloak:acme=7f3e2a10-5b4c-4d8e-9f01-23456789abcd:acme"]).unwrap();
    let body = std::fs::read(dir(Source::Keycloak).join("LOGIN.json")).unwrap();
    let p = prepare(Source::Keycloak, &body, &orgs, 10).unwrap();
    let e: Value = serde_json::from_slice(&p.records[0].payload).unwrap();
    assert_eq!(e["org"]["slug"], "acme");
    assert_eq!(
        e["id"],
        authpulse_collector::ids::event_id(
            "keycloak",
            "5d1f8b0e-2c3a-4b5d-8e6f-7a8b9c0d0001",
            "login"
        )
        .to_string()
    );
    assert_eq!(e["data"]["login_id"], "jane");
    assert_eq!(
        e["data"]["session_id"],
        "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
    );
    // Auth0 ids are not UUIDs: derived, stable.
    let body = std::fs::read(dir(Source::Auth0).join("s.json")).unwrap();
    let p = prepare(Source::Auth0, &body, &orgs, 10).unwrap();
    let e: Value = serde_json::from_slice(&p.records[0].payload).unwrap();
    assert_eq!(
        e["data"]["user_id"],
        authpulse_collector::ids::as_uuid("auth0", "user", "auth0|65f0c0ffee0123456789abcd")
            .to_string()
    );
    assert_eq!(e["data"]["provider"], "password");
    assert_eq!(e["org"]["slug"], "auth0-acme-prod");
    // A FusionAuth tenant id is a UUID: it is the org id.
    let body = std::fs::read(dir(Source::FusionAuth).join("user.login.success.json")).unwrap();
    let p = prepare(Source::FusionAuth, &body, &orgs, 10).unwrap();
    let e: Value = serde_json::from_slice(&p.records[0].payload).unwrap();
    assert_eq!(e["org"]["id"], "30663132-6464-6665-3032-326466613934");
    assert_eq!(e["data"]["ip"], "42.42.42.42");
}

#[test]
fn wrong_vendor_shapes_are_refused() {
    let orgs = Orgs::default();
    let fa = std::fs::read(dir(Source::FusionAuth).join("user.login.success.json")).unwrap();
    let a0 = std::fs::read(dir(Source::Auth0).join("s.json")).unwrap();
    for (source, body) in [
        (Source::Auth0, &fa),
        (Source::FusionAuth, &a0),
        (Source::Keycloak, &fa),
    ] {
        let e = prepare(source, body, &orgs, 10).unwrap_err();
        assert_eq!(e.code, format!("not_{}_event", source.name()), "{e}");
    }
}

#[test]
fn docs_list_every_mapped_type() {
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/sources");
    let tables: [(Source, Vec<(&str, sources::To)>); 3] = [
        (Source::FusionAuth, fusionauth::TABLE.to_vec()),
        (Source::Keycloak, keycloak::TABLE.to_vec()),
        (Source::Auth0, auth0::TABLE.to_vec()),
    ];
    for (source, rows) in tables {
        let text = std::fs::read_to_string(docs.join(format!("{}.md", source.name()))).unwrap();
        for (t, to) in rows {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("| `{t}` |")))
                .unwrap_or_else(|| panic!("docs/sources/{source}.md has no row for {t}"));
            for kind in to.kinds() {
                assert!(
                    line.contains(kind),
                    "docs/sources/{source}.md: {t} should say {kind}"
                );
            }
        }
    }
}

#[test]
fn mapped_type_that_cannot_form_a_contract_event_is_skipped_with_the_reason() {
    let body = br#"{"event":{"id":"e502168a-b469-45d9-a079-fd45f83e9999","type":"user.login.success","createInstant":1773133200000,"tenantId":"30663132-6464-6665-3032-326466613934"}}"#;
    let p = prepare(Source::FusionAuth, body, &Orgs::default(), 10).unwrap();
    assert!(p.records.is_empty());
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(p.skipped[0].reason, "invalid_mapped_event");
    assert!(
        p.skipped[0]
            .detail
            .starts_with("login: contract violation: data."),
        "{}",
        p.skipped[0].detail
    );
}

#[test]
fn truncated_or_mangled_fixtures_never_panic() {
    let orgs = Orgs::default();
    for source in Source::ALL {
        for file in expected(source).keys() {
            let body = std::fs::read(dir(source).join(file)).unwrap();
            for cut in (0..body.len()).step_by(5) {
                for s in Source::ALL {
                    let _ = prepare(s, &body[..cut], &orgs, 10);
                }
            }
            // Every string value replaced by a number, every number by a string.
            let text = String::from_utf8(body.clone()).unwrap();
            let swapped = text
                .replace("\": \"", "\": 1, \"x\": \"")
                .replace(": 1", ": \"1\"");
            for s in Source::ALL {
                let _ = prepare(s, swapped.as_bytes(), &orgs, 10);
            }
        }
    }
}
