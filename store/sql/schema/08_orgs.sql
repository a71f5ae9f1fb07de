-- Organizations: slug ownership and application (service) names, fed by
-- views on the raw tables so the API never scans raw events to resolve a
-- slug or a service name.
-- Written by: the materialized views below (from 01..05's raw tables).
-- Read by: the API's slug resolution and authorization (org_claims, by the
-- rule `owner_of` in the store's admin queries), org analytics' service
-- names (application_names), Grafana's org variable and panels
-- (org_owned_slugs).

-- Slug claims. First claim wins, in ingest order: a slug belongs to the id
-- that claimed it first, an id keeps the first slug it was seen with, and
-- a slug resolves only when both agree (docs/auth.md). "First" is by
-- `ingested_at` (set by the server on insert, so a backdated `occurred_at`
-- cannot jump the queue), then by `occurred_at`, then by id / slug text.
CREATE TABLE IF NOT EXISTS org_claims
(
    org_slug       String,
    org_id         UUID,
    first_ingested SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    first_occurred SimpleAggregateFunction(min, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (org_slug, org_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_claims_login_mv TO org_claims AS
SELECT org_slug, org_id, min(ingested_at) AS first_ingested, min(occurred_at) AS first_occurred
FROM login_events
GROUP BY org_slug, org_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_claims_registration_mv TO org_claims AS
SELECT org_slug, org_id, min(ingested_at) AS first_ingested, min(occurred_at) AS first_occurred
FROM registration_events
GROUP BY org_slug, org_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_claims_token_mv TO org_claims AS
SELECT org_slug, org_id, min(ingested_at) AS first_ingested, min(occurred_at) AS first_occurred
FROM token_events
GROUP BY org_slug, org_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_claims_session_mv TO org_claims AS
SELECT org_slug, org_id, min(ingested_at) AS first_ingested, min(occurred_at) AS first_occurred
FROM session_events
GROUP BY org_slug, org_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS org_claims_audit_mv TO org_claims AS
SELECT org_slug, org_id, min(ingested_at) AS first_ingested, min(occurred_at) AS first_occurred
FROM audit_events
GROUP BY org_slug, org_id;

-- Org slugs as the API resolves them (the first-claim rule above), for
-- readers outside the API such as Grafana.
CREATE VIEW IF NOT EXISTS org_owned_slugs AS
WITH claims AS
(
    SELECT org_slug, org_id, min(first_ingested) AS i, min(first_occurred) AS o
    FROM org_claims
    GROUP BY org_slug, org_id
)
SELECT s.org_slug AS org_slug, s.owner AS org_id
FROM
(
    SELECT org_slug, argMin(org_id, (i, o, toString(org_id))) AS owner
    FROM claims
    GROUP BY org_slug
) AS s
INNER JOIN
(
    SELECT org_id, argMin(org_slug, (i, o, org_slug)) AS first_slug
    FROM claims
    GROUP BY org_id
) AS f ON s.owner = f.org_id
WHERE s.org_slug = f.first_slug;

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
