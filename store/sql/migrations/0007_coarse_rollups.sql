-- Coarser rollups for the reports that span weeks or months, and snapshots
-- of the "how many now" questions.
--
-- At 1–10 M events over 90 days the 15-minute rollups keep one row per
-- (bucket, org, application, provider, outcome, reason): about a third of
-- the raw rows, so reading them costs almost as much as scanning raw. The
-- hourly tables below keep only what the long-range reports group by, with
-- the "all" levels precomputed, so a report reads one row per hour.
--
-- Hourly UTC buckets are exact for every report timezone whose offset is a
-- whole number of hours over the report's range; the query layer checks
-- that and falls back to the 15-minute tables otherwise (India, Nepal,
-- Newfoundland, South Australia, ...).
--
-- Existing deployments: the backfills below copy the 15-minute rollups
-- (which outlive raw retention). Run this migration with ingest stopped, as
-- every migration that backfills: an insert landing between the view's
-- creation and the backfill would be counted twice.

-- Successful logins per UTC hour at five levels (`scope`):
--   0 all applications          (org_id, application_id nil; provider '')
--   1 one application           (org_id nil)
--   2 one organization          (application_id nil; provider '')
--   3 organization × provider   (application_id nil)
--   4 organization × application (provider '')
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

INSERT INTO login_hourly
SELECT lvl.1 AS scope, lvl.2 AS org_id, lvl.3 AS application_id, lvl.4 AS provider, h AS hour, sum(n) AS logins
FROM
(
    SELECT toStartOfHour(bucket) AS h, org_id AS o, application_id AS a, provider AS p, sum(logins) AS n
    FROM login_counts_15m
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

-- Tokens issued per UTC hour by grant type and token type (Janssen stat).
CREATE TABLE IF NOT EXISTS token_hourly
(
    hour       DateTime('UTC'),
    grant_type LowCardinality(String),
    token_type LowCardinality(String),
    tokens     UInt64
)
ENGINE = SummingMergeTree(tokens)
PARTITION BY toYear(hour)
ORDER BY (hour, grant_type, token_type)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS token_hourly_mv TO token_hourly AS
SELECT toStartOfHour(occurred_at) AS hour, grant_type, token_type, count() AS tokens
FROM token_events
GROUP BY hour, grant_type, token_type;

INSERT INTO token_hourly
SELECT toStartOfHour(bucket) AS h, grant_type, token_type, sum(tokens)
FROM token_counts_15m
GROUP BY h, grant_type, token_type;

-- Snapshots of current state. Entity statuses, active sessions and current
-- registrations are questions about every entity, session and registration
-- (a FINAL read of a state table, growing with their number, not with
-- events). Refreshable views answer them every 5 seconds in the background
-- and the API reads the few resulting rows; the answers are at most one
-- refresh old. Change the period with
--   ALTER TABLE <view> MODIFY REFRESH EVERY 30 SECOND
CREATE TABLE IF NOT EXISTS entity_status_now
(
    entity_type LowCardinality(String),
    status      LowCardinality(String),
    entities    UInt64
)
ENGINE = MergeTree
ORDER BY (entity_type, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS entity_status_now_rmv
REFRESH EVERY 5 SECOND TO entity_status_now AS
SELECT entity_type, status, count() AS entities
FROM entity_state FINAL
GROUP BY entity_type, status;

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
REFRESH EVERY 5 SECOND TO sessions_now AS
SELECT now64(3, 'UTC') AS as_of, count() AS sessions, uniqExact(user_id) AS users
FROM session_state FINAL
WHERE NOT revoked
  AND expires_at > now64(3, 'UTC')
  AND intDiv(version, 2) <= toUInt64(toUnixTimestamp64Milli(now64(3, 'UTC')));

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
REFRESH EVERY 5 SECOND TO registrations_now AS
SELECT application_id, count() AS registrations
FROM registration_state FINAL
WHERE registered
  AND (org_id, user_id) NOT IN (SELECT org_id, user_id FROM user_state FINAL WHERE deleted)
GROUP BY application_id;
