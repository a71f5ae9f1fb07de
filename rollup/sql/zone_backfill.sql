-- Fills a new zone's sketches from the raw logins still retained. Sketch
-- states are idempotent under re-insertion, so overlapping with live MV
-- inserts cannot over-count.
INSERT INTO active_users_daily
SELECT '{{tz}}', toDate(occurred_at, '{{tz}}') AS day, org_id, application_id, uniqCombined64State(17)(user_id)
FROM login_events
WHERE success
GROUP BY day, org_id, application_id;

INSERT INTO active_users_monthly
SELECT '{{tz}}', toStartOfMonth(occurred_at, '{{tz}}') AS month, org_id, application_id, uniqCombined64State(17)(user_id)
FROM login_events
WHERE success
GROUP BY month, org_id, application_id;

INSERT INTO report_zones (tz) VALUES ('{{tz}}');
