//! Slug ownership: "first claim wins" (migration 0019).

use clickhouse::Row;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::Result;
use crate::handle::Store;

/// One (slug, id) pair seen in events, with when it was first stored.
#[derive(Row, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct OrgClaim {
    pub org_slug: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub org_id: Uuid,
    pub ingested_ms: i64,
    pub occurred_ms: i64,
}

/// The owner of `slug` under "first claim wins" (migration 0019): the id
/// that claimed the slug first (by ingest time, then event time, then id
/// text), provided the slug is also that id's own first slug. Otherwise
/// nobody: a slug taken over by a second id, or an id re-labelled with
/// another org's slug, never resolves to someone else's data.
pub fn owner_of(slug: &str, claims: &[OrgClaim]) -> Option<Uuid> {
    let owner = claims
        .iter()
        .filter(|c| c.org_slug == slug)
        .min_by_key(|c| (c.ingested_ms, c.occurred_ms, c.org_id.to_string()))?
        .org_id;
    let first_slug = claims
        .iter()
        .filter(|c| c.org_id == owner)
        .min_by_key(|c| (c.ingested_ms, c.occurred_ms, c.org_slug.clone()))?;
    if first_slug.org_slug != slug {
        tracing::warn!(
            slug,
            %owner,
            its_slug = %first_slug.org_slug,
            "org slug not resolved: its first claimant owns another slug"
        );
        return None;
    }
    Some(owner)
}

impl Store {
    /// The organization that owns `slug` ([`owner_of`]), if any.
    pub async fn org_by_slug(&self, slug: &str) -> Result<Option<Uuid>> {
        let claims: Vec<OrgClaim> = self
            .client
            .query(include_str!("org_by_slug.sql"))
            .param("slug", slug)
            .fetch_all()
            .await?;
        Ok(owner_of(slug, &claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(slug: &str, org: u128, ingested_ms: i64, occurred_ms: i64) -> OrgClaim {
        OrgClaim {
            org_slug: slug.into(),
            org_id: Uuid::from_u128(org),
            ingested_ms,
            occurred_ms,
        }
    }

    #[test]
    fn first_claim_owns_a_slug() {
        let (acme, evil) = (Uuid::from_u128(1), Uuid::from_u128(2));
        // Normal: each org its own slug.
        let normal = [claim("acme", 1, 100, 100), claim("evil-co", 2, 200, 200)];
        assert_eq!(owner_of("acme", &normal), Some(acme));
        assert_eq!(owner_of("evil-co", &normal), Some(evil));
        assert_eq!(owner_of("ghost", &normal), None);

        // Spoof: acme's id sent under evil-co's slug, later. evil-co stays
        // evil's, and acme's data is never behind evil-co.
        let mut spoof = normal.to_vec();
        spoof.push(claim("evil-co", 1, 300, 1));
        assert_eq!(owner_of("evil-co", &spoof), Some(evil));
        assert_eq!(owner_of("acme", &spoof), Some(acme));

        // Spoof before evil-co's own events: evil-co's first claimant is
        // acme's id, whose own slug is acme: evil-co resolves to nobody.
        let early = [
            claim("acme", 1, 100, 100),
            claim("evil-co", 1, 150, 1),
            claim("evil-co", 2, 200, 200),
        ];
        assert_eq!(owner_of("evil-co", &early), None);
        assert_eq!(owner_of("acme", &early), Some(acme));

        // A backdated event time does not beat an earlier ingest.
        let backdated = [claim("acme", 1, 100, 100), claim("acme", 2, 200, 1)];
        assert_eq!(owner_of("acme", &backdated), Some(acme));

        // Two ids sharing a slug: the first keeps it, the second gets
        // nothing under it; an id that changes slug keeps its first one.
        let renamed = [claim("acme", 1, 100, 100), claim("acme-inc", 1, 200, 200)];
        assert_eq!(owner_of("acme", &renamed), Some(acme));
        assert_eq!(owner_of("acme-inc", &renamed), None);

        // Same ingest (one insert): event time, then id text decide.
        let tie = [claim("x", 2, 100, 50), claim("x", 1, 100, 60)];
        assert_eq!(owner_of("x", &tie), Some(evil));
        let tie = [claim("x", 2, 100, 50), claim("x", 1, 100, 50)];
        assert_eq!(owner_of("x", &tie), Some(acme));
    }
}
