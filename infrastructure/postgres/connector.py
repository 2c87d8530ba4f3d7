"""PostgreSQL through a psycopg 3 connection pool.

Every call reports to the store's health (``infrastructure/store_health.py``): a database that can't be
reached is a ``StoreUnavailableError``, whichever statement found out. The pool's reconnection policy
is in ``infrastructure/postgres/pools.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool

from ledgergate.infrastructure.postgres.pools import RECONNECT_TIMEOUT_S, PingWhenIdle, connection_options
from ledgergate.infrastructure.settings import SettingsError
from ledgergate.infrastructure.store_health import StoreHealth, reported

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

    def __init__(self, conninfo: str, schema: str = "", max_size: int = 8, health: StoreHealth | None = None) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.health = health or StoreHealth()
        ping = PingWhenIdle()
        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            open=True,
            name="ledgergate-read",
            kwargs={"autocommit": True, **connection_options()},
            check=ping.check,
            reset=ping.reset,
            reconnect_timeout=RECONNECT_TIMEOUT_S,
        )

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        with reported(self.health), self.pool.connection(timeout=self.health.pool_wait_s) as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[_PostgresCursor]:
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _PostgresCursor(cur)

    @contextmanager
    def migration_lock(self) -> Iterator[_PostgresCursor]:
        """Raises: SettingsError when the URL's ``?schema=`` does not exist (it is never created on the fly:
        a mistyped name would otherwise start an empty gateway beside the real one)."""
        conninfo = (
            self.conninfo.replace(f"search_path={self.schema}", "search_path=public") if self.schema else self.conninfo
        )
        with (
            reported(self.health),
            psycopg.connect(conninfo, autocommit=True, **connection_options()) as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            if self.schema:
                self._check_schema(cur)
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            if self.schema:
                cur.execute(pgsql.SQL("SET LOCAL search_path TO {}").format(pgsql.Identifier(self.schema)))
            yield _PostgresCursor(cur)

    def _check_schema(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("SELECT current_database(), EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (self.schema,))
        database, exists = cur.fetchone() or ("", False)
        if not exists:
            create = pgsql.SQL("CREATE SCHEMA {};").format(pgsql.Identifier(self.schema)).as_string(cur)
            raise SettingsError(
                f"LEDGERGATE_DATABASE_URL: the schema {self.schema!r} does not exist in database {database!r}; "
                f"create it (psql: {create}) or correct ?schema= in the URL"
            )

    @contextmanager
    def snapshot(self) -> Iterator[_PostgresCursor]:
        """A repeatable-read transaction: every read inside sees the same committed state."""
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield _PostgresCursor(cur)

    @contextmanager
    def read(self) -> Iterator[_PostgresCursor]:
        with self._connection() as conn, conn.cursor() as cur:
            yield _PostgresCursor(cur)

    def ping(self) -> None:
        """Raises: StoreUnavailableError unless the database answers."""
        with self.read() as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        self.pool.close()
