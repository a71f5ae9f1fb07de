-- Rollups fed by materialized views. Counts live at a 15-minute UTC grain
-- (exact for every report timezone); distinct users live as mergeable
-- uniqCombined64 sketch states per local day and month of each report
-- timezone (see `zones` in migrate.rs, which creates one MV per zone);
-- "how many now" questions read small ReplacingMergeTree state tables.
-- Every table keeps a deduplication window so a replayed insert into the raw
-- table is dropped here too.

-- All-time logins per application (FusionAuth totals), tiny by design.
CREATE TABLE IF NOT EXISTS login_totals
(
    org_id         UUID,
    application_id UUID,
    logins         UInt64
)
ENGINE = SummingMergeTree(logins)
ORDER BY (org_id, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS login_totals_mv TO login_totals AS
SELECT org_id, application_id, count() AS logins
FROM login_events
WHERE success
GROUP BY org_id, application_id;

-- Successful logins per user and per login id (login report by userId /
-- loginId): the cost of a report grows with that user's logins only.
CREATE TABLE IF NOT EXISTS user_login_counts_15m
(
    user_id        UUID,
    bucket         DateTime('UTC'),
    application_id UUID,
    logins         UInt64
)
ENGINE = SummingMergeTree(logins)
PARTITION BY toYYYYMM(bucket)
ORDER BY (user_id, bucket, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_login_counts_15m_mv TO user_login_counts_15m AS
SELECT user_id, toStartOfFifteenMinutes(occurred_at) AS bucket, application_id, count() AS logins
FROM login_events
WHERE success
GROUP BY user_id, bucket, application_id;

CREATE TABLE IF NOT EXISTS login_id_counts_15m
(
    login_id       String,
    bucket         DateTime('UTC'),
    application_id UUID,
    logins         UInt64
)
ENGINE = SummingMergeTree(logins)
PARTITION BY toYYYYMM(bucket)
ORDER BY (login_id, bucket, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS login_id_counts_15m_mv TO login_id_counts_15m AS
SELECT login_id, toStartOfFifteenMinutes(occurred_at) AS bucket, application_id, count() AS logins
FROM login_events
WHERE success
GROUP BY login_id, bucket, application_id;

-- Distinct active users (successful logins) as sketch states per local day
-- and month of a report timezone. Filled by one MV per zone.
CREATE TABLE IF NOT EXISTS active_users_daily
(
    tz             LowCardinality(String),
    day            Date,
    org_id         UUID,
    application_id UUID,
    users          AggregateFunction(uniqCombined64(17), UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tz, day, org_id, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS active_users_monthly
(
    tz             LowCardinality(String),
    month          Date,
    org_id         UUID,
    application_id UUID,
    users          AggregateFunction(uniqCombined64(17), UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(month)
ORDER BY (tz, month, org_id, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS report_zones
(
    tz         String,
    created_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY tz;

-- Registrations: events per 15 minutes by action (registration report,
-- all-time totals) and the current state per (application, user) and user.
CREATE TABLE IF NOT EXISTS registration_counts_15m
(
    bucket         DateTime('UTC'),
    org_id         UUID,
    application_id UUID,
    action         LowCardinality(String),
    events         UInt64
)
ENGINE = SummingMergeTree(events)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, org_id, application_id, action)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS registration_counts_15m_mv TO registration_counts_15m AS
SELECT toStartOfFifteenMinutes(occurred_at) AS bucket, org_id, application_id, action, count() AS events
FROM registration_events
GROUP BY bucket, org_id, application_id, action;

CREATE TABLE IF NOT EXISTS registration_totals
(
    org_id         UUID,
    application_id UUID,
    action         LowCardinality(String),
    events         UInt64
)
ENGINE = SummingMergeTree(events)
ORDER BY (org_id, application_id, action)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS registration_totals_mv TO registration_totals AS
SELECT org_id, application_id, action, count() AS events
FROM registration_events
GROUP BY org_id, application_id, action;

CREATE TABLE IF NOT EXISTS registration_state
(
    org_id         UUID,
    application_id UUID,
    user_id        UUID,
    registered     Bool,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, application_id, user_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS registration_state_mv TO registration_state AS
SELECT org_id, application_id, user_id, action = 'registered' AS registered,
       toUInt64(toUnixTimestamp64Milli(occurred_at)) * 2 + (action = 'unregistered') AS version
FROM registration_events
WHERE action IN ('registered', 'unregistered');

CREATE TABLE IF NOT EXISTS user_state
(
    org_id  UUID,
    user_id UUID,
    deleted Bool,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, user_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_state_mv TO user_state AS
SELECT org_id, user_id, action = 'user_deleted' AS deleted,
       toUInt64(toUnixTimestamp64Milli(occurred_at)) * 2 + (action = 'user_deleted') AS version
FROM registration_events
WHERE action IN ('user_created', 'user_deleted');

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

-- Sessions: the latest state per session. A revocation outranks a creation
-- at the same millisecond. Rows leave by TTL once they cannot be active.
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
