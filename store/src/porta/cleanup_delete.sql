-- Lightweight delete of raw audit entries older than the cutoff. Rollups
-- (audit_counts_15m, entity_state) are separate tables and keep their rows.
DELETE FROM audit_events WHERE occurred_at < fromUnixTimestamp64Milli({cutoff_ms:Int64}, 'UTC')
