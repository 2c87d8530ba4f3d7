"""Leases in the database: one holder per name until it expires (works the same on SQLite and PostgreSQL)."""

from __future__ import annotations

import time

from ledgergate.infrastructure.sql.connector import SqlConnector

__all__ = ["SqlLeases"]


class SqlLeases:
    def __init__(self, connector: SqlConnector, holder: str) -> None:
        self.connector = connector
        self.holder = holder

    def try_acquire(self, name: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name``; True if this holder has it for the next ``ttl_s`` seconds."""
        now = time.time()
        with self.connector.transaction() as cur:
            cur.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE leases.expires_at < ? OR leases.holder = excluded.holder",
                (name, self.holder, now + ttl_s, now),
            )
            rows = cur.execute("SELECT holder FROM leases WHERE name = ?", (name,))
        return bool(rows) and rows[0][0] == self.holder
