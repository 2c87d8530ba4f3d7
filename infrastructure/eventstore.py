"""The event store: settings for the ``eventsourcing`` library, reading the log, waking followers.

Our recorders are the library's with two changes at the boundary: every call reports to the store's
health, an unreachable database becoming ``StoreUnavailableError`` at once, and the library's own
retries (ten attempts, 0.2 s apart, each waiting for a pooled connection) are not made. Reads are retried
by their callers (the follower, a client told ``Retry-After``); a write whose connection broke is never
sent again behind the caller's back, because it may have been committed before the answer was lost, and
a second attempt would then fail as a conflict or apply twice. Stale pooled connections, the reason the
library retries, are pinged before use instead (``infrastructure/postgres/pools.py``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError, StoredEvent
from eventsourcing.postgres import (
    ConnectionPool,
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteFactory,
)
from psycopg import sql as pgsql

from ledgergate.application.errors import StoreUnavailableError
from ledgergate.infrastructure.crypto.keys import InstanceKeys
from ledgergate.infrastructure.log_chain_store import (
    LINKED_INSERT_MAX,
    append_links_postgres,
    append_links_sqlite,
    head_query_postgres,
    postgres_chain_statements,
    postgres_linked_insert,
    previous_from_head,
    sqlite_chain_statements,
)
from ledgergate.infrastructure.postgres.pools import RECONNECT_TIMEOUT_S, PingWhenIdle, connection_options
from ledgergate.infrastructure.settings import DatabaseUrl
from ledgergate.infrastructure.store_health import DOWN_POOL_WAIT_S, POOL_WAIT_S, StoreHealth, reported
from ledgergate.infrastructure.stored_records import StoreEventLog, tenant_expression

__all__ = [
    "LogReader",
    "ReportingSQLiteRecorder",
    "ResilientPostgresFactory",
    "SQLiteStoreFactory",
    "TenantIndexedPostgresRecorder",
    "attach_health",
    "event_store_env",
    "instance_id",
    "log_reader",
    "postgres_waker",
]

log = logging.getLogger("ledgergate.eventstore")


def instance_id(settings: Any) -> str:
    """A stable name of this instance for export headers: derived from its keys, revealing nothing of them."""
    return InstanceKeys.of(settings).instance_id()


def _without_retries(method: Callable[..., Any]) -> Callable[..., Any]:
    """The library's method without its ``@retry`` wrapper (functools.wraps keeps the original)."""
    return getattr(method, "__wrapped__", method)


class ResilientPostgresFactory(PostgresFactory):
    """The library's factory, its datastore given a pool that pings connections before use, reconnects
    promptly and connects with timeouts and keepalives (``infrastructure/postgres/pools.py``). The
    library's pool is replaced before it was ever opened; everything else is the library's."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        library = self.datastore.pool
        # Every connection is pinged before use, not only idle ones: writes are not retried (see above), so a
        # connection the server closed a moment ago must not reach one. One round trip, ~1% of a write.
        ping = PingWhenIdle(idle_s=0.0)
        self.datastore.pool = ConnectionPool(
            connection_class=library.connection_class,
            kwargs={**(library.kwargs if isinstance(library.kwargs, dict) else {}), **connection_options()},
            min_size=library.min_size,
            max_size=library.max_size,
            open=False,
            configure=self.datastore.after_connect_func(),
            check=ping.check,
            reset=ping.reset,
            name="ledgergate-store",
            timeout=POOL_WAIT_S,
            max_waiting=library.max_waiting,
            max_lifetime=library.max_lifetime,
            reconnect_timeout=RECONNECT_TIMEOUT_S,
        )


#: Statements each SQLite connection keeps prepared. The library opens its connections with
#: ``cached_statements=True``, a cache of one statement: every statement but the last one run was prepared
#: again, so each write (the library's insert, the chain's read and insert) paid its statements' parsing.
SQLITE_STATEMENT_CACHE = 64


class StatementCachingSQLitePool(SQLiteConnectionPool):
    """The library's SQLite pool, its connections keeping ``SQLITE_STATEMENT_CACHE`` statements prepared
    (the library's ``_create_connection`` otherwise, WAL included)."""

    def _create_connection(self) -> SQLiteConnection:
        try:
            conn = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                cached_statements=SQLITE_STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            mode = conn.execute("PRAGMA journal_mode;").fetchone()[0]
            if mode.lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        conn.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=conn, max_age=self.max_age)


