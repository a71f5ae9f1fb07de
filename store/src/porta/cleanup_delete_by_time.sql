-- The same entries in the time-sorted copy of the audit log (0014).
DELETE FROM audit_by_time WHERE occurred_at < fromUnixTimestamp64Milli({cutoff_ms:Int64}, 'UTC')
