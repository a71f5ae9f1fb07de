//! Tenants → authpulse organizations. A FusionAuth tenant, a Keycloak realm
//! or an Auth0 tenant becomes the event's `org` through configuration
//! (`--org SOURCE:TENANT=ORG_ID:SLUG`); an unconfigured tenant gets a
//! derived org: its own id when the tenant id is a UUID, else UUIDv5 of
//! `"{source}:tenant:{tenant}"`, and the slug `"{source}-{tenant}"`.

use std::collections::HashMap;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::{ids, Source};

/// The tenant name used when an event names none.
pub const DEFAULT_TENANT: &str = "default";

#[derive(Clone, Debug, Default)]
pub struct Orgs {
    map: HashMap<(Source, String), (Uuid, String)>,
}

impl Orgs {
    /// Parses `SOURCE:TENANT=ORG_ID:SLUG` entries; errors name the bad entry.
    pub fn from_specs<S: AsRef<str>>(specs: &[S]) -> Result<Orgs, String> {
        let mut orgs = Orgs::default();
        for spec in specs {
            let spec = spec.as_ref().trim();
            if spec.is_empty() {
                continue;
            }
            let bad =
                |why: &str| format!("--org {spec:?}: {why} (expected SOURCE:TENANT=ORG_UUID:SLUG)");
            let (lhs, rhs) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
            let (source, tenant) = lhs
                .split_once(':')
                .ok_or_else(|| bad("no ':' before '='"))?;
            let source = Source::parse(source)
                .filter(|s| *s != Source::Contract)
                .ok_or_else(|| bad("source must be fusionauth, keycloak or auth0"))?;
            let (id, slug) = rhs.split_once(':').ok_or_else(|| bad("no ':' after '='"))?;
            let id = Uuid::try_parse(id).map_err(|_| bad("org id is not a UUID"))?;
            if tenant.is_empty() || slug.is_empty() || slug.chars().count() > 128 {
                return Err(bad(
                    "tenant and slug must be non-empty, slug at most 128 characters",
                ));
            }
            orgs.map
                .insert((source, tenant.to_string()), (id, slug.to_string()));
        }
        Ok(orgs)
    }

    /// The contract `org` object for a tenant of `source`.
    pub fn org(&self, source: Source, tenant: Option<&str>) -> Value {
        let tenant = tenant.filter(|t| !t.is_empty()).unwrap_or(DEFAULT_TENANT);
        if let Some((id, slug)) = self.map.get(&(source, tenant.to_string())) {
            return json!({ "id": id, "slug": slug });
        }
        let id = ids::as_uuid(source.name(), "tenant", tenant);
        let slug: String = format!("{}-{tenant}", source.name())
            .chars()
            .take(128)
            .collect();
        json!({ "id": id, "slug": slug })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_and_default_orgs() {
        let orgs =
            Orgs::from_specs(&["keycloak:acme=7f3e2a10-5b4c-4d8e-9f01-23456789abcd:acme"]).unwrap();
        assert_eq!(
            orgs.org(Source::Keycloak, Some("acme")),
            json!({"id": "7f3e2a10-5b4c-4d8e-9f01-23456789abcd", "slug": "acme"})
        );
        let d = orgs.org(Source::Auth0, Some("beta"));
        assert_eq!(d["slug"], "auth0-beta");
        assert_eq!(d, orgs.org(Source::Auth0, Some("beta")));
        let t = "0f1e2c3b-7a9f-4b2e-a6d4-5e8d1c3b4a59";
        assert_eq!(orgs.org(Source::FusionAuth, Some(t))["id"], t);
        assert_eq!(
            orgs.org(Source::FusionAuth, None)["slug"],
            "fusionauth-default"
        );
        for bad in [
            "x",
            "contract:a=7f3e2a10-5b4c-4d8e-9f01-23456789abcd:a",
            "auth0:a=nope:a",
            "auth0:a=7f3e2a10-5b4c-4d8e-9f01-23456789abcd:",
        ] {
            assert!(Orgs::from_specs(&[bad]).is_err(), "{bad}");
        }
    }
}