class SQLiteStoreFactory(SQLiteFactory):
    """The library's SQLite factory, its datastore given a pool that keeps statements prepared."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        library = self.datastore.pool
        self.datastore.pool = StatementCachingSQLitePool(
            db_name=library.db_name,
            lock_timeout=library.lock_timeout,
            pool_size=library.pool_size,
            max_overflow=library.max_overflow,
            pool_timeout=library.pool_timeout,
            max_age=library.max_age,
            pre_ping=library.pre_ping,
        )


class _Reporting:
    """Report each call of the recorder to the store's health (see the module's docstring)."""

    health: StoreHealth

    def _reported(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with reported(self.health):
            return _without_retries(method)(self, *args, **kwargs)


class TenantIndexedPostgresRecorder(_Reporting, PostgresApplicationRecorder):
    """The library's recorder plus an index on (event tenant, position), created with its tables.

    Per-tenant reads (export of a tenant, point-in-time catalogs) then scan only the tenant's rows
    instead of the whole log. Its reads and lock are the library's, reported to the health; its insert
    also links the events in the live chain (``infrastructure/log_chain_store.py``)."""

    #: Whether inserts link the events in the live chain (always, but for a benchmark of the chain's cost).
    chained = True

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        self.health = StoreHealth()
        with reported(self.health):  # the library reads the database's composite types here
            super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.append(
            pgsql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} (({}), notification_id)").format(
                pgsql.Identifier(f"{events_table_name}_tenant_idx"),
                pgsql.Identifier(self.datastore.schema),
                pgsql.Identifier(events_table_name),
                tenant_expression(),
            )
        )
        self.sql_create_statements.extend(postgres_chain_statements(self.datastore.schema, events_table_name))
        self._chain_head_query = head_query_postgres(self.datastore.schema, events_table_name)
        self._linked_insert = postgres_linked_insert(
            self.datastore.schema, events_table_name, self.stored_event_type_name, self.datastore.originator_id_type
        )
        self._statements: dict[str, bytes] = {}  # the statements above as bytes, composed once
        self._chain_heads = threading.local()  # how this thread's insert in flight is linked

    def _statement(self, name: str, curs: Any) -> bytes:
        found = self._statements.get(name)
        if found is None:
            found = self._statements[name] = getattr(self, name).as_bytes(curs.connection)
        return found

    def insert_events(self, stored_events: Any, **kwargs: Any) -> Any:
        return self._reported(PostgresApplicationRecorder.insert_events, stored_events, **kwargs)

    def _insert_stored_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> None:
        """The library's lock and NOTIFY, then its insert with the events' links computed and inserted by the
        same statement (``postgres_linked_insert``). A large batch is inserted as the library does, the chain's
        head read between the lock and the insert on a cursor of its own (it travels in the same pipeline, so
        it costs no round trip of its own), and linked from Python."""
        if not self.chained:
            PostgresApplicationRecorder._insert_stored_events(self, curs, stored_events, **kwargs)
            return
        self._lock_table(curs)
        self._notify_channel(curs)
        if len(stored_events) <= LINKED_INSERT_MAX:
            self._chain_heads.cursor = None
            curs.execute(
                self._statement("_linked_insert", curs),
                (
                    [
                        self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
                        for e in stored_events
                    ],
                ),
                prepare=True,
            )
            return
        head = curs.connection.cursor()
        head.execute(self._statement("_chain_head_query", curs), prepare=True)
        self._chain_heads.cursor = head
        PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events, **kwargs)

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> Any:
        """The new events' positions; a large batch is then linked, in the same transaction under the same lock."""
        if not self.chained:
            return super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        head = self._chain_heads.cursor
        if head is None:  # linked by the insert itself
            return [row["notification_id"] for row in curs.fetchall()]
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        self._chain_heads.cursor = None
        with head:
            previous = previous_from_head(head.fetchone())
        append_links_postgres(curs, self.datastore.schema, self.events_table_name, ids or [], stored_events, previous)
        return ids

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return self._reported(PostgresApplicationRecorder.select_events, *args, **kwargs)

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        return self._reported(PostgresApplicationRecorder.select_notifications, *args, **kwargs)

    def max_notification_id(self) -> Any:
        return self._reported(PostgresApplicationRecorder.max_notification_id)


class ReportingSQLiteRecorder(_Reporting, SQLiteApplicationRecorder):
    """The library's SQLite recorder; a database locked past its timeout is reported like an outage."""

    #: Whether inserts link the events in the live chain (always, but for a benchmark of the chain's cost).
    chained = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.health = StoreHealth()
        self.create_table_statements.extend(sqlite_chain_statements(self.events_table_name))

    def insert_events(self, stored_events: Any, **kwargs: Any) -> Any:
        return self._reported(SQLiteApplicationRecorder.insert_events, stored_events, **kwargs)

    def _insert_events(self, c: Any, stored_events: Any, **kwargs: Any) -> Any:
        """The library's insert, then the new events' links, in the same write transaction."""
        ids = super()._insert_events(c, stored_events, **kwargs)
        if self.chained:
            append_links_sqlite(c, self.events_table_name, [int(i) for i in ids or []], stored_events)
        return ids

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return self._reported(SQLiteApplicationRecorder.select_events, *args, **kwargs)

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        return self._reported(SQLiteApplicationRecorder.select_notifications, *args, **kwargs)

    def max_notification_id(self) -> Any:
        return self._reported(SQLiteApplicationRecorder.max_notification_id)


def attach_health(app: Application[Any], health: StoreHealth) -> None:
    """Make the application's recorder report to ``health``, and its pool wait briefly while it is down."""
    recorder = app.recorder
    if isinstance(recorder, _Reporting):
        recorder.health = health
    pool = getattr(getattr(recorder, "datastore", None), "pool", None)
    if isinstance(pool, ConnectionPool):
        # The library asks its pool for connections without a timeout of its own: the pool's is used.
        health.add_listener(lambda reachable: setattr(pool, "timeout", POOL_WAIT_S if reachable else DOWN_POOL_WAIT_S))


