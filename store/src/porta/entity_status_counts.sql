-- Current status counts of the Porta entity types, from the snapshot that
-- entity_status_now_rmv refreshes every few seconds (0007_coarse_rollups.sql).
SELECT entity_type, status, sum(entities) AS count
FROM entity_status_now
WHERE entity_type IN ('organization', 'user', 'application', 'client')
GROUP BY entity_type, status
ORDER BY entity_type, status
