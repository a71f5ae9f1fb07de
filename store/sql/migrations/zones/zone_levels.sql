-- Upgrade of one report timezone ({{tz}}) from an earlier view layout
-- (`active_users_*_mv_` / `_mv2_`), run by `migrate` after
-- ../../schema/zone_views.sql when such views exist. History, like the
-- numbered migrations: edit only to fix an upgrade.
--
-- The earlier views are dropped: the current ones already feed the same
-- tables (sketch states merge idempotently, so the overlap is harmless).
DROP VIEW IF EXISTS active_users_daily_mv_{{name}};

DROP VIEW IF EXISTS active_users_monthly_mv_{{name}};

DROP VIEW IF EXISTS active_users_daily_mv2_{{name}};

DROP VIEW IF EXISTS active_users_monthly_mv2_{{name}};

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
