-- Tokens issued per local month, grant type and token type, from the
-- 15-minute rollup (any report timezone).
SELECT formatDateTime(toStartOfMonth(bucket, {tz:String}), '%Y%m') AS month,
       toString(grant_type) AS grant_type, toString(token_type) AS token_type, sum(tokens) AS count
FROM token_counts_15m
WHERE bucket >= toDateTime({from:Int64}, 'UTC')
  AND bucket < toDateTime({to:Int64}, 'UTC')
GROUP BY month, grant_type, token_type
ORDER BY month, grant_type, token_type
