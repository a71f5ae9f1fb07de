-- Every claim of every organization id that ever claimed {slug}: enough to
-- tell who owns the slug (its first claimant) and whether that id's own
-- first slug is this one (store/src/orgs/claims.rs, `owner_of`). GLOBAL:
-- on a cluster the subquery runs once and its ids go to every shard.
SELECT org_slug,
       org_id,
       toUnixTimestamp64Milli(min(first_ingested)) AS ingested_ms,
       toUnixTimestamp64Milli(min(first_occurred)) AS occurred_ms
FROM org_claims
WHERE org_id GLOBAL IN (SELECT org_id FROM org_claims WHERE org_slug = {slug:String})
GROUP BY org_slug, org_id
