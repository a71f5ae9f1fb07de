-- Logins: the raw login events and every rollup fed from them.
-- Written by: ingest (login_events); the materialized views below.
-- Read by: FusionAuth login/totals reports (login_hourly, login_counts_15m,
-- login_totals, user_login_counts_15m, login_id_counts_15m), org analytics
-- and Porta stats (login_events, login_counts_15m). Distinct users are in
-- 06_active_users.sql; snapshots in 10_snapshots.sql.

-- Raw login events: one row per accepted event. Ordered for per-tenant,
-- per-application time scans; partitioned by month so retention drops whole
-- partitions. The deduplication window makes a replayed insert (same
-- insert_deduplication_token) a no-op here and in every MV fed by it. The
-- TTL is the default raw retention (`migrate --raw-retention-days`).
CREATE TABLE IF NOT EXISTS login_events
(
    event_id         UUID,
    occurred_at      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    org_id           UUID,
    org_slug         LowCardinality(String),
    application_id   UUID,
    application_name LowCardinality(String),
    user_id          UUID,
    login_id         String CODEC(ZSTD(1)),
    success          Bool,
    failure_reason   LowCardinality(String),
    provider         LowCardinality(String),
    ip               String CODEC(ZSTD(1)),
    user_agent       String CODEC(ZSTD(3)),
    session_id       String CODEC(ZSTD(1)),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3),
    -- Reads by event time alone (Porta stats' exact 24-hour edges), which
    -- the sort key would spread over every application (0026).
    PROJECTION by_time (SELECT occurred_at, success ORDER BY occurred_at)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, application_id, occurred_at, event_id)
TTL toDateTime(occurred_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Login counts at a 15-minute UTC grain. Every report timezone in use today
-- (whole-hour, half-hour and 45-minute offsets) has its hour, day and month
-- boundaries on a 15-minute UTC boundary, so hourly/daily/monthly counts in
-- any report timezone are exact sums of these buckets.
CREATE TABLE IF NOT EXISTS login_counts_15m
(
    bucket           DateTime('UTC'),
    org_id           UUID,
    application_id   UUID,
    provider         LowCardinality(String),
    success          Bool,
    failure_reason   LowCardinality(String),
    logins           UInt64
)
ENGINE = SummingMergeTree(logins)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, org_id, application_id, provider, success, failure_reason)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS login_counts_15m_mv TO login_counts_15m AS
SELECT
    toStartOfFifteenMinutes(occurred_at) AS bucket,
    org_id,
    application_id,
    provider,
    success,
    failure_reason,
    count() AS logins
FROM login_events
GROUP BY bucket, org_id, application_id, provider, success, failure_reason;

-- All-time logins per application (FusionAuth totals), tiny by design.
CREATE TABLE IF NOT EXISTS login_totals
(
    org_id         UUID,
    application_id UUID,
    logins         UInt64
)
ENGINE = SummingMergeTree(logins)
ORDER BY (org_id, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS login_totals_mv TO login_totals AS
SELECT org_id, application_id, count() AS logins
FROM login_events
WHERE success
GROUP BY org_id, application_id;

-- Successful logins per user and per login id (login report by userId /
-- loginId): the cost of a report grows with that user's logins only.
CREATE TABLE IF NOT EXISTS user_login_counts_15m
(
    user_id        UUID,
    bucket         DateTime('UTC'),
    application_id UUID,
    logins         UInt64
)
ENGINE = SummingMergeTree(logins)
PARTITION BY toYYYYMM(bucket)
ORDER BY (user_id, bucket, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_login_counts_15m_mv TO user_login_counts_15m AS
SELECT user_id, toStartOfFifteenMinutes(occurred_at) AS bucket, application_id, count() AS logins
FROM login_events
WHERE success
GROUP BY user_id, bucket, application_id;

CREATE TABLE IF NOT EXISTS login_id_counts_15m
(
    login_id       String,
    bucket         DateTime('UTC'),
    application_id UUID,
    logins         UInt64
)
ENGINE = SummingMergeTree(logins)
PARTITION BY toYYYYMM(bucket)
ORDER BY (login_id, bucket, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS login_id_counts_15m_mv TO login_id_counts_15m AS
SELECT login_id, toStartOfFifteenMinutes(occurred_at) AS bucket, application_id, count() AS logins
FROM login_events
WHERE success
GROUP BY login_id, bucket, application_id;

-- Successful logins per UTC hour for the reports that span weeks or months
-- (one row per hour instead of the 15-minute rollup's row per bucket, org,
-- application, provider, outcome and reason), at five levels (`scope`):
--   0 all applications          (org_id, application_id nil; provider '')
--   1 one application           (org_id nil)
--   2 one organization          (application_id nil; provider '')
--   3 organization × provider   (application_id nil)
--   4 organization × application (provider '')
-- Hourly UTC buckets are exact for a report timezone whose offset is a
-- whole number of hours over the report's range; the query layer checks
-- that and falls back to login_counts_15m otherwise.
CREATE TABLE IF NOT EXISTS login_hourly
(
    scope          UInt8,
    org_id         UUID,
    application_id UUID,
    provider       LowCardinality(String),
    hour           DateTime('UTC'),
    logins         UInt64
)
ENGINE = SummingMergeTree(logins)
PARTITION BY toYear(hour)
ORDER BY (scope, org_id, application_id, provider, hour)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS login_hourly_mv TO login_hourly AS
SELECT lvl.1 AS scope, lvl.2 AS org_id, lvl.3 AS application_id, lvl.4 AS provider, h AS hour, sum(n) AS logins
FROM
(
    SELECT toStartOfHour(occurred_at) AS h, org_id AS o, application_id AS a, provider AS p, count() AS n
    FROM login_events
    WHERE success
    GROUP BY h, o, a, p
)
ARRAY JOIN [
    (0, toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'), ''),
    (1, toUUID('00000000-0000-0000-0000-000000000000'), a, ''),
    (2, o, toUUID('00000000-0000-0000-0000-000000000000'), ''),
    (3, o, toUUID('00000000-0000-0000-0000-000000000000'), p),
    (4, o, a, '')
] AS lvl
GROUP BY scope, org_id, application_id, provider, hour;
