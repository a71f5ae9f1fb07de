-- The latest name seen for each application of one organization.
SELECT application_id AS id, argMax(application_name, last_seen) AS name
FROM application_names
WHERE org_id = {org_id:UUID}
GROUP BY application_id
