-- The audit log: one row per event of the log, with the envelope as columns to filter on and the
-- entry as shown to auditors (secrets masked). Rows belong to a generation: a rebuild writes the next
-- generation beside the live one, switches projection_generations to it, then drops the old rows.
CREATE TABLE IF NOT EXISTS audit_log (
    generation INTEGER NOT NULL,
    position BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    event_type TEXT NOT NULL,
    actor TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (generation, position)
);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log (generation, tenant_id, position);
CREATE INDEX IF NOT EXISTS audit_log_stream ON audit_log (stream_id, generation, position);
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (generation, tenant_id, actor, position);
CREATE INDEX IF NOT EXISTS audit_log_kind ON audit_log (generation, tenant_id, entity_kind, position);

CREATE TABLE IF NOT EXISTS projection_generations (
    name TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
