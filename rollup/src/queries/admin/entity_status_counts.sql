-- Current status counts of the Porta entity types.
SELECT entity_type, status, count() AS count
FROM entity_state FINAL
WHERE entity_type IN ('organization', 'user', 'application', 'client')
GROUP BY entity_type, status
ORDER BY entity_type, status
