-- Global re-send filter (docs/delivery.md, "Producer re-sends"): one row per
-- event id stored, written by ingest before the event's rows. A store
-- group looks up the ids it is about to store here first; an id claimed
-- by another store (any partition, any time within raw retention) is a
-- re-send and is dropped. `store_key` names the store group that claimed
-- it (consumer group and members' offsets): when a crashed group is
-- re-formed, its own claims are recognised and its rows stored again
-- (ClickHouse drops the tables that already had them by token). Rows leave
-- with the raw retention (migrate --raw-retention-days sets both).
CREATE TABLE IF NOT EXISTS ingest_claims
(
    event_id     UUID,
    topic        LowCardinality(String),
    partition    UInt32,
    offset       UInt64,
    occurred_at  DateTime64(3, 'UTC'),
    store_key    String CODEC(ZSTD(3)),
    claimed_at   DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
ORDER BY event_id
TTL toDateTime(occurred_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;
