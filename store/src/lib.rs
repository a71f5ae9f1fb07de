//! ClickHouse schema (versioned .sql migrations) and the typed query layer
//! that the API calls. Reports are answered from rollups only.
//!
//! Queries are split by product the way `api/src/` is: `fusionauth`,
//! `janssen`, `orgs`, `porta`, each module with its `.sql` files beside its
//! Rust. Shared: `handle` (the [`Store`]), `range` (report ranges, UTC days,
//! 15-minute windows), `zone` (report-timezone arithmetic), `sketch`
//! (portable distinct-user sketches).

mod cluster;
mod error;
mod fusionauth;
mod handle;
mod janssen;
mod migrate;
mod orgs;
mod porta;
mod range;
mod sketch;
pub mod versions;
mod zone;

pub use cluster::{Cluster, SHARDING_KEY};
pub use error::{Error, Result};
pub use fusionauth::{total, AppTotals, LoginFilter, Totals};
pub use handle::Store;
pub use janssen::MonthStats;
pub use migrate::{
    cluster_ddl, migrate, migrate_by_replay, set_raw_retention, split_statements,
    Report as MigrateReport,
};
pub use orgs::{
    owner_of, AppName, DayCount, DayGroupCount, OrgClaim, OrgGroup, RecentLogin, MAX_RECENT_LOGINS,
};
pub use porta::{
    cleanup_cutoff, validate_config, Activity, AdminStats, AdminStatus, AuditFilter, AuditPage,
    AuditRow, Cleanup, Edge, EdgeMillis, EdgeSeconds, HistoryCursor, HistoryPage, HistoryQuery,
    HistoryRow, TopBucket, AUDIT_RETENTION_DAYS, CONFIG_KEYS, DEFAULT_AUDIT_RETENTION_DAYS,
    MAX_AUDIT_RETENTION_DAYS,
};
pub use range::{bucket_start, window_start, IntervalCount, Range};
pub use sketch::{union as union_sketches, PortableSketch};
pub use zone::{interval, next, parse_tz, truncate, Grain};

// ClickHouse clients are built in one place, with the user's credentials and
// TLS trust: `authpulse_connect::ClickHouseOptions::client`.
