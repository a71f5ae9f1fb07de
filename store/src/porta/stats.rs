//! Dashboard statistics (`GET /api/admin/stats`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::Deserialize;

use crate::error::Result;
use crate::handle::Store;
use crate::range::bucket_start;

/// Dashboard statistics (Porta `GET /api/admin/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminStats {
    /// entity type → status → count (`organization`, `user`, `application`,
    /// `client`); types and statuses without entities are absent.
    pub entities: BTreeMap<String, BTreeMap<String, u64>>,
    pub active_sessions: u64,
    pub unique_users: u64,
    pub logins_last_24h: u64,
    pub failed_logins_last_24h: u64,
    pub new_users_last_7d: u64,
    pub new_orgs_last_7d: u64,
}

#[derive(Row, Deserialize)]
struct StatusCount {
    entity_type: String,
    status: String,
    count: u64,
}

#[derive(Row, Deserialize)]
struct Sessions {
    sessions: u64,
    users: u64,
}

/// Counts of the activity windows (or of a part of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Row, Deserialize)]
pub struct Activity {
    pub logins: u64,
    pub failed: u64,
    pub new_users: u64,
    pub new_orgs: u64,
}

impl std::ops::Add for Activity {
    type Output = Activity;

    fn add(self, o: Activity) -> Activity {
        Activity {
            logins: self.logins + o.logins,
            failed: self.failed + o.failed,
            new_users: self.new_users + o.new_users,
            new_orgs: self.new_orgs + o.new_orgs,
        }
    }
}

/// The snapshot parts of the dashboard: entity status counts, sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminStatus {
    pub entities: BTreeMap<String, BTreeMap<String, u64>>,
    pub active_sessions: u64,
    pub unique_users: u64,
}

/// Two counts per second of one 15-minute bucket (logins: successful,
/// failed; audit: users, organizations created).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeSeconds(Vec<Tick>);

/// The same two counts per millisecond of one second: the second holding a
/// window's start, of which a request counts the milliseconds after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeMillis(Vec<Tick>);

/// One unit (second or millisecond since the epoch) of an edge's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Row, Deserialize)]
struct Tick {
    at: i64,
    a: u64,
    b: u64,
}

/// Sums of the ticks after `first`.
fn sum_after(ticks: &[Tick], first: i64) -> (u64, u64) {
    ticks
        .iter()
        .filter(|t| t.at > first)
        .fold((0, 0), |(a, b), t| (a + t.a, b + t.b))
}

impl EdgeSeconds {
    /// Sums of the seconds after the one holding `t` (that second itself
    /// is counted per millisecond: [`EdgeMillis`], `activity_live.sql`).
    pub fn after(&self, t: DateTime<Utc>) -> (u64, u64) {
        sum_after(&self.0, t.timestamp())
    }
}

impl EdgeMillis {
    /// Sums of the milliseconds after `t`.
    pub fn after(&self, t: DateTime<Utc>) -> (u64, u64) {
        sum_after(&self.0, t.timestamp_millis())
    }
}

/// The current 15-minute bucket whole and the time of its latest event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Row, Deserialize)]
pub struct TopBucket {
    pub logins: u64,
    pub failed: u64,
    pub new_users: u64,
    pub new_orgs: u64,
    /// Epoch ms of the bucket's latest event; 0 when it has none.
    pub last_ms: i64,
}

impl TopBucket {
    /// The bucket's counts up to `now`, when no event in it is later.
    pub fn until(&self, now: DateTime<Utc>) -> Option<Activity> {
        (self.last_ms <= now.timestamp_millis()).then_some(Activity {
            logins: self.logins,
            failed: self.failed,
            new_users: self.new_users,
            new_orgs: self.new_orgs,
        })
    }
}

/// Which bucket's seconds [`Store::activity_edge`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Logins, the oldest bucket of the 24-hour window.
    Logins,
    /// User / organization creations, the oldest bucket of the 7-day window.
    Audit,
}

impl Edge {
    /// The bucket this edge reads, for the current bucket `top`.
    pub fn bucket(self, top: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Edge::Logins => top - chrono::Duration::hours(24),
            Edge::Audit => top - chrono::Duration::days(7),
        }
    }
}

