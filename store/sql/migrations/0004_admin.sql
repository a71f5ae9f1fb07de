-- Porta admin and org analytics support: system configuration, the
-- slug → organization map and the latest application (service) names.
-- The small lookup tables are fed by materialized views so the API never
-- scans raw events to resolve a slug or a service name, and backfilled once
-- here from the raw tables retained before this migration.

-- Settings changed with `authpulse config set` (audit_retention_days, ...).
-- The latest write of a key wins.
CREATE TABLE IF NOT EXISTS system_config
(
    key        String,
    value      String,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY key;

-- Organization slug → id. The most recently seen organization wins when a
-- slug is reused.
CREATE TABLE IF NOT EXISTS org_slugs
(
    org_slug  String,
    org_id    UUID,
    last_seen DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(last_seen)
ORDER BY (org_slug, org_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_slugs_login_mv TO org_slugs AS
SELECT org_slug, org_id, max(occurred_at) AS last_seen
FROM login_events
GROUP BY org_slug, org_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_slugs_registration_mv TO org_slugs AS
SELECT org_slug, org_id, max(occurred_at) AS last_seen
FROM registration_events
GROUP BY org_slug, org_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_slugs_token_mv TO org_slugs AS
SELECT org_slug, org_id, max(occurred_at) AS last_seen
FROM token_events
GROUP BY org_slug, org_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_slugs_session_mv TO org_slugs AS
SELECT org_slug, org_id, max(occurred_at) AS last_seen
FROM session_events
GROUP BY org_slug, org_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_slugs_audit_mv TO org_slugs AS
SELECT org_slug, org_id, max(occurred_at) AS last_seen
FROM audit_events
GROUP BY org_slug, org_id;

-- Latest non-empty application name per application (the org analytics
-- "service name").
CREATE TABLE IF NOT EXISTS application_names
(
    org_id           UUID,
    application_id   UUID,
    application_name String,
    last_seen        DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(last_seen)
ORDER BY (org_id, application_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS application_names_login_mv TO application_names AS
SELECT org_id, application_id,
       argMax(name, occurred_at) AS application_name,
       max(occurred_at) AS last_seen
FROM (SELECT org_id, application_id, application_name AS name, occurred_at FROM login_events WHERE application_name != '')
GROUP BY org_id, application_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS application_names_registration_mv TO application_names AS
SELECT org_id, application_id,
       argMax(name, occurred_at) AS application_name,
       max(occurred_at) AS last_seen
FROM (SELECT org_id, application_id, application_name AS name, occurred_at FROM registration_events WHERE application_name != '')
GROUP BY org_id, application_id;

-- One-time backfill from the raw rows stored before this migration.
INSERT INTO org_slugs (org_slug, org_id, last_seen)
SELECT org_slug, org_id, max(last_seen)
FROM
(
    SELECT org_slug, org_id, max(occurred_at) AS last_seen FROM login_events GROUP BY org_slug, org_id
    UNION ALL
    SELECT org_slug, org_id, max(occurred_at) AS last_seen FROM registration_events GROUP BY org_slug, org_id
    UNION ALL
    SELECT org_slug, org_id, max(occurred_at) AS last_seen FROM token_events GROUP BY org_slug, org_id
    UNION ALL
    SELECT org_slug, org_id, max(occurred_at) AS last_seen FROM session_events GROUP BY org_slug, org_id
    UNION ALL
    SELECT org_slug, org_id, max(occurred_at) AS last_seen FROM audit_events GROUP BY org_slug, org_id
)
GROUP BY org_slug, org_id;

INSERT INTO application_names (org_id, application_id, application_name, last_seen)
SELECT org_id, application_id,
       argMax(application_name, occurred_at) AS application_name,
       max(occurred_at) AS last_seen
FROM
(
    SELECT org_id, application_id, application_name, occurred_at FROM login_events WHERE application_name != ''
    UNION ALL
    SELECT org_id, application_id, application_name, occurred_at FROM registration_events WHERE application_name != ''
)
GROUP BY org_id, application_id;
