-- Snapshots: refreshable materialized views that answer the "how many now"
-- questions in the background, so a request reads a few rows.
-- Written by: the refreshable views below (each replaces its target table
-- at every refresh).
-- Read by: Porta stats (entity_status_now, sessions_now,
-- activity_buckets_now), FusionAuth current registrations
-- (registrations_now), DAU/MAU reports and Janssen MAU
-- (active_users_daily_now, active_users_monthly_now); several add a live
-- delta since the snapshot (docs/rollups.md, "Snapshots and live deltas").
--
-- Every refresh runs on one thread (max_threads = 1), leaving the other
-- cores to the reports: with the default of one thread per core a refresh
-- took both cores of a 2-core server for 100-400 ms at 100 M events, which
-- showed as p99 spikes on every report. The three that read a whole state
-- table with FINAL (entities, sessions, registrations) run every 30
-- seconds (dashboard figures); the cheap ones every 5 or 10 seconds.
-- Change a period with
--   ALTER TABLE <view> MODIFY REFRESH EVERY 30 SECOND
-- (and a migration plus this file, like any schema change).

-- Entities per type and lifecycle status.
CREATE TABLE IF NOT EXISTS entity_status_now
(
    entity_type LowCardinality(String),
    status      LowCardinality(String),
    entities    UInt64
)
ENGINE = MergeTree
ORDER BY (entity_type, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS entity_status_now_rmv
REFRESH EVERY 30 SECOND TO entity_status_now AS
SELECT entity_type, status, count() AS entities
FROM entity_state FINAL
GROUP BY entity_type, status
SETTINGS max_threads = 1;

-- Sessions active at `as_of` (the refresh time): latest state not revoked,
-- not expired, and created by then (version = creation ms × 2).
CREATE TABLE IF NOT EXISTS sessions_now
(
    as_of    DateTime64(3, 'UTC'),
    sessions UInt64,
    users    UInt64
)
ENGINE = MergeTree
ORDER BY as_of;

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_now_rmv
REFRESH EVERY 30 SECOND TO sessions_now AS
SELECT now64(3, 'UTC') AS as_of, count() AS sessions, uniqExact(user_id) AS users
FROM session_state FINAL
WHERE NOT revoked
  AND expires_at > now64(3, 'UTC')
  AND intDiv(version, 2) <= toUInt64(toUnixTimestamp64Milli(now64(3, 'UTC')))
SETTINGS max_threads = 1;

-- Current registrations per application: registered, not since
-- unregistered, user not deleted.
CREATE TABLE IF NOT EXISTS registrations_now
(
    application_id UUID,
    registrations  UInt64
)
ENGINE = MergeTree
ORDER BY application_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS registrations_now_rmv
REFRESH EVERY 30 SECOND TO registrations_now AS
SELECT application_id, count() AS registrations
FROM registration_state FINAL
WHERE registered
  AND (org_id, user_id) NOT IN (SELECT org_id, user_id FROM user_state FINAL WHERE deleted)
GROUP BY application_id
SETTINGS max_threads = 1;

-- Global daily active users of the last 100 days of every report timezone,
-- finalized (a dense daily state costs ~0.2 ms to finalize); the DAU report
-- reads these for past days and merges live states for today and for days
-- older than the window.
CREATE TABLE IF NOT EXISTS active_users_daily_now
(
    as_of DateTime64(3, 'UTC'),
    tz    LowCardinality(String),
    day   Date,
    users UInt64
)
ENGINE = MergeTree
ORDER BY (tz, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_daily_now_rmv
REFRESH EVERY 10 SECOND TO active_users_daily_now AS
SELECT now64(3, 'UTC') AS as_of, tz, day, uniqCombined64Merge(17)(users) AS users
FROM active_users_daily_global
WHERE day >= today() - 100
GROUP BY tz, day
SETTINGS max_threads = 1;

-- Global monthly active users of every month of every report timezone,
-- finalized (a dense monthly state costs ~1 ms), plus the merged state of
-- the current and the previous month (UTC months; empty states for older
-- months): a request merges it with the live daily global states since the
-- snapshot's day. States merge idempotently, so snapshot and delta may
-- overlap.
CREATE TABLE IF NOT EXISTS active_users_monthly_now
(
    as_of DateTime64(3, 'UTC'),
    tz    LowCardinality(String),
    month Date,
    users UInt64,
    state AggregateFunction(uniqCombined64(17), UUID)
)
ENGINE = MergeTree
ORDER BY (tz, month);

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_monthly_now_rmv
REFRESH EVERY 10 SECOND TO active_users_monthly_now AS
SELECT now64(3, 'UTC') AS as_of, tz, month, uniqCombined64Merge(17)(s) AS users,
       uniqCombined64MergeStateIf(17)(s, month >= addMonths(toStartOfMonth(today()), -1)) AS state
FROM (SELECT tz, month, users AS s FROM active_users_monthly_global)
GROUP BY tz, month
SETTINGS max_threads = 1;

-- Porta stats' recent activity (logins and failed logins in the last 24 h,
-- users and organizations created in the last 7 days): one row per
-- 15-minute bucket before the watermark = the start of the bucket holding
-- (refresh time - 60 s). A request adds the buckets from the watermark on
-- from the 15-minute rollups and the two partial edge buckets of its exact
-- window from raw rows, so snapshot and delta never share an event. An
-- event stored after a refresh but stamped before that refresh's watermark
-- (more than 60 s late) shows at the next refresh. The row at bucket =
-- watermark carries the watermark while there is no activity at all.
CREATE TABLE IF NOT EXISTS activity_buckets_now
(
    as_of     DateTime64(3, 'UTC'),
    watermark DateTime('UTC'),
    bucket    DateTime('UTC'),
    logins    UInt64,
    failed    UInt64,
    new_users UInt64,
    new_orgs  UInt64
)
ENGINE = MergeTree
ORDER BY bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_buckets_now_rmv
REFRESH EVERY 5 SECOND TO activity_buckets_now AS
WITH toStartOfFifteenMinutes(toDateTime(now64(3, 'UTC'), 'UTC') - 60) AS wm
SELECT now64(3, 'UTC') AS as_of, wm AS watermark, bucket,
       toUInt64(sum(ok)) AS logins, toUInt64(sum(failed_n)) AS failed,
       toUInt64(sum(users_n)) AS new_users, toUInt64(sum(orgs_n)) AS new_orgs
FROM
(
    SELECT bucket, sumIf(logins, success) AS ok, sumIf(logins, NOT success) AS failed_n,
           toUInt64(0) AS users_n, toUInt64(0) AS orgs_n
    FROM login_counts_15m
    WHERE bucket >= wm - toIntervalHour(24) - toIntervalMinute(15)
      AND bucket < wm
    GROUP BY bucket
    UNION ALL
    SELECT bucket, toUInt64(0), toUInt64(0),
           sumIf(events, action = 'user.created'), sumIf(events, action = 'organization.created')
    FROM audit_counts_15m
    WHERE bucket >= wm - toIntervalDay(7) - toIntervalMinute(15)
      AND bucket < wm
      AND action IN ('user.created', 'organization.created')
    GROUP BY bucket
    UNION ALL
    SELECT wm, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0)
)
GROUP BY bucket
SETTINGS max_threads = 1;
