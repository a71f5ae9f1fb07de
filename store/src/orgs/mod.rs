//! Queries behind the SSO product's org analytics
//! (`/api/organizations/{org_slug}/analytics/...`, api/src/orgs.rs): which
//! organization owns a slug, and its login trends, services, providers and
//! recent logins. Counts come from the hourly rollup's organization levels;
//! recent logins list raw rows by their key.

mod analytics;
mod claims;

pub use analytics::{AppName, DayCount, DayGroupCount, OrgGroup, RecentLogin, MAX_RECENT_LOGINS};
pub use claims::{owner_of, OrgClaim};
