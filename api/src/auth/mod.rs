//! Authentication and authorization shared by every API.
//!
//! Credentials: FusionAuth-style API keys (the raw `Authorization` header
//! value, or `Bearer <key>`) and JWT bearer tokens (HS256 / RS256). Both
//! resolve to a [`Principal`] carrying scopes/permissions and org
//! memberships. The config file format and the token claims are described in
//! `docs/auth.md`.
//!
//! Nothing in here panics on header input: every credential is either
//! accepted or turned into `None` (401).

mod config;
mod jwt;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub use jwt::{principal_from_claims, sign_hs256, sign_rs256};

/// Credentials longer than this (bytes) are rejected without being parsed.
pub const MAX_CREDENTIAL_LEN: usize = 64 * 1024;

/// A role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    /// Parses `owner` / `admin` / `member`, case-insensitively.
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("owner") {
            Some(Role::Owner)
        } else if s.eq_ignore_ascii_case("admin") {
            Some(Role::Admin)
        } else if s.eq_ignore_ascii_case("member") {
            Some(Role::Member)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Member => "Member",
        }
    }

    /// Owner > Admin > Member.
    fn rank(self) -> u8 {
        match self {
            Role::Owner => 3,
            Role::Admin => 2,
            Role::Member => 1,
        }
    }

    /// The stronger of two roles (used when a slug is listed twice).
    pub fn stronger(self, other: Role) -> Role {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling and what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub scopes: BTreeSet<String>,
    /// org slug → role
    pub memberships: BTreeMap<String, Role>,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope) || self.scopes.contains("*")
    }

    /// 403 unless the principal holds `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    pub fn role_in(&self, org_slug: &str) -> Option<Role> {
        self.memberships.get(org_slug).copied()
    }
}

/// One accepted API key. Only the SHA-256 digest of the key is kept, so
/// comparisons take the same time whatever the presented length, and the
/// key itself never sits in memory (or in a `Debug` dump).
#[derive(Clone)]
struct ApiKey {
    digest: [u8; 32],
    principal: Principal,
}

/// Verifies credentials. Built from the auth config file or, for the demo,
/// from plain API keys that carry every scope.
#[derive(Default)]
pub struct Authenticator {
    api_keys: Vec<ApiKey>,
    jwt: Option<jwt::JwtVerifier>,
}

impl fmt::Debug for Authenticator {
    // Never prints keys or secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field(
                "api_keys",
                &self
                    .api_keys
                    .iter()
                    .map(|k| k.principal.subject.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("jwt", &self.jwt)
            .finish()
    }
}

impl Authenticator {
    /// API keys that carry every scope (`*`) and no org memberships. Empty
    /// keys are ignored.
    pub fn with_api_keys(keys: &[String]) -> Authenticator {
        let mut auth = Authenticator::default();
        for k in keys.iter().filter(|k| !k.is_empty()) {
            auth.push_api_key(k, all_scope_principal(k));
        }
        auth
    }

    /// Loads the auth config file (JSON, see `docs/auth.md`); `extra_keys`
    /// are added as all-scope keys. Relative PEM paths are resolved against
    /// the directory of the file. The error names the offending field.
    pub fn from_file(path: &Path, extra_keys: &[String]) -> Result<Authenticator, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Authenticator::from_json(&text, base, extra_keys)
    }

    /// Like [`Authenticator::from_file`], from the config text; relative PEM
    /// paths are resolved against `base_dir`.
    pub fn from_json(
        json: &str,
        base_dir: &Path,
        extra_keys: &[String],
    ) -> Result<Authenticator, String> {
        let parsed = config::parse(json, base_dir, extra_keys)?;
        let mut auth = Authenticator {
            api_keys: Vec::new(),
            jwt: parsed.jwt,
        };
        for (key, principal) in parsed.api_keys {
            auth.push_api_key(&key, principal);
        }
        Ok(auth)
    }

    fn push_api_key(&mut self, key: &str, principal: Principal) {
        self.api_keys.push(ApiKey {
            digest: digest(key),
            principal,
        });
    }

    /// Number of configured API keys.
    pub fn api_key_count(&self) -> usize {
        self.api_keys.len()
    }

    /// Whether JWT bearer tokens are accepted at all.
    pub fn accepts_jwt(&self) -> bool {
        self.jwt.is_some()
    }

    fn api_key(&self, presented: &str) -> Option<Principal> {
        if presented.is_empty() {
            return None;
        }
        let presented = digest(presented);
        // Look at every key (no early exit): timing does not depend on
        // which key matched or how much of it.
        let mut found: Option<&ApiKey> = None;
        for k in &self.api_keys {
            if constant_time_eq(&k.digest, &presented) && found.is_none() {
                found = Some(k);
            }
        }
        found.map(|k| k.principal.clone())
    }

    /// Resolves an `Authorization` header value: `Bearer <token>` (JWT when
    /// the token has two or more dots, API key otherwise) or a raw API key
    /// (FusionAuth). `None` means 401.
    pub fn authenticate(&self, header: &str) -> Option<Principal> {
        let header = header.trim();
        if header.is_empty() || header.len() > MAX_CREDENTIAL_LEN {
            return None;
        }
        match strip_bearer(header) {
            Some(token) => {
                let token = token.trim();
                if looks_like_jwt(token) {
                    self.jwt.as_ref()?.verify(token)
                } else {
                    self.api_key(token)
                }
            }
            None => self.api_key(header),
        }
    }
}

/// The principal of an all-scope key without a name.
fn all_scope_principal(key: &str) -> Principal {
    Principal {
        subject: format!("api-key:{}", key.chars().take(4).collect::<String>()),
        scopes: BTreeSet::from(["*".to_string()]),
        memberships: BTreeMap::new(),
    }
}

/// `Bearer <token>` (scheme case-insensitive, RFC 7235) → `<token>`.
fn strip_bearer(header: &str) -> Option<&str> {
    let scheme = header.get(..6)?;
    let rest = header.get(6..)?;
    if scheme.eq_ignore_ascii_case("bearer") && rest.starts_with([' ', '\t']) {
        Some(rest)
    } else {
        None
    }
}

/// A JWS compact serialization has exactly two dots; anything with at least
/// two is handled (and, if not a valid JWT, rejected) as a token.
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() >= 2
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// An authenticated caller (401 with an empty body otherwise).
pub struct Auth(pub Principal);

impl<S> FromRequestParts<S> for Auth
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<Authenticator>::from_ref(state);
        parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| auth.authenticate(h))
            .map(Auth)
            .ok_or(ApiError::Unauthorized)
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}
