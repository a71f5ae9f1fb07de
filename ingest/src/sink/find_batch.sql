SELECT last_offset, members
FROM ingest_batches
WHERE consumer_group = {group:String}
  AND topic = {topic:String}
  AND partition = {partition:UInt32}
  AND first_offset = {first:UInt64}
ORDER BY created_at DESC
LIMIT 1
