-- Data keys destroyed by crypto-shredding, by key id: a copy of one (an export made with --with-keys
-- before the shred) is never installed again on this instance.
CREATE TABLE IF NOT EXISTS shredded_keys (
    key_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    shredded_at TEXT NOT NULL
);
