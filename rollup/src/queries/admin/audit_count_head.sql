-- Number of audit entries matching the filter that follows.
SELECT count() AS total
FROM audit_events
