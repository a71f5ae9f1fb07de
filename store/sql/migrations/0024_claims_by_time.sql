-- The re-send filter's claims sorted by event time (docs/delivery.md,
-- "Producer re-sends"). ingest_claims (0020) is sorted by event id, and a
-- store group's random ids touch every granule: at 42.8 M claims each
-- group's lookup read the whole table (3.4-3.9 s, benchmark of
-- 2026-12-04) and bounded ingest. Here a group reads the granules of the
-- event times it holds (granules of 1 024 rows: a late event's lookup
-- reads one); the ids written per position carry the event time for that
-- lookup. A re-send is the same id with the same event time (the
-- same event sent again).
--
-- Run with ingest stopped (ingest of this release reads and writes only
-- the new table; 0025 drops the old one). The copy skips what a previous,
-- interrupted run already copied.
ALTER TABLE ingest_event_ids ADD COLUMN IF NOT EXISTS occurred_at DateTime64(3, 'UTC') AFTER event_id;

CREATE TABLE IF NOT EXISTS ingest_claims_by_time
(
    occurred_at  DateTime64(3, 'UTC'),
    event_id     UUID,
    topic        LowCardinality(String),
    partition    UInt32,
    offset       UInt64,
    store_key    String CODEC(ZSTD(3)),
    claimed_at   DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
ORDER BY (occurred_at, event_id)
TTL toDateTime(occurred_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

INSERT INTO ingest_claims_by_time (occurred_at, event_id, topic, partition, offset, store_key, claimed_at)
SELECT occurred_at, event_id, topic, partition, offset, store_key, claimed_at
FROM ingest_claims
WHERE (occurred_at, event_id) NOT IN (SELECT occurred_at, event_id FROM ingest_claims_by_time);
