-- Raw login events: one row per accepted event. Ordered for per-tenant,
-- per-application time scans; partitioned by month so retention drops whole
-- partitions. The deduplication window makes a replayed insert (same
-- insert_deduplication_token) a no-op here and in every MV fed by it.
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
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
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
