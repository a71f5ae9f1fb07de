//! When the tables behind a report last changed: a fingerprint of each
//! table's active parts (`versions.sql`), and which tables each cacheable
//! report query reads. The API keeps a report answer only while the
//! fingerprints of its tables are the ones it saw before querying
//! (api/src/cache.rs).

use clickhouse::Row;
use serde::Deserialize;

use crate::error::Result;
use crate::handle::Store;

/// Tables read by [`Store::login_counts`] without a user or login id.
pub const LOGIN_COUNTS: &[&str] = &["login_hourly", "login_counts_15m"];
/// Tables read by [`Store::registration_counts`].
pub const REGISTRATION_COUNTS: &[&str] = &["registration_hourly", "registration_counts_15m"];
/// Tables read by [`Store::active_users`] for given applications.
pub const ACTIVE_USERS_APPS: &[&str] = &["active_users_daily", "active_users_monthly"];
/// Tables read by [`Store::active_users`] for every application (the
/// snapshots refresh every few seconds, so these answers live that long).
pub const ACTIVE_USERS_GLOBAL: &[&str] = &[
    "active_users_daily_global",
    "active_users_daily_now",
    "active_users_monthly_now",
];
/// Tables read by [`Store::month_stats`] (Janssen stat).
pub const JANSSEN_STAT: &[&str] = &[
    "token_hourly",
    "token_counts_15m",
    "active_users_daily_global",
    "active_users_daily_now",
    "active_users_monthly_now",
];
/// Tables read by [`Store::totals`].
pub const TOTALS: &[&str] = &["registrations_now", "login_totals", "registration_totals"];
/// Tables read by the org analytics (after the slug is resolved through
/// `org_claims`, which is listed so a re-pointed slug drops its answers).
pub const ORG_ANALYTICS: &[&str] = &["org_claims", "login_hourly", "application_names"];
/// Tables read by the org analytics' per-day counts (keyed by the org's
/// id, so the slug's claims don't change them).
pub const ORG_LOGIN_DAYS: &[&str] = &["login_hourly"];
/// Tables whose rows count only towards report intervals at or after their
/// partition key's time: every per-interval query that reads them filters
/// on that column (checked by `by_time_tables_filter_on_their_partition_key`).
/// A cached interval over them depends only on parts that can hold rows
/// before its end; the snapshots and claims are not listed (their rows
/// count towards any interval).
pub const BY_TIME: &[&str] = &[
    "active_users_daily",
    "active_users_monthly",
    "login_counts_15m",
    "login_hourly",
    "registration_counts_15m",
    "registration_hourly",
];
/// Tables read by [`Store::recent_logins`] (and the slug's `org_claims`).
pub const RECENT_LOGINS: &[&str] = &["org_claims", "login_hourly", "login_events"];
/// Tables read by [`Store::audit_page`].
pub const AUDIT_PAGE: &[&str] = &["audit_by_time"];
/// Tables read by [`Store::admin_status`] (snapshots).
pub const ADMIN_STATUS: &[&str] = &["entity_status_now", "sessions_now"];
/// Tables read by [`Store::activity_middle`].
pub const ACTIVITY_MIDDLE: &[&str] = &[
    "activity_buckets_now",
    "login_counts_15m",
    "audit_counts_15m",
];
/// Tables read by [`Store::activity_edge`] for logins.
pub const LOGIN_EDGE: &[&str] = &["login_events"];
/// Tables read by [`Store::activity_edge`] for the audit log.
pub const AUDIT_EDGE: &[&str] = &["audit_by_time"];
/// Tables read by [`Store::activity_top`].
pub const ACTIVITY_TOP: &[&str] = &["login_events", "audit_by_time"];
/// Tables read by [`Store::history`].
pub const HISTORY: &[&str] = &["audit_entity_history"];

/// Every table above, once.
pub fn watched() -> Vec<&'static str> {
    let mut all: Vec<&str> = [
        LOGIN_COUNTS,
        REGISTRATION_COUNTS,
        ACTIVE_USERS_APPS,
        ACTIVE_USERS_GLOBAL,
        JANSSEN_STAT,
        TOTALS,
        ORG_ANALYTICS,
        RECENT_LOGINS,
        AUDIT_PAGE,
        HISTORY,
        ADMIN_STATUS,
        ACTIVITY_MIDDLE,
        LOGIN_EDGE,
        AUDIT_EDGE,
        ACTIVITY_TOP,
    ]
    .concat();
    all.sort_unstable();
    all.dedup();
    all
}

