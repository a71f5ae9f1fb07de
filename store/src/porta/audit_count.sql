-- Number of audit entries matching the filter (audit_filter.sql).
SELECT count() AS total
FROM audit_by_time
{{filter}}
