"""PostgreSQL through a psycopg 3 connection pool."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool

__all__ = ["PostgresConnector"]

_PLACEHOLDER = re.compile(r"\?")
#: Arbitrary constant key of the advisory lock that serialises migrations across processes.
MIGRATION_LOCK_KEY = 7_104_221_977


def _pg(sql: str) -> str:
    return _PLACEHOLDER.sub("%s", sql)


class _PostgresCursor:
    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cur.execute(_pg(sql), params)  # type: ignore[arg-type]
        return self._cur.fetchall() if self._cur.description else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cur.executemany(_pg(sql), rows)  # type: ignore[arg-type]

    def lock_tracking(self, name: str) -> int:
        self.execute(
            "INSERT INTO projection_tracking (name, position) VALUES (?, 0) ON CONFLICT (name) DO NOTHING", (name,)
        )
        return int(self.execute("SELECT position FROM projection_tracking WHERE name = ? FOR UPDATE", (name,))[0][0])


class PostgresConnector:
    dialect = "postgres"

    def __init__(self, conninfo: str, schema: str = "", max_size: int = 8) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.pool = ConnectionPool(
            conninfo, min_size=1, max_size=max_size, open=True, name="ledgergate-read", kwargs={"autocommit": True}
        )

    @contextmanager
    def transaction(self) -> Iterator[_PostgresCursor]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _PostgresCursor(cur)

    @contextmanager
    def migration_lock(self) -> Iterator[_PostgresCursor]:
        with (
            psycopg.connect(
                self.conninfo.replace(f"search_path={self.schema}", "search_path=public")
                if self.schema
                else self.conninfo,
                autocommit=True,
            ) as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            if self.schema:
                cur.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(self.schema)))
                cur.execute(pgsql.SQL("SET LOCAL search_path TO {}").format(pgsql.Identifier(self.schema)))
            yield _PostgresCursor(cur)

    @contextmanager
    def snapshot(self) -> Iterator[_PostgresCursor]:
        """A repeatable-read transaction: every read inside sees the same committed state."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield _PostgresCursor(cur)

    @contextmanager
    def read(self) -> Iterator[_PostgresCursor]:
        with self.pool.connection() as conn, conn.cursor() as cur:
            yield _PostgresCursor(cur)

    def close(self) -> None:
        self.pool.close()
