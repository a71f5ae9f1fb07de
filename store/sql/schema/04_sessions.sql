-- Sessions: the raw session events and the latest state per session.
-- Written by: ingest (session_events); the materialized view below.
-- Read by: the active-sessions snapshot (10_snapshots.sql: session_state).

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

-- The latest state per session. A revocation outranks a creation at the
-- same millisecond. Rows leave by TTL once they cannot be active.
CREATE TABLE IF NOT EXISTS session_state
(
    session_id String,
    org_id     UUID,
    user_id    UUID,
    expires_at DateTime64(3, 'UTC'),
    revoked    Bool,
    version    UInt64,
    keep_until DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (session_id)
TTL keep_until
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS session_state_mv TO session_state AS
SELECT session_id, org_id, user_id, expires_at, action = 'revoked' AS revoked,
       toUInt64(toUnixTimestamp64Milli(occurred_at)) * 2 + (action = 'revoked') AS version,
       -- a creation is dropped a day after it expires; a revocation is kept
       -- for 400 days so it always outlives the creation it cancels.
       if(action = 'revoked', toDateTime(occurred_at) + INTERVAL 400 DAY,
          toDateTime(greatest(expires_at, occurred_at)) + INTERVAL 1 DAY) AS keep_until
FROM session_events;