/// One group of a table's active parts: those that can hold rows from
/// `lower` on (an empty table has one group, fingerprint 0).
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct TableVersion {
    pub table: String,
    /// Whether the table holds its own parts (a `*MergeTree`); only then
    /// does the fingerprint follow its data.
    pub mergetree: bool,
    /// The earliest time the group's parts can hold (epoch seconds; 0 when
    /// the partition key has no time).
    pub lower: i64,
    /// XOR of a hash per active part of the group.
    pub fingerprint: u64,
}

impl Store {
    /// The fingerprints of each of `tables` that exists, per group of parts.
    pub async fn table_versions(&self, tables: &[&str]) -> Result<Vec<TableVersion>> {
        Ok(self
            .client
            .query(include_str!("versions.sql"))
            .param("tables", tables)
            .fetch_all()
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table a cacheable query's SQL reads is in its list: an
    /// unlisted table would let an answer outlive a change to it.
    #[test]
    fn lists_cover_every_table_the_sql_reads() {
        let cases: &[(&[&str], &[&str])] = &[
            (
                LOGIN_COUNTS,
                &[
                    include_str!("../fusionauth/login_counts.sql"),
                    include_str!("../fusionauth/login_counts_hourly.sql"),
                ],
            ),
            (
                REGISTRATION_COUNTS,
                &[
                    include_str!("../fusionauth/registration_counts.sql"),
                    include_str!("../fusionauth/registration_counts_hourly.sql"),
                ],
            ),
            (
                ACTIVE_USERS_APPS,
                &[
                    include_str!("../fusionauth/active_users_daily.sql"),
                    include_str!("../fusionauth/active_users_monthly.sql"),
                ],
            ),
            (
                ACTIVE_USERS_GLOBAL,
                &[
                    include_str!("../fusionauth/active_users_daily_global.sql"),
                    include_str!("../fusionauth/active_users_monthly_global.sql"),
                ],
            ),
            (
                JANSSEN_STAT,
                &[
                    include_str!("../janssen/tokens_by_month.sql"),
                    include_str!("../janssen/tokens_by_month_hourly.sql"),
                    include_str!("../fusionauth/active_users_monthly_global.sql"),
                ],
            ),
            (
                TOTALS,
                &[
                    include_str!("../fusionauth/app_totals.sql"),
                    include_str!("../fusionauth/global_registrations.sql"),
                ],
            ),
            (
                ORG_ANALYTICS,
                &[
                    include_str!("../orgs/org_by_slug.sql"),
                    include_str!("../orgs/org_login_days.sql"),
                    include_str!("../orgs/org_login_days_by_service.sql"),
                    include_str!("../orgs/org_login_days_by_provider.sql"),
                    include_str!("../orgs/application_names.sql"),
                ],
            ),
            (
                ORG_LOGIN_DAYS,
                &[
                    include_str!("../orgs/org_login_days.sql"),
                    include_str!("../orgs/org_login_days_by_service.sql"),
                    include_str!("../orgs/org_login_days_by_provider.sql"),
                ],
            ),
            (
                RECENT_LOGINS,
                &[
                    include_str!("../orgs/org_by_slug.sql"),
                    include_str!("../orgs/recent_logins.sql"),
                ],
            ),
            (
                AUDIT_PAGE,
                &[
                    include_str!("../porta/audit_list.sql"),
                    include_str!("../porta/audit_count.sql"),
                ],
            ),
            (HISTORY, &[include_str!("../porta/history.sql")]),
            (
                ADMIN_STATUS,
                &[
                    include_str!("../porta/entity_status_counts.sql"),
                    include_str!("../porta/active_sessions.sql"),
                ],
            ),
            (
                ACTIVITY_MIDDLE,
                &[include_str!("../porta/activity_middle.sql")],
            ),
            (
                LOGIN_EDGE,
                &[include_str!("../porta/activity_edge_logins.sql")],
            ),
            (
                AUDIT_EDGE,
                &[include_str!("../porta/activity_edge_audit.sql")],
            ),
            (ACTIVITY_TOP, &[include_str!("../porta/activity_top.sql")]),
        ];
        for (listed, sqls) in cases {
            for sql in *sqls {
                for table in tables_read(sql) {
                    assert!(
                        listed.contains(&table.as_str()),
                        "{table} is read but not listed in {listed:?}"
                    );
                }
            }
        }
    }

    /// A `BY_TIME` table's rows must count only towards intervals at or
    /// after their partition key's time: each per-interval query reading
    /// it bounds its range on that column.
    #[test]
    fn by_time_tables_filter_on_their_partition_key() {
        let schema = [
            include_str!("../../sql/schema/01_logins.sql"),
            include_str!("../../sql/schema/02_registrations.sql"),
            include_str!("../../sql/schema/06_active_users.sql"),
        ]
        .concat();
        let per_interval: &[(&[&str], &[&str])] = &[
            (
                LOGIN_COUNTS,
                &[
                    include_str!("../fusionauth/login_counts.sql"),
                    include_str!("../fusionauth/login_counts_hourly.sql"),
                ],
            ),
            (
                REGISTRATION_COUNTS,
                &[
                    include_str!("../fusionauth/registration_counts.sql"),
                    include_str!("../fusionauth/registration_counts_hourly.sql"),
                ],
            ),
            (
                ACTIVE_USERS_APPS,
                &[
                    include_str!("../fusionauth/active_users_daily.sql"),
                    include_str!("../fusionauth/active_users_monthly.sql"),
                ],
            ),
            (
                ORG_LOGIN_DAYS,
                &[
                    include_str!("../orgs/org_login_days.sql"),
                    include_str!("../orgs/org_login_days_by_service.sql"),
                    include_str!("../orgs/org_login_days_by_provider.sql"),
                ],
            ),
        ];
        for table in BY_TIME {
            let create = format!("CREATE TABLE IF NOT EXISTS {table}\n");
            let at = schema.find(&create).expect("table in the schema") + create.len();
            let def = &schema[at..at + schema[at..].find(";").expect("statement end")];
            let key = def
                .lines()
                .find_map(|l| l.trim().strip_prefix("PARTITION BY "))
                .unwrap_or_else(|| panic!("{table} has no PARTITION BY"));
            let column = key
                .split(['(', ')'])
                .nth(1)
                .unwrap_or_else(|| panic!("{table}: no column in {key}"));
            let mut read = 0;
            for (listed, sqls) in per_interval {
                for sql in sqls
                    .iter()
                    .filter(|s| tables_read(s).iter().any(|t| t == table))
                {
                    assert!(listed.contains(table));
                    assert!(
                        sql.contains(&format!("AND {column} < ")),
                        "a query over {table} has no upper bound on {column}"
                    );
                    read += 1;
                }
            }
            assert!(read > 0, "{table} is read by no per-interval query");
        }
    }

    /// Identifiers after FROM / JOIN that name a table (not a subquery, a
    /// CTE or a table function), comments removed.
    fn tables_read(sql: &str) -> Vec<String> {
        let code: String = sql
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ");
        let ctes: Vec<String> = code
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[1].eq_ignore_ascii_case("AS") || w[1].starts_with("AS("))
            .map(|w| w[0].trim_matches(',').to_string())
            .collect();
        let words: Vec<&str> = code
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        words
            .windows(2)
            .filter(|w| w[0].eq_ignore_ascii_case("FROM") || w[0].eq_ignore_ascii_case("JOIN"))
            .map(|w| w[1].to_string())
            .filter(|t| {
                t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !t.eq_ignore_ascii_case("SELECT")
                    && !ctes.contains(t)
            })
            .collect()
    }

    #[test]
    fn the_scanner_finds_tables() {
        let sql = "-- FROM nothing\nWITH a AS (SELECT 1 FROM t1) SELECT * FROM a LEFT JOIN t2 ON 1 JOIN (SELECT x FROM t3) USING x";
        assert_eq!(tables_read(sql), ["t1", "t2", "t3"]);
    }
}
