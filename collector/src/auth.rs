//! Authentication per source. A source is enabled when it has at least one
//! credential; every configured kind must pass:
//! * tokens: `Authorization: Bearer <token>` or the raw token (Auth0 sends
//!   its configured "Authorization Token" verbatim), or `X-API-Key`;
//! * FusionAuth signatures: `X-FusionAuth-Signature-JWT`, a JWT signed with
//!   the webhook's Key Master key (HMAC secret, or an RSA/EC public key),
//!   whose `request_body_sha256` claim is the Base64 SHA-256 of the body.

use axum::http::HeaderMap;
use base64::Engine as _;
use jsonwebtoken::crypto::{rust_crypto, CryptoProvider};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-fusionauth-signature-jwt";

#[derive(Clone, Default)]
pub struct SourceAuth {
    /// SHA-256 of each accepted token (compared in constant time).
    tokens: Vec<[u8; 32]>,
    signature: Option<(DecodingKey, Validation)>,
}

#[derive(Debug, PartialEq)]
pub enum AuthError {
    NotEnabled,
    MissingToken,
    WrongToken,
    Signature(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::NotEnabled => {
                f.write_str("this source is not enabled: no credential is configured for it")
            }
            AuthError::MissingToken => {
                f.write_str("missing credentials: send Authorization: Bearer <token>")
            }
            AuthError::WrongToken => f.write_str("invalid credentials"),
            AuthError::Signature(why) => write!(f, "webhook signature rejected: {why}"),
        }
    }
}

impl SourceAuth {
    pub fn with_tokens<S: AsRef<str>>(tokens: &[S]) -> Result<SourceAuth, String> {
        let mut auth = SourceAuth::default();
        for t in tokens {
            let t = t.as_ref().trim();
            if t.len() < 16 {
                return Err(format!(
                    "a collector token must be at least 16 characters (got {})",
                    t.len()
                ));
            }
            auth.tokens.push(Sha256::digest(t.as_bytes()).into());
        }
        Ok(auth)
    }

    /// FusionAuth signature verification with an HMAC secret.
    pub fn with_hmac_secret(mut self, secret: &[u8]) -> Result<SourceAuth, String> {
        if secret.len() < 32 {
            return Err("a FusionAuth HMAC signing secret must be at least 32 bytes".into());
        }
        let key = DecodingKey::from_secret(secret);
        self.signature = Some((
            key,
            validation(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]),
        ));
        Ok(self)
    }

    /// FusionAuth signature verification with an RSA or EC public key (PEM).
    pub fn with_public_key_pem(mut self, pem: &[u8]) -> Result<SourceAuth, String> {
        let (key, algs) = if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
            (
                k,
                vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
            )
        } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
            (k, vec![Algorithm::ES256, Algorithm::ES384])
        } else {
            return Err("not an RSA or EC public key in PEM form".into());
        };
        self.signature = Some((key, validation(&algs)));
        Ok(self)
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || self.signature.is_some()
    }

    pub fn check(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), AuthError> {
        if !self.enabled() {
            return Err(AuthError::NotEnabled);
        }
        if !self.tokens.is_empty() {
            let given = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    let v = v.trim();
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                        .unwrap_or(v)
                        .trim()
                })
                .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
                .filter(|v| !v.is_empty())
                .ok_or(AuthError::MissingToken)?;
            let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
            let ok = self
                .tokens
                .iter()
                .fold(0u8, |acc, t| acc | t.ct_eq(&digest).unwrap_u8());
            if ok != 1 {
                return Err(AuthError::WrongToken);
            }
        }
        if let Some((key, validation)) = &self.signature {
            // Picks the RustCrypto backend explicitly: with two backends
            // enabled in the build, verifying would otherwise panic.
            let _ = CryptoProvider::install_default(&rust_crypto::DEFAULT_PROVIDER);
            let jwt = headers
                .get(SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| AuthError::Signature(format!("no {SIGNATURE_HEADER} header")))?;
            let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, key, validation)
                .map_err(|e| AuthError::Signature(e.to_string()))?
                .claims;
            let want = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
            let got = claims["request_body_sha256"].as_str().unwrap_or("");
            if !bool::from(got.as_bytes().ct_eq(want.as_bytes())) {
                return Err(AuthError::Signature(
                    "request_body_sha256 does not match the body".into(),
                ));
            }
        }
        Ok(())
    }
}

fn validation(algs: &[Algorithm]) -> Validation {
    let mut v = Validation::new(algs[0]);
    v.algorithms = algs.to_vec();
    // The signature JWT carries the body hash, not an audience or subject;
    // exp is checked when present.
    v.validate_aud = false;
    v.set_required_spec_claims::<&str>(&[]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    const SECRET: &[u8] = b"fusionauth-webhook-hmac-secret-0123456789";

    pub fn sign(body: &[u8], secret: &[u8]) -> String {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "request_body_sha256": hash }),
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn tokens() {
        let a = SourceAuth::with_tokens(&["token-0123456789abcdef"]).unwrap();
        assert_eq!(a.check(&headers(&[]), b""), Err(AuthError::MissingToken));
        assert_eq!(
            a.check(&headers(&[("authorization", "Bearer nope")]), b""),
            Err(AuthError::WrongToken)
        );
        for ok in ["Bearer token-0123456789abcdef", "token-0123456789abcdef"] {
            assert_eq!(a.check(&headers(&[("authorization", ok)]), b""), Ok(()));
        }
        assert_eq!(
            a.check(&headers(&[("x-api-key", "token-0123456789abcdef")]), b""),
            Ok(())
        );
        assert!(SourceAuth::with_tokens(&["short"]).is_err());
        assert_eq!(
            SourceAuth::default().check(&headers(&[]), b""),
            Err(AuthError::NotEnabled)
        );
    }

    #[test]
    fn fusionauth_signature() {
        let a = SourceAuth::default().with_hmac_secret(SECRET).unwrap();
        let body = br#"{"event":{"type":"user.create"}}"#;
        let sig = sign(body, SECRET);
        assert_eq!(a.check(&headers(&[(SIGNATURE_HEADER, &sig)]), body), Ok(()));
        assert!(matches!(
            a.check(&headers(&[(SIGNATURE_HEADER, &sig)]), b"{}"),
            Err(AuthError::Signature(_))
        ));
        let other = sign(body, b"another-secret-that-is-long-enough-0000");
        assert!(matches!(
            a.check(&headers(&[(SIGNATURE_HEADER, &other)]), body),
            Err(AuthError::Signature(_))
        ));
        assert!(matches!(
            a.check(&headers(&[]), body),
            Err(AuthError::Signature(_))
        ));
    }
}
