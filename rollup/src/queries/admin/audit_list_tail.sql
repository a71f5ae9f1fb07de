ORDER BY occurred_at DESC, toString(event_id) DESC
LIMIT {limit:UInt64} OFFSET {offset:UInt64}
