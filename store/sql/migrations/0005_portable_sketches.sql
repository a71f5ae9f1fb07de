-- Portable distinct-user sketches (HyperLogLog, `hyperloglog` crate format,
-- serialized as JSON) exported per local month, so separate deployments can
-- union their monthly active users the way Janssen unions per-server
-- sketches. Kept here so they outlive the raw logins they were built from.
CREATE TABLE IF NOT EXISTS portable_sketches
(
    month      String,
    tz         LowCardinality(String),
    scope      String,
    sketch     String CODEC(ZSTD(3)),
    users      Float64,
    created_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (month, tz, scope);
