//! The auth config file (JSON). Every error names the offending field, e.g.
//! `api_keys[1].memberships.acme: unknown role "Boss" (expected Owner, Admin or Member)`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::jwt::{load_rsa_public_key, JwtSettings, JwtVerifier};
use super::{all_scope_principal, looks_like_jwt, Principal, Role};

/// HS256 secrets shorter than this are refused (RFC 7518 §3.2: a key of the
/// same size as the hash output, 256 bits, or larger MUST be used).
pub const MIN_HS256_SECRET_LEN: usize = 32;
/// Upper bound for `jwt.leeway_seconds` (one day).
pub const MAX_LEEWAY_SECONDS: u64 = 86_400;
const DEFAULT_LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    api_keys: Vec<ApiKeyConfig>,
    #[serde(default)]
    jwt: Option<JwtConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyConfig {
    key: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    memberships: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtConfig {
    #[serde(default)]
    hs256_secrets: Vec<String>,
    #[serde(default)]
    rs256_public_keys: Vec<PathBuf>,
    #[serde(default)]
    issuer: Option<OneOrMany>,
    #[serde(default)]
    audience: Option<OneOrMany>,
    #[serde(default = "default_leeway")]
    leeway_seconds: u64,
}

fn default_leeway() -> u64 {
    DEFAULT_LEEWAY_SECONDS
}

/// `"x"` or `["x", "y"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// The checked content of a config file.
pub(super) struct Parsed {
    /// (key, principal)
    pub api_keys: Vec<(String, Principal)>,
    pub jwt: Option<JwtVerifier>,
}

pub(super) fn parse(json: &str, base_dir: &Path, extra_keys: &[String]) -> Result<Parsed, String> {
    // serde would also take a struct from a JSON array (fields by position).
    let json = json.strip_prefix('\u{feff}').unwrap_or(json);
    let first = json.trim_start().chars().next();
    if first.is_some_and(|c| c != '{') {
        return Err("invalid auth config: expected a JSON object".into());
    }
    let de = &mut serde_json::Deserializer::from_str(json);
    let file: FileConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            format!("invalid auth config: {}", e.inner())
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;

    let mut api_keys: Vec<(String, Principal)> = Vec::new();
    // key → where it was defined, to report duplicates.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();

    for (i, k) in file.api_keys.into_iter().enumerate() {
        let field = format!("api_keys[{i}]");
        check_key(&k.key).map_err(|e| format!("{field}.key: {e}"))?;
        if let Some(prev) = seen.get(&k.key) {
            return Err(format!("{field}.key: duplicates {prev}.key"));
        }
        let subject = match &k.name {
            Some(name) => {
                let name = name.trim();
                if name.is_empty() {
                    return Err(format!("{field}.name: is empty (leave it out instead)"));
                }
                if let Some(j) = names.insert(name.to_string(), i) {
                    return Err(format!(
                        "{field}.name: {name:?} is already used by api_keys[{j}]"
                    ));
                }
                format!("api-key:{name}")
            }
            None => all_scope_principal(&k.key).subject,
        };
        let mut scopes = BTreeSet::new();
        for (j, s) in k.scopes.iter().enumerate() {
            check_scope(s).map_err(|e| format!("{field}.scopes[{j}]: {e}"))?;
            scopes.insert(s.clone());
        }
        let mut memberships = BTreeMap::new();
        for (slug, role) in &k.memberships {
            if slug.trim().is_empty() || slug.trim() != slug {
                return Err(format!(
                    "{field}.memberships: org slug {slug:?} is empty or has surrounding spaces"
                ));
            }
            let role = Role::parse(role).ok_or_else(|| {
                format!("{field}.memberships.{slug}: unknown role {role:?} (expected Owner, Admin or Member)")
            })?;
            memberships.insert(slug.clone(), role);
        }
        seen.insert(k.key.clone(), field);
        api_keys.push((
            k.key,
            Principal {
                subject,
                scopes,
                memberships,
            },
        ));
    }

    for (i, key) in extra_keys.iter().enumerate() {
        if key.is_empty() {
            continue;
        }
        let field = format!("extra API key #{} (--api-key)", i + 1);
        check_key(key).map_err(|e| format!("{field}: {e}"))?;
        if let Some(prev) = seen.get(key) {
            return Err(format!("{field}: duplicates {prev}.key"));
        }
        seen.insert(key.clone(), field);
        api_keys.push((key.clone(), all_scope_principal(key)));
    }

    let jwt = match file.jwt {
        Some(j) => Some(jwt_verifier(j, base_dir)?),
        None => None,
    };

    if api_keys.is_empty() && jwt.is_none() {
        return Err("no credentials configured: give api_keys, jwt, or --api-key".into());
    }
    Ok(Parsed { api_keys, jwt })
}

fn jwt_verifier(j: JwtConfig, base_dir: &Path) -> Result<JwtVerifier, String> {
    let mut hs256 = Vec::new();
    for (i, s) in j.hs256_secrets.iter().enumerate() {
        if s.len() < MIN_HS256_SECRET_LEN {
            return Err(format!(
                "jwt.hs256_secrets[{i}]: secret is {} bytes, at least {MIN_HS256_SECRET_LEN} are required",
                s.len()
            ));
        }
        hs256.push(s.as_bytes().to_vec());
    }
    let mut rs256 = Vec::new();
    for (i, p) in j.rs256_public_keys.iter().enumerate() {
        let path = if p.is_absolute() {
            p.clone()
        } else {
            base_dir.join(p)
        };
        let key =
            load_rsa_public_key(&path).map_err(|e| format!("jwt.rs256_public_keys[{i}]: {e}"))?;
        rs256.push(key);
    }
    if hs256.is_empty() && rs256.is_empty() {
        return Err("jwt: give at least one of hs256_secrets or rs256_public_keys".into());
    }
    let issuers = non_empty_list(j.issuer, "jwt.issuer")?;
    let audiences = non_empty_list(j.audience, "jwt.audience")?;
    if j.leeway_seconds > MAX_LEEWAY_SECONDS {
        return Err(format!(
            "jwt.leeway_seconds: {} is more than the maximum {MAX_LEEWAY_SECONDS}",
            j.leeway_seconds
        ));
    }
    Ok(JwtVerifier::new(JwtSettings {
        hs256_secrets: hs256,
        rs256_keys: rs256,
        issuers,
        audiences,
        leeway_seconds: j.leeway_seconds,
    }))
}

fn non_empty_list(v: Option<OneOrMany>, field: &str) -> Result<Vec<String>, String> {
    let list = v.map(OneOrMany::into_vec).unwrap_or_default();
    if let Some(i) = list.iter().position(|s| s.trim().is_empty()) {
        return Err(format!("{field}: entry {i} is empty"));
    }
    Ok(list)
}

/// API keys must be sendable as a header value and recognisable as keys.
fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("is empty".into());
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("may only contain visible ASCII characters (no spaces)".into());
    }
    if looks_like_jwt(key) {
        return Err("contains two or more dots, so `Bearer <key>` would be taken for a JWT".into());
    }
    if key.len() > super::MAX_CREDENTIAL_LEN {
        return Err("is too long".into());
    }
    Ok(())
}

fn check_scope(scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Err("is empty".into());
    }
    if scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{scope:?} contains whitespace"));
    }
    Ok(())
}
