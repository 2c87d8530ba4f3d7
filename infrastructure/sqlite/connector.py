"""SQLite: one connection per thread, WAL, ``BEGIN IMMEDIATE`` for writes.

A database still locked after the busy timeout, or a file that can't be opened or written, is reported to
the store's health and becomes ``StoreUnavailableError``, as an unreachable PostgreSQL does."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledgergate.infrastructure.store_health import StoreHealth, reported

__all__ = ["SQLiteConnector"]


class _SQLiteCursor:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def lock_tracking(self, name: str) -> int:
        # BEGIN IMMEDIATE already holds the database's write lock.
        self._conn.execute(
            "INSERT INTO projection_tracking (name, position) VALUES (?, 0) ON CONFLICT (name) DO NOTHING", (name,)
        )
        return int(self._conn.execute("SELECT position FROM projection_tracking WHERE name = ?", (name,)).fetchone()[0])


class SQLiteConnector:
    dialect = "sqlite"

    def __init__(self, path: str, health: StoreHealth | None = None) -> None:
        self.path = path
        self.health = health or StoreHealth()
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[_SQLiteCursor]:
        with reported(self.health):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteCursor(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                if conn.in_transaction:  # a failed COMMIT leaves the transaction open: never reuse it so
                    conn.execute("ROLLBACK")
                raise

    migration_lock = transaction

    @contextmanager
    def snapshot(self) -> Iterator[_SQLiteCursor]:
        """A read transaction: every read inside sees the same committed state."""
        with reported(self.health):
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield _SQLiteCursor(conn)
            finally:
                conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[_SQLiteCursor]:
        with reported(self.health):
            yield _SQLiteCursor(self._connection())

    def ping(self) -> None:
        """Raises: StoreUnavailableError unless the database file can be read."""
        with self.read() as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
