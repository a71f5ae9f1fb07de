-- The same entries in the entity-history copy of the audit log (0013).
DELETE FROM audit_entity_history WHERE occurred_at < fromUnixTimestamp64Milli({cutoff_ms:Int64}, 'UTC')
