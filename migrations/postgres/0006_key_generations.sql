-- Earlier generations of tenant data keys, kept after a rotation until shredding: old ciphertexts name
-- their key id and stay readable. The active key stays in tenant_keys.
CREATE TABLE IF NOT EXISTS tenant_retired_keys (
    key_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    wrapped_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tenant_retired_keys_tenant_idx ON tenant_retired_keys (tenant_id);
