-- The organization id of a slug (the most recently seen one).
SELECT argMax(org_id, last_seen) AS org_id, count() AS n
FROM org_slugs
WHERE org_slug = {slug:String}
