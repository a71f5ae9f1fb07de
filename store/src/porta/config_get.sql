-- The latest value of a system configuration key (n = 0 when unset).
SELECT argMax(value, updated_at) AS value, count() AS n
FROM system_config
WHERE key = {key:String}
