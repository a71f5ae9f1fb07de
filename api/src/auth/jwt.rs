//! JWT bearer tokens: HS256 and RS256 only (never `none`), `exp` required,
//! `nbf` honoured, optional issuer/audience checks; claims become a
//! [`Principal`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use jsonwebtoken::crypto::{rust_crypto, CryptoProvider};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use super::{Principal, Role};

/// RSA keys with a shorter modulus are refused.
pub const MIN_RSA_BITS: usize = 2048;

/// Selects the pure-Rust crypto backend for the whole process (a no-op
/// when a provider is already installed). Without this, a second crate
/// enabling jsonwebtoken's `aws_lc_rs` feature would make every verification
/// panic.
fn ensure_crypto_provider() {
    let _ = CryptoProvider::install_default(&rust_crypto::DEFAULT_PROVIDER);
}

/// What the config file says about JWTs (already checked).
pub(super) struct JwtSettings {
    pub hs256_secrets: Vec<Vec<u8>>,
    pub rs256_keys: Vec<DecodingKey>,
    /// Empty: `iss` is not checked.
    pub issuers: Vec<String>,
    /// Empty: `aud` is not checked.
    pub audiences: Vec<String>,
    pub leeway_seconds: u64,
}

pub(super) struct JwtVerifier {
    hs256: Vec<DecodingKey>,
    rs256: Vec<DecodingKey>,
    hs256_validation: Validation,
    rs256_validation: Validation,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway_seconds: u64,
}

impl fmt::Debug for JwtVerifier {
    // Secrets are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("hs256_secrets", &self.hs256.len())
            .field("rs256_public_keys", &self.rs256.len())
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}

impl JwtVerifier {
    pub(super) fn new(s: JwtSettings) -> JwtVerifier {
        ensure_crypto_provider();
        JwtVerifier {
            hs256: s
                .hs256_secrets
                .iter()
                .map(|k| DecodingKey::from_secret(k))
                .collect(),
            rs256: s.rs256_keys,
            hs256_validation: validation(
                Algorithm::HS256,
                &s.issuers,
                &s.audiences,
                s.leeway_seconds,
            ),
            rs256_validation: validation(
                Algorithm::RS256,
                &s.issuers,
                &s.audiences,
                s.leeway_seconds,
            ),
            issuers: s.issuers,
            audiences: s.audiences,
            leeway_seconds: s.leeway_seconds,
        }
    }

    /// The principal of a valid token; `None` (logged at debug level, the
    /// token itself never) for anything else.
    pub(super) fn verify(&self, token: &str) -> Option<Principal> {
        let result = self
            .verify_claims(token)
            .and_then(|c| principal_from_claims(&c));
        match result {
            Ok(p) => Some(p),
            Err(reason) => {
                tracing::debug!(%reason, "bearer JWT rejected");
                None
            }
        }
    }

    fn verify_claims(&self, token: &str) -> Result<Map<String, Value>, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        if header.crit.is_some() {
            return Err("the `crit` header parameter is not supported".into());
        }
        let (keys, validation) = match header.alg {
            Algorithm::HS256 => (&self.hs256, &self.hs256_validation),
            Algorithm::RS256 => (&self.rs256, &self.rs256_validation),
            other => return Err(format!("algorithm {other:?} is not accepted")),
        };
        if keys.is_empty() {
            return Err(format!("no {:?} keys are configured", header.alg));
        }
        // Try every key of the family; report the most telling failure.
        let mut reason = String::from("signature does not match any configured key");
        for key in keys {
            match jsonwebtoken::decode::<Map<String, Value>>(token, key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
                Err(e) => reason = e.to_string(),
            }
        }
        Err(reason)
    }
}

fn validation(alg: Algorithm, issuers: &[String], audiences: &[String], leeway: u64) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = leeway;
    v.validate_exp = true;
    v.validate_nbf = true;
    let mut required = vec!["exp"];
    if !issuers.is_empty() {
        v.set_issuer(issuers);
        required.push("iss");
    }
    if audiences.is_empty() {
        v.validate_aud = false;
    } else {
        v.set_audience(audiences);
        required.push("aud");
    }
    v.set_required_spec_claims(&required);
    v
}

