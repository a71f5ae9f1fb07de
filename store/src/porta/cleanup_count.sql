-- Raw audit entries older than the cutoff.
SELECT count() FROM audit_events WHERE occurred_at < fromUnixTimestamp64Milli({cutoff_ms:Int64}, 'UTC')