impl AdminStats {
    /// The dashboard at `now` from its parts, each read for the current
    /// bucket `bucket_start(now)`: windows (now − 24 h, now] and
    /// (now − 7 d, now] are the partial first second (in `live`), the
    /// rest of the oldest bucket (`logins_edge`, `audit_edge`), the whole
    /// buckets up to the current one (`middle`) and the current bucket
    /// (in `live`).
    pub fn assemble(
        now: DateTime<Utc>,
        status: &AdminStatus,
        middle: Activity,
        logins_edge: &EdgeSeconds,
        audit_edge: &EdgeSeconds,
        live: Activity,
    ) -> AdminStats {
        let (logins, failed) = logins_edge.after(now - chrono::Duration::hours(24));
        let (new_users, new_orgs) = audit_edge.after(now - chrono::Duration::days(7));
        let edges = Activity {
            logins,
            failed,
            new_users,
            new_orgs,
        };
        let a = middle + edges + live;
        AdminStats {
            entities: status.entities.clone(),
            active_sessions: status.active_sessions,
            unique_users: status.unique_users,
            logins_last_24h: a.logins,
            failed_logins_last_24h: a.failed,
            new_users_last_7d: a.new_users,
            new_orgs_last_7d: a.new_orgs,
        }
    }
}

impl Store {
    /// Dashboard statistics: entity status counts and active sessions from
    /// their snapshots (refreshed every 30 s); logins in exactly
    /// (now − 24 h, now] and creations in exactly (now − 7 d, now], from the
    /// activity snapshot plus a live delta since its watermark and raw rows
    /// at the window edges.
    pub async fn admin_stats(&self) -> Result<AdminStats> {
        self.admin_stats_at(Utc::now()).await
    }

    /// [`Store::admin_stats`] with the activity windows ending at `now`,
    /// every part read afresh (the API keeps the parts that only change
    /// with their tables: api/src/porta/stats.rs).
    pub async fn admin_stats_at(&self, now: DateTime<Utc>) -> Result<AdminStats> {
        let top = bucket_start(now);
        let (status, middle, logins_edge, audit_edge, live) = tokio::try_join!(
            self.admin_status(),
            self.activity_middle(top),
            self.activity_edge(Edge::Logins, top),
            self.activity_edge(Edge::Audit, top),
            self.activity_live(now),
        )?;
        Ok(AdminStats::assemble(
            now,
            &status,
            middle,
            &logins_edge,
            &audit_edge,
            live,
        ))
    }

    /// Entity status counts and active sessions, from their snapshots.
    pub async fn admin_status(&self) -> Result<AdminStatus> {
        let counts = self
            .client
            .query(include_str!("entity_status_counts.sql"))
            .fetch_all::<StatusCount>();
        let sessions = self
            .client
            .query(include_str!("active_sessions.sql"))
            .fetch_one::<Sessions>();
        let (counts, sessions) = tokio::try_join!(counts, sessions)?;
        let mut entities: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for c in counts {
            entities
                .entry(c.entity_type)
                .or_default()
                .insert(c.status, c.count);
        }
        Ok(AdminStatus {
            entities,
            active_sessions: sessions.sessions,
            unique_users: sessions.users,
        })
    }

    /// The windows' whole buckets before the current bucket `top`.
    pub async fn activity_middle(&self, top: DateTime<Utc>) -> Result<Activity> {
        Ok(self
            .client
            .query(include_str!("activity_middle.sql"))
            .param("top", top.timestamp())
            .fetch_one()
            .await?)
    }

    /// Per-second counts of `edge`'s oldest bucket, for the current bucket
    /// `top`.
    pub async fn activity_edge(&self, edge: Edge, top: DateTime<Utc>) -> Result<EdgeSeconds> {
        let from = edge.bucket(top).timestamp_millis();
        Ok(EdgeSeconds(
            self.edge_ticks(edge, from, from + 15 * 60_000, 1000)
                .await?,
        ))
    }

    /// The milliseconds of one `second` of `edge`'s oldest bucket (the
    /// one holding the window's start).
    pub async fn activity_second(&self, edge: Edge, second: i64) -> Result<EdgeMillis> {
        let from = second * 1000;
        Ok(EdgeMillis(
            self.edge_ticks(edge, from, from + 1000, 1).await?,
        ))
    }

