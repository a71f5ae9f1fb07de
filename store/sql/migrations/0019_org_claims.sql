-- Org slug ownership. Until now a slug resolved to the organization id seen
-- with it most recently (`org_slugs`), so a single event carrying another
-- org's id under your slug, or two orgs sharing a slug, let one org's
-- members read another's analytics. The rule from here on: first claim
-- wins, in ingest order. A slug belongs to the id that claimed it first, an
-- id keeps the first slug it was seen with, and a slug resolves only when
-- both agree (docs/auth.md). "First" is by `ingested_at` (set by the server
-- on insert, so a backdated `occurred_at` cannot jump the queue), then by
-- `occurred_at`, then by id / slug text. `org_slugs` is no longer read.
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

-- One-time backfill from the raw rows retained before this migration.
INSERT INTO org_claims (org_slug, org_id, first_ingested, first_occurred)
SELECT org_slug, org_id, min(i), min(o)
FROM
(
    SELECT org_slug, org_id, min(ingested_at) AS i, min(occurred_at) AS o FROM login_events GROUP BY org_slug, org_id
    UNION ALL
    SELECT org_slug, org_id, min(ingested_at) AS i, min(occurred_at) AS o FROM registration_events GROUP BY org_slug, org_id
    UNION ALL
    SELECT org_slug, org_id, min(ingested_at) AS i, min(occurred_at) AS o FROM token_events GROUP BY org_slug, org_id
    UNION ALL
    SELECT org_slug, org_id, min(ingested_at) AS i, min(occurred_at) AS o FROM session_events GROUP BY org_slug, org_id
    UNION ALL
    SELECT org_slug, org_id, min(ingested_at) AS i, min(occurred_at) AS o FROM audit_events GROUP BY org_slug, org_id
)
GROUP BY org_slug, org_id;

-- The old "latest wins" map is no longer read: stop feeding it. (The
-- table `org_slugs` itself is left in place, unused.)
DROP VIEW IF EXISTS org_slugs_login_mv;
DROP VIEW IF EXISTS org_slugs_registration_mv;
DROP VIEW IF EXISTS org_slugs_token_mv;
DROP VIEW IF EXISTS org_slugs_session_mv;
DROP VIEW IF EXISTS org_slugs_audit_mv;
