-- Audit log: the raw audit events, its two re-sorted copies, its rollup and
-- the current status of every audited entity.
-- Written by: ingest (audit_events); the materialized views below. The
-- audit cleanup (Porta's cleanup endpoint) deletes from audit_events,
-- audit_by_time and audit_entity_history alike.
-- Read by: Porta audit list and Porta stats' 7-day edges (audit_by_time), entity history
-- (audit_entity_history), audit counts and cleanup (audit_events), Porta
-- stats (audit_counts_15m via 10_snapshots.sql), entity statuses
-- (entity_state via 10_snapshots.sql), org claims (08_orgs.sql).

-- No TTL: audit retention is a setting (system_config,
-- audit_retention_days) applied by the cleanup. Skip indexes for raw reads
-- that cannot use the (org_id, occurred_at) sort key: a bloom filter on
-- entity_id, a min/max on occurred_at for newest-first reads across orgs.
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
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX audit_entity_id_bf entity_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX audit_occurred_at_mm occurred_at TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Audit events per 15 minutes by action and entity type.
CREATE TABLE IF NOT EXISTS audit_counts_15m
(
    bucket      DateTime('UTC'),
    org_id      UUID,
    action      LowCardinality(String),
    entity_type LowCardinality(String),
    events      UInt64
)
ENGINE = SummingMergeTree(events)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, org_id, action, entity_type)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS audit_counts_15m_mv TO audit_counts_15m AS
SELECT toStartOfFifteenMinutes(occurred_at) AS bucket, org_id, action, entity_type, count() AS events
FROM audit_events
GROUP BY bucket, org_id, action, entity_type;

-- Current lifecycle status of every audited entity (organizations, users,
-- applications, clients, ...): the latest lifecycle action wins. The status
-- table mirrors authpulse_schemas::entity_status.
CREATE TABLE IF NOT EXISTS entity_state
(
    entity_type LowCardinality(String),
    entity_id   String,
    org_id      UUID,
    status      LowCardinality(String),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (entity_type, entity_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS entity_state_mv TO entity_state AS
SELECT entity_type, entity_id, org_id, status,
       toUInt64(toUnixTimestamp64Milli(occurred_at)) AS version
FROM
(
    SELECT entity_type, entity_id, org_id, occurred_at,
           substring(action, position(action, '.') + 1) AS suffix,
           multiIf(
               suffix IN ('created', 'activated', 'unlocked', 'auto_unlocked'), 'active',
               suffix = 'suspended', 'suspended',
               suffix = 'archived', 'archived',
               suffix IN ('locked', 'auto_locked'), 'locked',
               suffix = 'revoked', 'revoked',
               suffix = 'invited', 'inactive',
               suffix = 'data_purged', 'deleted',
               '') AS status
    FROM audit_events
)
WHERE status != '';

-- The audit log sorted by entity, for the Porta entity history (newest
-- first, keyset-paginated): an entity's entries are contiguous, granules
-- are small, and the sort key ends with the history's own order (time,
-- then the id's text), so a page is read from the end of the entity's
-- range instead of sorting all its entries.
CREATE TABLE IF NOT EXISTS audit_entity_history
(
    entity_type LowCardinality(String),
    entity_id   String,
    occurred_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    event_id    UUID,
    org_id      UUID,
    action      LowCardinality(String),
    actor_id    String,
    metadata    String CODEC(ZSTD(3)),
    ip_address  String
)
ENGINE = MergeTree
ORDER BY (entity_type, entity_id, occurred_at, toString(event_id))
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS audit_entity_history_mv TO audit_entity_history AS
SELECT entity_type, entity_id, occurred_at, event_id, org_id, action, actor_id, metadata, ip_address
FROM audit_events;

-- The audit log sorted by time, for the Porta audit list (newest first,
-- filters, offset pages): the newest entries are the last small granules
-- of each part, read in reverse order.
CREATE TABLE IF NOT EXISTS audit_by_time
(
    occurred_at     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    event_id        UUID,
    org_id          UUID,
    action          LowCardinality(String),
    entity_type     LowCardinality(String),
    entity_id       String,
    actor_id        String,
    actor_email     String,
    organization_id String,
    metadata        String CODEC(ZSTD(3)),
    ip_address      String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY occurred_at
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS audit_by_time_mv TO audit_by_time AS
SELECT occurred_at, event_id, org_id, action, entity_type, entity_id, actor_id, actor_email,
       organization_id, metadata, ip_address
FROM audit_events;
