-- History of one entity, newest first, keyset-paginated on
-- (occurred_at, id text): the page after a cursor holds strictly older
-- entries (or equal time and a smaller id).
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
ORDER BY occurred_at DESC, toString(event_id) DESC
LIMIT {limit:UInt32}
