-- Tables nothing writes or reads any more:
--   * org_slugs, the "latest seen wins" slug map, unfed since 0019
--     (org_claims and the view org_owned_slugs replaced it);
--   * activity_now, the recent-activity snapshot whose view 0021 dropped
--     (activity_buckets_now replaced it).
-- Checked against every query of store/, api/, src/ and deploy/grafana/ of
-- this release; releases since 0021 do not read them either, so old and
-- new versions can still run side by side during an upgrade. On a cluster
-- their Distributed `_all` tables go too (no-ops on a single node).
DROP TABLE IF EXISTS org_slugs;

DROP TABLE IF EXISTS activity_now;

DROP TABLE IF EXISTS org_slugs_all;

DROP TABLE IF EXISTS activity_now_all;
