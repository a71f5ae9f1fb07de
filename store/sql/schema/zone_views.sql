-- Distinct-user sketch views for one report timezone ({{tz}}): a template,
-- applied by `migrate --timezones` for each zone after the numbered files
-- ({{tz}} is the zone's name, {{name}} the same as a suffix of object
-- names), and backfilled from the retained raw logins when the zone is new.
-- Writes 06_active_users.sql's active_users_daily / active_users_monthly.
-- The `mv3` in the names is the layout version: `migrate` tells a zone of
-- an earlier layout (mv, mv2) by its view names and upgrades it with
-- ../migrations/zones/zone_levels.sql.
-- Local days and months are computed in the zone, so
-- daily and monthly active users are exact per local calendar. Each login
-- feeds three states: its (organization, application), its organization's
-- all-applications state (application id 00000000-…-0000) and the global
-- state (both ids nil), so an org-wide or global report merges one state
-- per day or month instead of one per application or organization.
CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_daily_mv3_{{name}} TO active_users_daily AS
SELECT tz, day, lvl.1 AS org_id, lvl.2 AS application_id, users
FROM
(
    SELECT '{{tz}}' AS tz, toDate(occurred_at, '{{tz}}') AS day,
           arrayJoin([(org_id, application_id),
                      (org_id, toUUID('00000000-0000-0000-0000-000000000000')),
                      (toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'))]) AS lvl,
           uniqCombined64State(17)(user_id) AS users
    FROM login_events
    WHERE success
    GROUP BY day, lvl
);

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_monthly_mv3_{{name}} TO active_users_monthly AS
SELECT tz, month, lvl.1 AS org_id, lvl.2 AS application_id, users
FROM
(
    SELECT '{{tz}}' AS tz, toStartOfMonth(occurred_at, '{{tz}}') AS month,
           arrayJoin([(org_id, application_id),
                      (org_id, toUUID('00000000-0000-0000-0000-000000000000')),
                      (toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'))]) AS lvl,
           uniqCombined64State(17)(user_id) AS users
    FROM login_events
    WHERE success
    GROUP BY month, lvl
);
