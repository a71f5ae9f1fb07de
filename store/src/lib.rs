//! ClickHouse schema (versioned .sql migrations) and the typed query layer
//! that the API calls. Reports are answered from rollups only.

mod admin;
mod cluster;
mod error;
mod migrate;
mod reports;
mod sketch;
mod zone;

pub use admin::{
    bucket_start, cleanup_cutoff, owner_of, validate_config, window_start, AdminStats, AuditFilter,
    AuditPage, AuditRow, Cleanup, DayCount, HistoryCursor, HistoryPage, HistoryQuery, HistoryRow,
    OrgClaim, ProviderCount, RecentLogin, ServiceCount, AUDIT_RETENTION_DAYS, CONFIG_KEYS,
    DEFAULT_AUDIT_RETENTION_DAYS, MAX_AUDIT_RETENTION_DAYS, MAX_RECENT_LOGINS,
};
pub use error::{Error, Result};
pub use migrate::{
    cluster_ddl, migrate, migrate_by_replay, set_raw_retention, split_statements,
    Report as MigrateReport,
};
pub use reports::{total, AppTotals, IntervalCount, LoginFilter, MonthStats, Range, Store, Totals};
pub use sketch::{union as union_sketches, PortableSketch};
pub use zone::{interval, next, parse_tz, truncate, Grain};

// ClickHouse clients are built in one place, with the user's credentials and
// TLS trust: `authpulse_connect::ClickHouseOptions::client`.
