-- Monthly active users per local month "YYYYMM" across every organization
-- and application: finalized past months from the snapshot (0016), live
-- global states (0011) for the rest (see active_users_monthly_global.sql).
SELECT formatDateTime(month, '%Y%m') AS ym, count
FROM
(
    SELECT month, users AS count
    FROM active_users_monthly_now
    WHERE tz = {tz:String}
      AND month >= {from_day:Date}
      AND month < {to_day:Date}
      AND month >= {snap_from:Date}
      AND month < {live_from:Date}
    UNION ALL
    SELECT month, uniqCombined64Merge(17)(users) AS count
    FROM active_users_monthly_global
    WHERE tz = {tz:String}
      AND month >= {from_day:Date}
      AND month < {to_day:Date}
      AND (month < {snap_from:Date} OR month >= {live_from:Date}
           OR (SELECT count() FROM active_users_monthly_now WHERE tz = {tz:String}) = 0)
    GROUP BY month
)
ORDER BY ym
