//! Queries behind the Porta admin API (`/api/admin/...`, api/src/porta/):
//! dashboard statistics, the audit log and its cleanup, entity history, and
//! the system configuration the cleanup reads. Counts come from rollups and
//! their snapshots; listings read the audit log's copies by their keys.
//! Every request value is bound as a server-side parameter.

mod audit;
mod cleanup;
mod config;
mod history;
mod stats;

pub use audit::{AuditFilter, AuditPage, AuditRow};
pub use cleanup::{cleanup_cutoff, Cleanup};
pub use config::{
    validate_config, AUDIT_RETENTION_DAYS, CONFIG_KEYS, DEFAULT_AUDIT_RETENTION_DAYS,
    MAX_AUDIT_RETENTION_DAYS,
};
pub use history::{HistoryCursor, HistoryPage, HistoryQuery, HistoryRow};
pub use stats::{Activity, AdminStats, AdminStatus, Edge, EdgeMillis, EdgeSeconds, TopBucket};
