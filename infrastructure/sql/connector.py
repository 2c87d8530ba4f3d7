"""The small surface the SQL adapters need from a database, with SQLite and PostgreSQL behind it.

SQL is written once with ``?`` placeholders; the PostgreSQL connector turns them into ``%s``.
Both report every call to the store's health and turn an unreachable database into
``StoreUnavailableError``. ``transaction()`` serialises writers of the read model: ``BEGIN IMMEDIATE``
on SQLite, a row lock on the tracking row (taken by the caller with ``lock_tracking``) on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["Cursor", "SqlConnector", "tracked_position"]


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def lock_tracking(self, name: str) -> int:
        """Lock the tracking row ``name`` for this transaction (creating it at 0) and return its position."""
        ...


class SqlConnector(Protocol):
    dialect: str

    def transaction(self) -> AbstractContextManager[Cursor]: ...

    def read(self) -> AbstractContextManager[Cursor]: ...

    def snapshot(self) -> AbstractContextManager[Cursor]:
        """A read-only transaction whose reads all see one committed state."""
        ...

    def migration_lock(self) -> AbstractContextManager[Cursor]:
        """A transaction that holds the instance-wide migration lock."""
        ...

    def ping(self) -> None:
        """Raises: StoreUnavailableError unless the database answers."""
        ...

    def close(self) -> None: ...


def tracked_position(connector: SqlConnector, name: str) -> int:
    """The log position projection ``name`` has reached (0 before its first batch)."""
    with connector.read() as cur:
        rows = cur.execute("SELECT position FROM projection_tracking WHERE name = ?", (name,))
    return int(rows[0][0]) if rows else 0
