-- Distinct-user sketch MVs for one report timezone ({{tz}}), created by
-- `migrate --timezones`. Local days and months are computed in the zone, so
-- daily and monthly active users are exact per local calendar. Each login
-- feeds its application's state and an all-applications state (application
-- id 00000000-…-0000), so a global report merges one state per org and day
-- instead of one per application.
CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_daily_mv2_{{name}} TO active_users_daily AS
SELECT tz, day, org_id, app AS application_id, users
FROM
(
    SELECT '{{tz}}' AS tz, toDate(occurred_at, '{{tz}}') AS day, org_id,
           arrayJoin([application_id, toUUID('00000000-0000-0000-0000-000000000000')]) AS app,
           uniqCombined64State(17)(user_id) AS users
    FROM login_events
    WHERE success
    GROUP BY day, org_id, app
);

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_monthly_mv2_{{name}} TO active_users_monthly AS
SELECT tz, month, org_id, app AS application_id, users
FROM
(
    SELECT '{{tz}}' AS tz, toStartOfMonth(occurred_at, '{{tz}}') AS month, org_id,
           arrayJoin([application_id, toUUID('00000000-0000-0000-0000-000000000000')]) AS app,
           uniqCombined64State(17)(user_id) AS users
    FROM login_events
    WHERE success
    GROUP BY month, org_id, app
);

-- Views of the first layout (per application only) are replaced; their
-- all-applications states are rebuilt from the per-application ones (sketch
-- states merge idempotently, so overlapping with live inserts is harmless).
DROP VIEW IF EXISTS active_users_daily_mv_{{name}};

DROP VIEW IF EXISTS active_users_monthly_mv_{{name}};
