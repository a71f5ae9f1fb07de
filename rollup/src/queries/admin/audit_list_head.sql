-- One page of the audit log, newest first; ties broken by the id's
-- canonical text (= byte order), descending. The filter follows.
SELECT event_id AS id,
       toUnixTimestamp64Milli(occurred_at) AS created_at_ms,
       action, entity_type, entity_id, actor_id, actor_email, organization_id, metadata, ip_address
FROM audit_events
