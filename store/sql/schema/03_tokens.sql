-- Tokens: the raw token events and their rollups.
-- Written by: ingest (token_events); the materialized views below.
-- Read by: Janssen stat (token_hourly, token_counts_15m).

CREATE TABLE IF NOT EXISTS token_events
(
    event_id         UUID,
    occurred_at      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    org_id           UUID,
    org_slug         LowCardinality(String),
    grant_type       LowCardinality(String),
    token_type       LowCardinality(String),
    client_id        LowCardinality(String),
    application_id   UUID,
    user_id          UUID,
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, client_id, occurred_at, event_id)
TTL toDateTime(occurred_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Tokens issued per 15 minutes by grant type and token type.
CREATE TABLE IF NOT EXISTS token_counts_15m
(
    bucket         DateTime('UTC'),
    org_id         UUID,
    client_id      LowCardinality(String),
    application_id UUID,
    grant_type     LowCardinality(String),
    token_type     LowCardinality(String),
    tokens         UInt64
)
ENGINE = SummingMergeTree(tokens)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, org_id, client_id, application_id, grant_type, token_type)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS token_counts_15m_mv TO token_counts_15m AS
SELECT toStartOfFifteenMinutes(occurred_at) AS bucket, org_id, client_id, application_id, grant_type, token_type,
       count() AS tokens
FROM token_events
GROUP BY bucket, org_id, client_id, application_id, grant_type, token_type;

-- Tokens issued per UTC hour by grant type and token type (Janssen stat;
-- the 15-minute table answers zones whose offset is not whole hours).
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
