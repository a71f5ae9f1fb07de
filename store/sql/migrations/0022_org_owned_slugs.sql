-- Org slugs as the API resolves them (first claim wins, 0019; the same rule
-- as `owner_of` in rollup/src/admin.rs): a slug maps to the id that claimed
-- it first, and only when that slug is also the id's own first slug. For
-- readers outside the API, such as Grafana's org variable and panels, which
-- read the old latest-wins map `org_slugs` (no longer fed since 0019).
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
