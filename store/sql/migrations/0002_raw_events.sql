-- Raw tables for the other event families. Same shape as login_events:
-- monthly partitions, tenant-first ordering, raw retention by TTL, and a
-- deduplication window so replayed batches are no-ops.
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

CREATE TABLE IF NOT EXISTS session_events
(
    event_id         UUID,
    occurred_at      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    org_id           UUID,
    org_slug         LowCardinality(String),
    action           LowCardinality(String),
    session_id       String,
    user_id          UUID,
    expires_at       DateTime64(3, 'UTC'),
    application_id   UUID,
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, session_id, occurred_at, event_id)
TTL toDateTime(occurred_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS audit_events
(
    event_id         UUID,
    occurred_at      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    org_id           UUID,
    org_slug         LowCardinality(String),
    action           LowCardinality(String),
    entity_type      LowCardinality(String),
    entity_id        String,
    actor_id         String,
    actor_email      String,
    organization_id  String,
    metadata         String CODEC(ZSTD(3)),
    ip_address       String,
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Messages the consumer could not accept, with the reason. Kept 30 days.
CREATE TABLE IF NOT EXISTS dead_letters
(
    received_at      DateTime64(3, 'UTC') DEFAULT now64(3),
    topic            LowCardinality(String),
    partition        UInt32,
    offset           UInt64,
    reason           LowCardinality(String),
    detail           String,
    payload          String CODEC(ZSTD(3)),
    key              String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, partition, offset)
TTL toDateTime(received_at) + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Write-ahead record of each batch, written before its rows: after a crash
-- the consumer re-forms exactly the same batch (same offsets, same
-- deduplication token), so ClickHouse drops whatever part had landed.
CREATE TABLE IF NOT EXISTS ingest_batches
(
    consumer_group   String,
    topic            String,
    partition        UInt32,
    first_offset     UInt64,
    last_offset      UInt64,
    created_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (consumer_group, topic, partition, first_offset)
TTL toDateTime(created_at) + INTERVAL 7 DAY;
