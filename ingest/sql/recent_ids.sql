SELECT event_id
FROM ingest_event_ids
WHERE topic = {topic:String}
  AND partition = {partition:UInt32}
  AND offset >= {from:UInt64}
  AND offset < {to:UInt64}
ORDER BY offset