def event_store_env(database: DatabaseUrl) -> dict[str, str]:
    if database.kind == "sqlite":
        return {
            "PERSISTENCE_MODULE": "ledgergate.infrastructure.eventstore:SQLiteStoreFactory",
            "SQLITE_DBNAME": database.sqlite_path,
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": "ledgergate.infrastructure.eventstore:ReportingSQLiteRecorder",
        }
    env = {
        "PERSISTENCE_MODULE": "ledgergate.infrastructure.eventstore:ResilientPostgresFactory",
        "POSTGRES_DBNAME": database.dbname,
        "POSTGRES_HOST": database.host,
        "POSTGRES_PORT": str(database.port),
        "POSTGRES_USER": database.user,
        "POSTGRES_PASSWORD": database.password,
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "8",
        "APPLICATION_RECORDER_TOPIC": "ledgergate.infrastructure.eventstore:TenantIndexedPostgresRecorder",
        # Not POSTGRES_ENABLE_DB_FUNCTIONS: its insert function skips the table lock that makes commit order
        # equal notification-id order, and followers reading "after position p" would then skip events.
    }
    if database.schema:
        env["POSTGRES_SCHEMA"] = database.schema
    return env


class LogReader:
    """Reads (position, domain event) pairs after a position, in log order; gaps are skipped.

    Called as ``reader(after, limit)``. ``tenant_events`` reads only the tenant's rows (``read_tenant``,
    then an exact check of the decoded tenant), and ``position_at`` finds the last position recorded
    at or before a time by binary search."""

    def __init__(self, app: Application[Any]) -> None:
        self.app = app
        self.log = StoreEventLog(app)

    def __call__(self, after: int, limit: int) -> list[tuple[int, Any]]:
        notifications = self.app.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        return [(n.id, self.app.mapper.to_domain_event(n)) for n in notifications]

    def tenant_events(
        self, tenant_id: str, stop: int | None = None, skipped: tuple[str, ...] = (), batch: int = 1000
    ) -> Iterator[tuple[int, Any]]:
        """The tenant's events in log order, up to ``stop``; events whose topic starts with one of
        ``skipped`` are left out without being decoded."""
        after = 0
        while True:
            records = self.log.read_tenant(tenant_id, after, batch, stop)
            for record in records:
                if skipped and record.topic.startswith(skipped):
                    continue
                event = self.app.mapper.to_domain_event(
                    StoredEvent(record.stream_id, record.version, record.topic, record.state)
                )
                if getattr(event, "tenant_id", None) == tenant_id:
                    yield record.position, event
            if len(records) < batch:
                return
            after = records[-1].position

    def _time_after(self, position: int) -> tuple[int, datetime] | None:
        rows = self.app.recorder.select_notifications(start=position, limit=1)
        if not rows:
            return None
        return rows[0].id, self.app.mapper.to_domain_event(rows[0]).timestamp

    def position_at(self, moment: datetime) -> int:
        """The last position whose event occurred at or before ``moment`` (0 if none); event times
        follow log order, which the store's single writer lock keeps."""
        low, high = 0, self.log.head()  # invariant: events up to ``low`` are at or before; after ``high`` later
        while low < high:
            middle = (low + high + 1) // 2
            found = self._time_after(middle)
            if found is None or found[0] > high:
                high = middle - 1
            elif found[1] <= moment:
                low = found[0]
            else:
                high = middle - 1
        return low


def log_reader(app: Application[Any]) -> LogReader:
    return LogReader(app)


#: Pauses between attempts to listen again after the connection was lost: doubling, capped.
LISTEN_RETRY_S = (0.1, 2.0)


def postgres_waker(
    conninfo: str, channel: str, health: StoreHealth | None = None
) -> Callable[[threading.Event, threading.Event], None]:
    """A waker thread body: LISTEN on the store's channel and wake the follower on each NOTIFY.

    A lost connection (the database restarted, the network dropped) is opened again with growing pauses,
    for as long as the process runs; each new LISTEN wakes the follower, which reads from its position,
    so a NOTIFY missed meanwhile costs nothing. The outage itself is logged once, by ``health``."""
    health = health or StoreHealth()

    def run(wake: threading.Event, stopped: threading.Event) -> None:
        pause = LISTEN_RETRY_S[0]
        while not stopped.is_set():
            started = time.monotonic()
            try:
                with reported(health), psycopg.connect(conninfo, autocommit=True, **connection_options()) as conn:
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    health.succeeded(started)
                    wake.set()
                    pause = LISTEN_RETRY_S[0]
                    while not stopped.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            wake.set()
            except StoreUnavailableError:
                log.debug("LISTEN connection lost; listening again in %.1f s", pause)
            except psycopg.Error:
                log.warning("LISTEN failed; listening again in %.1f s", pause, exc_info=True)
            stopped.wait(pause)
            pause = min(pause * 2, LISTEN_RETRY_S[1])

    return run
