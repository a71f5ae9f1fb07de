-- One page of the audit log, newest first; ties broken by the id's
-- canonical text (= byte order), descending. The filter placeholders are
-- replaced with audit_filter.sql.
--
-- audit_by_time (0014) is sorted by time, but the text tie-break keeps
-- ClickHouse from reading it in order. So the subquery, which does read in
-- order, finds the time of the page's last entry in time order (the
-- last-th, 0-based), and the page is sorted from the entries at or after
-- it: every entry outside that window is strictly older than every entry
-- in it, and the window holds at least last + 1 matching entries.
SELECT event_id AS id,
       toUnixTimestamp64Milli(occurred_at) AS created_at_ms,
       action, entity_type, entity_id, actor_id, actor_email, organization_id, metadata, ip_address
FROM audit_by_time
{{filter}}
  AND occurred_at >= ifNull(
      (SELECT occurred_at FROM audit_by_time
       {{filter}}
       ORDER BY occurred_at DESC
       LIMIT 1 OFFSET {last:UInt64}),
      toDateTime64(0, 3, 'UTC'))
ORDER BY occurred_at DESC, toString(event_id) DESC
LIMIT {limit:UInt64} OFFSET {offset:UInt64}
