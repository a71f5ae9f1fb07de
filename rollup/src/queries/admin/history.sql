-- History of one entity, newest first, keyset-paginated on
-- (occurred_at, id text): the page after a cursor holds strictly older
-- entries (or equal time and a smaller id).
--
-- The id-text tie-break keeps ClickHouse from reading the entity's entries
-- in sort order, so the subquery (same filter, ordered by time only, read
-- in order) finds the time of the page's last entry, and only entries at
-- or after it are read and sorted: entries outside that window are
-- strictly older, and the window holds at least a page of them.
SELECT event_id AS id,
       toUnixTimestamp64Milli(occurred_at) AS created_at_ms,
       action, actor_id, metadata, ip_address
FROM audit_entity_history
WHERE entity_type = {entity_type:String}
  AND entity_id = {entity_id:String}
  AND ({any_org:Bool} OR org_id = {org_id:UUID})
  AND startsWith(action, {prefix:String})
  AND ({first:Bool}
       OR (occurred_at, toString(event_id)) < (fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC'), {after_id:String}))
  AND occurred_at >= ifNull(
      (SELECT occurred_at FROM audit_entity_history
       WHERE entity_type = {entity_type:String}
         AND entity_id = {entity_id:String}
         AND ({any_org:Bool} OR org_id = {org_id:UUID})
         AND startsWith(action, {prefix:String})
         AND ({first:Bool}
              OR (occurred_at, toString(event_id)) < (fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC'), {after_id:String}))
       ORDER BY occurred_at DESC
       LIMIT 1 OFFSET {last:UInt32}),
      toDateTime64(0, 3, 'UTC'))
ORDER BY occurred_at DESC, toString(event_id) DESC
LIMIT {limit:UInt32}
