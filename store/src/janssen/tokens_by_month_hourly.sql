-- Tokens issued per local month, grant type and token type, from the hourly
-- rollup (report timezone with whole-hour offsets over the range).
SELECT formatDateTime(toStartOfMonth(hour, {tz:String}), '%Y%m') AS month,
       toString(grant_type) AS grant_type, toString(token_type) AS token_type, sum(tokens) AS count
FROM token_hourly
WHERE hour >= toDateTime({from:Int64}, 'UTC')
  AND hour < toDateTime({to:Int64}, 'UTC')
GROUP BY month, grant_type, token_type
ORDER BY month, grant_type, token_type
