-- Event ids per partition offset, written with each batch (same
-- deduplication token scheme). A consumer that takes over a partition
-- (restart, rebalance) loads the ids of the offsets just before its resume
-- point, so a producer's re-send of an event is dropped across owners too.
CREATE TABLE IF NOT EXISTS ingest_event_ids
(
    topic       LowCardinality(String),
    partition   UInt32,
    offset      UInt64,
    event_id    UUID,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
ORDER BY (topic, partition, offset)
TTL inserted_at + INTERVAL 3 DAY
SETTINGS non_replicated_deduplication_window = 10000;
