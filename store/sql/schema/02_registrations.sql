-- Registrations and user lifecycle: the raw registration events and every
-- rollup and state table fed from them.
-- Written by: ingest (registration_events); the materialized views below.
-- Read by: FusionAuth registration and totals reports, Janssen stat
-- (registration_hourly, registration_counts_15m, registration_totals),
-- the current-registrations snapshot (10_snapshots.sql: registration_state,
-- user_state), org analytics' service names (08_orgs.sql).

CREATE TABLE IF NOT EXISTS registration_events
(
    event_id         UUID,
    occurred_at      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    org_id           UUID,
    org_slug         LowCardinality(String),
    action           LowCardinality(String),
    user_id          UUID,
    application_id   UUID,
    application_name LowCardinality(String),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, application_id, occurred_at, event_id)
TTL toDateTime(occurred_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Events per 15 minutes by action (registration report, all-time totals).
CREATE TABLE IF NOT EXISTS registration_counts_15m
(
    bucket         DateTime('UTC'),
    org_id         UUID,
    application_id UUID,
    action         LowCardinality(String),
    events         UInt64
)
ENGINE = SummingMergeTree(events)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, org_id, application_id, action)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS registration_counts_15m_mv TO registration_counts_15m AS
SELECT toStartOfFifteenMinutes(occurred_at) AS bucket, org_id, application_id, action, count() AS events
FROM registration_events
GROUP BY bucket, org_id, application_id, action;

CREATE TABLE IF NOT EXISTS registration_totals
(
    org_id         UUID,
    application_id UUID,
    action         LowCardinality(String),
    events         UInt64
)
ENGINE = SummingMergeTree(events)
ORDER BY (org_id, application_id, action)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS registration_totals_mv TO registration_totals AS
SELECT org_id, application_id, action, count() AS events
FROM registration_events
GROUP BY org_id, application_id, action;

-- Current state per (application, user): the latest event wins, an
-- unregistration outranks a registration at the same millisecond.
CREATE TABLE IF NOT EXISTS registration_state
(
    org_id         UUID,
    application_id UUID,
    user_id        UUID,
    registered     Bool,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, application_id, user_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS registration_state_mv TO registration_state AS
SELECT org_id, application_id, user_id, action = 'registered' AS registered,
       toUInt64(toUnixTimestamp64Milli(occurred_at)) * 2 + (action = 'unregistered') AS version
FROM registration_events
WHERE action IN ('registered', 'unregistered');

-- Current state per user (deleted or not).
CREATE TABLE IF NOT EXISTS user_state
(
    org_id  UUID,
    user_id UUID,
    deleted Bool,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, user_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_state_mv TO user_state AS
SELECT org_id, user_id, action = 'user_deleted' AS deleted,
       toUInt64(toUnixTimestamp64Milli(occurred_at)) * 2 + (action = 'user_deleted') AS version
FROM registration_events
WHERE action IN ('user_created', 'user_deleted');

-- Registered users per UTC hour for the FusionAuth registration report,
-- which asks for every hour of a range (often 90 days), at two levels
-- (`scope`):
--   0 all applications (application_id nil)
--   1 one application
-- Used when the report zone's offset is a whole number of hours over the
-- range (as login_hourly); registration_counts_15m answers otherwise.
CREATE TABLE IF NOT EXISTS registration_hourly
(
    scope          UInt8,
    application_id UUID,
    hour           DateTime('UTC'),
    registrations  UInt64
)
ENGINE = SummingMergeTree(registrations)
PARTITION BY toYear(hour)
ORDER BY (scope, application_id, hour)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS registration_hourly_mv TO registration_hourly AS
SELECT lvl.1 AS scope, lvl.2 AS application_id, h AS hour, sum(n) AS registrations
FROM
(
    SELECT toStartOfHour(occurred_at) AS h, application_id AS a, count() AS n
    FROM registration_events
    WHERE action = 'registered'
    GROUP BY h, a
)
ARRAY JOIN [
    (0, toUUID('00000000-0000-0000-0000-000000000000')),
    (1, a)
] AS lvl
GROUP BY scope, application_id, hour;
