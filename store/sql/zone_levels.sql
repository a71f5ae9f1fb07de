-- Rebuilds, for one zone, the levels that earlier view layouts did not
-- write, from the states they did: all-applications states per organization
-- from per-application states (first layout), then global states from the
-- per-organization ones (first and second layouts). Sketch states merge
-- idempotently, so re-running or overlapping with live inserts cannot
-- over-count.
INSERT INTO active_users_daily
SELECT tz, day, org_id, toUUID('00000000-0000-0000-0000-000000000000'), uniqCombined64MergeState(17)(users)
FROM active_users_daily
WHERE tz = '{{tz}}' AND application_id != toUUID('00000000-0000-0000-0000-000000000000')
  AND org_id != toUUID('00000000-0000-0000-0000-000000000000')
GROUP BY tz, day, org_id;

INSERT INTO active_users_monthly
SELECT tz, month, org_id, toUUID('00000000-0000-0000-0000-000000000000'), uniqCombined64MergeState(17)(users)
FROM active_users_monthly
WHERE tz = '{{tz}}' AND application_id != toUUID('00000000-0000-0000-0000-000000000000')
  AND org_id != toUUID('00000000-0000-0000-0000-000000000000')
GROUP BY tz, month, org_id;

INSERT INTO active_users_daily
SELECT tz, day, toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'),
       uniqCombined64MergeState(17)(users)
FROM active_users_daily
WHERE tz = '{{tz}}' AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND org_id != toUUID('00000000-0000-0000-0000-000000000000')
GROUP BY tz, day;

INSERT INTO active_users_monthly
SELECT tz, month, toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'),
       uniqCombined64MergeState(17)(users)
FROM active_users_monthly
WHERE tz = '{{tz}}' AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND org_id != toUUID('00000000-0000-0000-0000-000000000000')
GROUP BY tz, month;