    /// `edge`'s counts in [from_ms, to_ms) per `unit` milliseconds.
    async fn edge_ticks(
        &self,
        edge: Edge,
        from_ms: i64,
        to_ms: i64,
        unit: i64,
    ) -> Result<Vec<Tick>> {
        let sql = match edge {
            Edge::Logins => include_str!("activity_edge_logins.sql"),
            Edge::Audit => include_str!("activity_edge_audit.sql"),
        };
        Ok(self
            .client
            .query(sql)
            .param("from_ms", from_ms)
            .param("to_ms", to_ms)
            .param("unit", unit)
            .fetch_all()
            .await?)
    }

    /// The current bucket `top` whole, with its latest event's time.
    pub async fn activity_top(&self, top: DateTime<Utc>) -> Result<TopBucket> {
        Ok(self
            .client
            .query(include_str!("activity_top.sql"))
            .param("top", top.timestamp())
            .fetch_one()
            .await?)
    }

    /// The current bucket and the windows' partial first seconds at `now`.
    pub async fn activity_live(&self, now: DateTime<Utc>) -> Result<Activity> {
        Ok(self
            .client
            .query(include_str!("activity_live.sql"))
            .param("now_ms", now.timestamp_millis())
            .fetch_one()
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn edge_seconds_count_after_the_partial_second() {
        let at = |s: i64, ms: u32| {
            Utc.timestamp_opt(s, 0).unwrap() + chrono::Duration::milliseconds(i64::from(ms))
        };
        let e = EdgeSeconds(vec![
            Tick {
                at: 100,
                a: 1,
                b: 10,
            },
            Tick {
                at: 101,
                a: 2,
                b: 20,
            },
            Tick {
                at: 102,
                a: 4,
                b: 40,
            },
        ]);
        // Second 101 itself is the live query's; only 102 on counts here.
        assert_eq!(e.after(at(101, 0)), (4, 40));
        assert_eq!(e.after(at(101, 999)), (4, 40));
        assert_eq!(e.after(at(99, 500)), (7, 70));
        assert_eq!(e.after(at(102, 1)), (0, 0));
    }

    #[test]
    fn edge_millis_count_after_the_instant_and_the_top_bucket_waits_for_its_last_event() {
        let at = |ms: i64| Utc.timestamp_millis_opt(ms).unwrap();
        let m = |at, a, b| Tick { at, a, b };
        let e = EdgeMillis(vec![
            m(101_000, 1, 10),
            m(101_500, 2, 20),
            m(101_999, 4, 40),
        ]);
        // The window (t, ...] excludes t itself.
        assert_eq!(e.after(at(101_000)), (6, 60));
        assert_eq!(e.after(at(100_999)), (7, 70));
        assert_eq!(e.after(at(101_500)), (4, 40));
        assert_eq!(e.after(at(101_999)), (0, 0));
        let top = TopBucket {
            logins: 3,
            failed: 1,
            new_users: 2,
            new_orgs: 0,
            last_ms: 5_000,
        };
        assert_eq!(top.until(at(4_999)), None);
        let whole = Activity {
            logins: 3,
            failed: 1,
            new_users: 2,
            new_orgs: 0,
        };
        assert_eq!(top.until(at(5_000)), Some(whole));
        assert_eq!(TopBucket::default().until(at(1)), Some(Activity::default()));
    }

    #[test]
    fn the_parts_add_up() {
        let now = Utc.with_ymd_and_hms(2026, 3, 8, 10, 7, 30).unwrap();
        let one = Activity {
            logins: 1,
            failed: 2,
            new_users: 3,
            new_orgs: 4,
        };
        let logins = EdgeSeconds(vec![Tick {
            at: (now - chrono::Duration::hours(24)).timestamp() + 1,
            a: 10,
            b: 20,
        }]);
        let audit = EdgeSeconds(vec![Tick {
            at: (now - chrono::Duration::days(7)).timestamp(),
            a: 100,
            b: 200,
        }]);
        let s = AdminStats::assemble(now, &AdminStatus::default(), one, &logins, &audit, one);
        assert_eq!(
            (
                s.logins_last_24h,
                s.failed_logins_last_24h,
                s.new_users_last_7d,
                s.new_orgs_last_7d
            ),
            (12, 24, 6, 8)
        );
    }
}