/// Maps verified claims to a principal:
/// - subject: `sub` (or, for client-credentials tokens without one, `client_id`);
/// - scopes: union of `scope` / `scp` (space-separated string or array) and
///   `scopes` / `permissions` (array or space-separated string);
/// - memberships: `orgs`, either `{"acme": "Owner"}` or
///   `[{"slug": "acme", "role": "Admin"}]`; roles are case-insensitive, and
///   entries with an unknown role are skipped.
///
/// A recognised claim of the wrong JSON type makes the token invalid.
pub fn principal_from_claims(claims: &Map<String, Value>) -> Result<Principal, String> {
    let subject = ["sub", "client_id"]
        .iter()
        .find_map(|c| {
            claims
                .get(*c)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
        })
        .ok_or("token has no `sub` claim")?
        .to_string();

    let mut scopes = BTreeSet::new();
    for name in ["scope", "scp", "scopes", "permissions"] {
        match claims.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => scopes.extend(s.split_whitespace().map(str::to_string)),
            Some(Value::Array(items)) => {
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| format!("`{name}` claim has a non-string entry"))?;
                    scopes.extend(s.split_whitespace().map(str::to_string));
                }
            }
            Some(_) => return Err(format!("`{name}` claim is neither a string nor an array")),
        }
    }

    let mut memberships: BTreeMap<String, Role> = BTreeMap::new();
    let mut add = |slug: &str, role: &str| {
        if slug.is_empty() {
            return;
        }
        match Role::parse(role) {
            Some(r) => {
                let r = memberships.get(slug).map_or(r, |old| old.stronger(r));
                memberships.insert(slug.to_string(), r);
            }
            None => tracing::debug!(slug, role, "org membership with unknown role ignored"),
        }
    };
    match claims.get("orgs") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (slug, role) in map {
                let role = role
                    .as_str()
                    .ok_or_else(|| format!("`orgs.{slug}` is not a role string"))?;
                add(slug, role);
            }
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let field = |f: &str| {
                    item.get(f)
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("`orgs[{i}]` has no string `{f}`"))
                };
                add(field("slug")?, field("role")?);
            }
        }
        Some(_) => return Err("`orgs` claim is neither an object nor an array".into()),
    }

    Ok(Principal {
        subject,
        scopes,
        memberships,
    })
}

/// Reads an RSA public key PEM file: SPKI (`PUBLIC KEY`) or PKCS#1
/// (`RSA PUBLIC KEY`), one key per file, at least [`MIN_RSA_BITS`] bits.
pub(super) fn load_rsa_public_key(path: &Path) -> Result<DecodingKey, String> {
    ensure_crypto_provider();
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("{shown} is not a PEM file"))?;
    let tags: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .collect();
    let tag = match tags.as_slice() {
        [] => return Err(format!("{shown} holds no PEM block")),
        [tag] => *tag,
        more => {
            return Err(format!(
                "{shown} holds {} PEM blocks; give one public key per file",
                more.len()
            ))
        }
    };
    let problem = match tag {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => None,
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
            Some("is a private key; give the public key (openssl rsa -in KEY -pubout)".to_string())
        }
        "CERTIFICATE" => Some(
            "is a certificate; give its public key (openssl x509 -in CERT -pubkey -noout)"
                .to_string(),
        ),
        other => Some(format!(
            "has unsupported PEM type {other:?} (expected PUBLIC KEY or RSA PUBLIC KEY)"
        )),
    };
    if let Some(problem) = problem {
        return Err(format!("{shown} {problem}"));
    }
    let key = DecodingKey::from_rsa_pem(&bytes)
        .map_err(|e| format!("{shown} is not an RSA public key: {e}"))?;
    // Parses the key material now rather than at the first request.
    let jwk = Jwk::from_decoding_key(&key, Some(Algorithm::RS256))
        .map_err(|e| format!("{shown} is not a valid RSA public key: {e}"))?;
    if let AlgorithmParameters::RSA(rsa) = &jwk.algorithm {
        // base64url without padding: 4 characters per 3 bytes.
        let bits = rsa.n.trim_end_matches('=').len() * 6 / 8 * 8;
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "{shown}: RSA key of {bits} bits, at least {MIN_RSA_BITS} are required"
            ));
        }
    }
    Ok(key)
}

/// Mints an HS256 JWT with `claims` (a JSON object). A helper for tests and
/// tools, e.g. end-to-end tests that need a token for a configured
/// `jwt.hs256_secrets` entry; the service itself never issues tokens.
pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    ensure_crypto_provider();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing does not fail")
}

/// Mints an RS256 JWT with `claims`, signed with an RSA private key PEM
/// (PKCS#1 or PKCS#8). A helper for tests and tools.
///
/// # Panics
/// When `private_key_pem` is not an RSA private key.
pub fn sign_rs256(private_key_pem: &[u8], claims: &Value) -> String {
    ensure_crypto_provider();
    let key = EncodingKey::from_rsa_pem(private_key_pem).expect("an RSA private key PEM");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("RS256 signing")
}
