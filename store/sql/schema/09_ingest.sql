-- Ingest bookkeeping: what the consumer writes besides events, for exact
-- delivery (docs/delivery.md).
-- Written and read by: ingest only (and `migrate --raw-retention-days`,
-- which sets ingest_claims_by_time's TTL with the raw tables').

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
-- `members` names the whole store group (one batch per partition stored
-- with one insert per table), so whoever resumes any of its partitions can
-- re-form the group; empty for a one-batch group.
CREATE TABLE IF NOT EXISTS ingest_batches
(
    consumer_group   String,
    topic            String,
    partition        UInt32,
    first_offset     UInt64,
    last_offset      UInt64,
    created_at       DateTime64(3, 'UTC') DEFAULT now64(3),
    members          String DEFAULT ''
)
ENGINE = MergeTree
ORDER BY (consumer_group, topic, partition, first_offset)
TTL toDateTime(created_at) + INTERVAL 7 DAY;

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
    occurred_at DateTime64(3, 'UTC'),
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
ORDER BY (topic, partition, offset)
TTL inserted_at + INTERVAL 3 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Global re-send filter (docs/delivery.md, "Producer re-sends"): one row per
-- event stored (id and event time), written by ingest before the event's
-- rows. A store group looks up the (event time, id) pairs it is about to
-- store here first; a pair claimed by another store (any partition, any
-- time within raw retention) is a re-send and is dropped. `store_key`
-- names the store group that claimed it (consumer group and members'
-- offsets): when a crashed group is re-formed, its own claims are
-- recognised and its rows stored again. Sorted by event time so that a
-- group's lookup reads the granules of the times it holds, not every
-- granule (random ids spread any group over the whole table); granules
-- of 1 024 rows, as a late event's lookup reads one of them. Not
-- partitioned: a group's claims land as one part, all or none. Rows leave
-- with the raw retention.
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
