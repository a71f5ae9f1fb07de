-- Distinct-user sketch MVs for one report timezone ({{tz}}), created by
-- `migrate --timezones`. Local days and months are computed in the zone, so
-- daily and monthly active users are exact per local calendar.
CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_daily_mv_{{name}} TO active_users_daily AS
SELECT '{{tz}}' AS tz, toDate(occurred_at, '{{tz}}') AS day, org_id, application_id,
       uniqCombined64State(17)(user_id) AS users
FROM login_events
WHERE success
GROUP BY day, org_id, application_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_monthly_mv_{{name}} TO active_users_monthly AS
SELECT '{{tz}}' AS tz, toStartOfMonth(occurred_at, '{{tz}}') AS month, org_id, application_id,
       uniqCombined64State(17)(user_id) AS users
FROM login_events
WHERE success
GROUP BY month, org_id, application_id;
