-- All-applications states rebuilt from per-application states of one zone.
INSERT INTO active_users_daily
SELECT tz, day, org_id, toUUID('00000000-0000-0000-0000-000000000000'), uniqCombined64MergeState(17)(users)
FROM active_users_daily
WHERE tz = '{{tz}}' AND application_id != toUUID('00000000-0000-0000-0000-000000000000')
GROUP BY tz, day, org_id;

INSERT INTO active_users_monthly
SELECT tz, month, org_id, toUUID('00000000-0000-0000-0000-000000000000'), uniqCombined64MergeState(17)(users)
FROM active_users_monthly
WHERE tz = '{{tz}}' AND application_id != toUUID('00000000-0000-0000-0000-000000000000')
GROUP BY tz, month, org_id;
