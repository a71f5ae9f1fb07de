-- Skip indexes for the audit log's two raw reads (Porta audit list and
-- entity history), which cannot use the (org_id, occurred_at) sort key:
--   * entity history filters on entity_id: a bloom filter skips granules
--     without that id (an org's history read 500 k rows at 10 M events);
--   * the newest-first list reads the top of occurred_at across orgs: a
--     min/max index lets ClickHouse's top-K filter skip granules that
--     cannot hold the newest rows.
-- MATERIALIZE builds them for existing parts in the background.
ALTER TABLE audit_events ADD INDEX IF NOT EXISTS audit_entity_id_bf entity_id TYPE bloom_filter(0.01) GRANULARITY 1;

ALTER TABLE audit_events ADD INDEX IF NOT EXISTS audit_occurred_at_mm occurred_at TYPE minmax GRANULARITY 1;

ALTER TABLE audit_events MATERIALIZE INDEX audit_entity_id_bf;

ALTER TABLE audit_events MATERIALIZE INDEX audit_occurred_at_mm;
