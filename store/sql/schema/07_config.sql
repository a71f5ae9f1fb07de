-- System configuration.
-- Written by: `authpulse config set` (store admin query config_set.sql).
-- Read by: the audit cleanup (audit_retention_days) and `config get`.

-- The latest write of a key wins.
CREATE TABLE IF NOT EXISTS system_config
(
    key        String,
    value      String,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY key;
