-- Fills a new zone's sketches from the raw logins still retained. Sketch
-- states are idempotent under re-insertion, so overlapping with live MV
-- inserts cannot over-count.
INSERT INTO active_users_daily
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

INSERT INTO active_users_monthly
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

INSERT INTO report_zones (tz) VALUES ('{{tz}}');
