"""Applies the numbered SQL files of ``migrations/<dialect>/`` once each, under an instance-wide lock.

Two processes that start at once both take the lock in turn; the second finds every file applied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources

from ledgergate.infrastructure.sql.connector import SqlConnector

__all__ = ["Migration", "apply_migrations", "available_migrations"]

Migration = tuple[int, str, str]


def available_migrations(dialect: str) -> list[Migration]:
    folder = resources.files("ledgergate.migrations") / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append((int(number), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found)


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def apply_migrations(connector: SqlConnector, also: Callable[[], None] | None = None) -> list[str]:
    """Apply what is missing; ``also`` runs under the same lock (the event store creates its tables there)."""
    applied_now: list[str] = []
    with connector.migration_lock() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in cur.execute("SELECT version FROM schema_migrations")}
        for number, name, script in available_migrations(connector.dialect):
            if number in done:
                continue
            for statement in _statements(script):
                cur.execute(statement)
            cur.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, datetime.now(UTC).isoformat()),
            )
            applied_now.append(f"{number:04d}_{name}")
        # PostgreSQL: the advisory lock serialises the event store's CREATE TABLE across processes.
        # SQLite: our write lock would block the store's own connection, and its DDL is race-free anyway.
        if also is not None and connector.dialect == "postgres":
            also()
    if also is not None and connector.dialect != "postgres":
        also()
    return applied_now
