-- Events name the credential that wrote them (the envelope's actor_token_id and actor_tenant): the audit
-- log keeps both as columns to filter on. Rows of earlier events have neither (they named no credential).
ALTER TABLE audit_log ADD COLUMN actor_token_id TEXT;
ALTER TABLE audit_log ADD COLUMN actor_tenant TEXT;
CREATE INDEX IF NOT EXISTS audit_log_token ON audit_log (generation, actor_token_id, position);
CREATE INDEX IF NOT EXISTS audit_log_actor_tenant ON audit_log (generation, actor_tenant, position);
