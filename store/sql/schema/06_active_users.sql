-- Distinct users: mergeable uniqCombined64 sketch states of successful
-- logins per local day and month of each report timezone, and the
-- exported portable sketches.
-- Written by: the per-zone views of zone_views.sql (one pair per report
-- timezone, created by `migrate --timezones`, which also backfills a new
-- zone and records it in report_zones); the views below; `authpulse sketch
-- export` (portable_sketches).
-- Read by: DAU/MAU reports (active_users_daily, active_users_monthly, the
-- *_global tables), the DAU/MAU snapshots (10_snapshots.sql), `migrate`
-- (report_zones: which zones are already backfilled).

-- One state per (zone, local day or month, organization, application).
-- Each login feeds three levels: its (organization, application), its
-- organization's all-applications state (application id nil) and the
-- global state (both ids nil).
CREATE TABLE IF NOT EXISTS active_users_daily
(
    tz             LowCardinality(String),
    day            Date,
    org_id         UUID,
    application_id UUID,
    users          AggregateFunction(uniqCombined64(17), UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tz, day, org_id, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS active_users_monthly
(
    tz             LowCardinality(String),
    month          Date,
    org_id         UUID,
    application_id UUID,
    users          AggregateFunction(uniqCombined64(17), UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(month)
ORDER BY (tz, month, org_id, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- The report timezones whose views exist and were backfilled.
CREATE TABLE IF NOT EXISTS report_zones
(
    tz         String,
    created_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY tz;

-- Global states (every organization and application) in tables of their
-- own, one row per zone and local day or month: in the per-level tables a
-- global state shares its granule with that period's other states, which
-- ClickHouse deserializes too. Filled by views on the per-level tables, so
-- every writer of those (zone views, a new zone's backfill, the level
-- rebuild of an upgraded zone) feeds them too.
CREATE TABLE IF NOT EXISTS active_users_daily_global
(
    tz    LowCardinality(String),
    day   Date,
    users AggregateFunction(uniqCombined64(17), UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (tz, day)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8;

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_daily_global_mv TO active_users_daily_global AS
SELECT tz, day, users
FROM active_users_daily
WHERE org_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND application_id = toUUID('00000000-0000-0000-0000-000000000000');

CREATE TABLE IF NOT EXISTS active_users_monthly_global
(
    tz    LowCardinality(String),
    month Date,
    users AggregateFunction(uniqCombined64(17), UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(month)
ORDER BY (tz, month)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8;

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_monthly_global_mv TO active_users_monthly_global AS
SELECT tz, month, users
FROM active_users_monthly
WHERE org_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND application_id = toUUID('00000000-0000-0000-0000-000000000000');

-- Portable distinct-user sketches (HyperLogLog, `hyperloglog` crate format,
-- serialized as JSON) exported per local month, so separate deployments can
-- union their monthly active users the way Janssen unions per-server
-- sketches. Kept here so they outlive the raw logins they were built from.
CREATE TABLE IF NOT EXISTS portable_sketches
(
    month      String,
    tz         LowCardinality(String),
    scope      String,
    sketch     String CODEC(ZSTD(3)),
    users      Float64,
    created_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (month, tz, scope);
