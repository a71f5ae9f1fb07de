INSERT INTO system_config (key, value, updated_at)
SELECT {key:String}, {value:String}, now64(3)
