-- Global distinct-user states (every organization and application) in
-- tables of their own, one row per zone and local day or month.
--
-- The global states also live in active_users_daily / active_users_monthly
-- (org_id and application_id nil), sorted by (tz, day|month, org_id,
-- application_id): the global state of a day or month shares its granule
-- with that period's per-organization and per-application states, and
-- ClickHouse deserializes every state of a granule it reads. A global MAU
-- report for three months read all ~300 monthly states (5 MB) at 100 M
-- events. Here a month is one state.
--
-- Filled by views on the per-level tables themselves, so every writer of
-- those (the zone views, a new zone's backfill, the level rebuild of
-- zone_levels.sql) feeds them too. Sketch states merge idempotently: the
-- backfill below may overlap live inserts, and ingest need not stop.
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

INSERT INTO active_users_daily_global
SELECT tz, day, uniqCombined64MergeState(17)(users)
FROM active_users_daily
WHERE org_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
GROUP BY tz, day;

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

INSERT INTO active_users_monthly_global
SELECT tz, month, uniqCombined64MergeState(17)(users)
FROM active_users_monthly
WHERE org_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
GROUP BY tz, month;

-- The daily-active snapshot (0009) reads the daily global states from here.
ALTER TABLE active_users_daily_now_rmv MODIFY QUERY
SELECT now64(3, 'UTC') AS as_of, tz, day, uniqCombined64Merge(17)(users) AS users
FROM active_users_daily_global
WHERE day >= today() - 100
GROUP BY tz, day;
