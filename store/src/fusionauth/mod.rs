//! Queries behind the FusionAuth/Passport reports (api/src/fusionauth/):
//! logins, registrations, daily / monthly active users and totals, from the
//! rollups. Every value from a request is bound as a server-side query
//! parameter; nothing is spliced into SQL.

mod active_users;
mod login;
mod registration;
mod totals;

pub use login::LoginFilter;
pub use totals::{AppTotals, Totals};

use crate::range::IntervalCount;

/// Sum of the counts: the `total` of a FusionAuth report.
pub fn total(counts: &[IntervalCount]) -> u64 {
    counts.iter().map(|c| c.count).sum()
}
