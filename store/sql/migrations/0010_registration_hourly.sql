-- Registrations per UTC hour for the FusionAuth registration report, which
-- asks for every hour of a range (often 90 days). The 15-minute rollup keeps
-- a row per (bucket, org, application, action): about 1.4 M rows at 100 M
-- events, read in full for every report. This table keeps only registered
-- users per hour at two levels (`scope`):
--   0 all applications (application_id nil)
--   1 one application
-- Used when the report zone's offset is a whole number of hours over the
-- range (as login_hourly, 0007); the 15-minute table answers otherwise.
-- Run with ingest stopped: the backfill copies the 15-minute rollup, and an
-- insert between the view's creation and the backfill would count twice.
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

INSERT INTO registration_hourly
SELECT lvl.1 AS scope, lvl.2 AS application_id, h AS hour, sum(n) AS registrations
FROM
(
    SELECT toStartOfHour(bucket) AS h, application_id AS a, sum(events) AS n
    FROM registration_counts_15m
    WHERE action = 'registered'
    GROUP BY h, a
)
ARRAY JOIN [
    (0, toUUID('00000000-0000-0000-0000-000000000000')),
    (1, a)
] AS lvl
GROUP BY scope, application_id, hour;
