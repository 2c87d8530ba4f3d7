"""The event store: settings for the ``eventsourcing`` library, reading the log, waking followers."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql as pgsql

from application.event_archive import ArchiveError, StoredRecord
from infrastructure.crypto.keys import InstanceKeys
from infrastructure.settings import DatabaseUrl

__all__ = ["LogReader", "StoreEventLog", "event_store_env", "log_reader", "postgres_waker"]

log = logging.getLogger("ledgergate.eventstore")


def instance_id(settings: Any) -> str:
    """A stable name of this instance for export headers: derived from its keys, revealing nothing of them."""
    return "lg-" + hashlib.sha256(b"instance-id:" + InstanceKeys(settings.data_dir).master_key).hexdigest()[:16]


#: The envelope's tenant field as the library's compact JSON transcoder writes it.
TENANT_FIELD = b'"tenant_id":"'


def tenant_expression() -> pgsql.Composed:
    """SQL for the value of the first ``"tenant_id":"..."`` in an event's stored bytes: the envelope's,
    since the envelope fields are declared on the base event class before any payload field. NULL for
    bytes without it (never an error: every insert computes it for the index)."""
    found = pgsql.SQL("position({} in state)").format(pgsql.Literal(TENANT_FIELD))
    start = pgsql.SQL("{} + {}").format(found, len(TENANT_FIELD))
    return pgsql.SQL(
        "CASE WHEN {found} = 0 THEN NULL ELSE substring(state from {start} "
        "for greatest(position('\\x22'::bytea in substring(state from {start})) - 1, 0)) END"
    ).format(found=found, start=start)


class TenantIndexedPostgresRecorder(PostgresApplicationRecorder):
    """The library's recorder plus an index on (event tenant, position), created with its tables.

    Per-tenant reads (export of a tenant, point-in-time catalogs) then scan only the tenant's rows
    instead of the whole log. Its inserts, reads and lock are the library's, unchanged."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.append(
            pgsql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} (({}), notification_id)").format(
                pgsql.Identifier(f"{events_table_name}_tenant_idx"),
                pgsql.Identifier(self.datastore.schema),
                pgsql.Identifier(events_table_name),
                tenant_expression(),
            )
        )


def event_store_env(database: DatabaseUrl) -> dict[str, str]:
    if database.kind == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": database.sqlite_path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": database.dbname,
        "POSTGRES_HOST": database.host,
        "POSTGRES_PORT": str(database.port),
        "POSTGRES_USER": database.user,
        "POSTGRES_PASSWORD": database.password,
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "8",
        "APPLICATION_RECORDER_TOPIC": "infrastructure.eventstore:TenantIndexedPostgresRecorder",
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


def postgres_waker(conninfo: str, channel: str) -> Callable[[threading.Event, threading.Event], None]:
    """A waker thread body: LISTEN on the store's channel and wake the follower on each NOTIFY."""

    def run(wake: threading.Event, stopped: threading.Event) -> None:
        while not stopped.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    wake.set()
                    while not stopped.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            wake.set()
            except psycopg.Error:
                log.warning("LISTEN connection lost; reconnecting", exc_info=True)
                stopped.wait(1.0)

    return run


class _Abandoned(Exception):
    """Raised inside a write transaction to roll it back on purpose."""


def tenant_marker(tenant_id: str) -> bytes:
    """The bytes every stored event of the tenant contains: its envelope field as the library's
    compact JSON transcoder writes it. A payload may contain them too, so this only prefilters."""
    return b'"tenant_id":' + json.dumps(tenant_id, ensure_ascii=False).encode()


class _PostgresWriter:
    def __init__(self, recorder: PostgresApplicationRecorder, curs: Any) -> None:
        self.recorder, self.curs, self.abandoned = recorder, curs, False
        self.table = pgsql.SQL("{}.{}").format(
            pgsql.Identifier(recorder.datastore.schema), pgsql.Identifier(recorder.events_table_name)
        )

    def existing(self, records: list[StoredRecord]) -> dict[tuple[UUID, int], tuple[str, bytes]]:
        self.curs.execute(
            pgsql.SQL(
                "SELECT originator_id, originator_version, topic, state FROM {} WHERE (originator_id, "
                "originator_version) IN (SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
            ).format(self.table),
            ([r.stream_id for r in records], [r.version for r in records]),
        )
        return {
            (row["originator_id"], row["originator_version"]): (row["topic"], bytes(row["state"]))
            for row in self.curs.fetchall()
        }

    def append(self, records: list[StoredRecord]) -> list[int]:
        try:
            # The library's table lock first (commit order = position order) and its NOTIFY; then one INSERT
            # from four binary arrays: the library's INSERT of a composite array spends most of its time
            # escaping each row's bytes as text.
            self.recorder._lock_table(self.curs)
            self.recorder._notify_channel(self.curs)
            self.curs.execute(
                pgsql.SQL(
                    "INSERT INTO {} (originator_id, originator_version, topic, state) "
                    "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
                ).format(self.table),
                (
                    [r.stream_id for r in records],
                    [r.version for r in records],
                    [r.topic for r in records],
                    [r.state for r in records],
                ),
            )
            return [row["notification_id"] for row in self.curs.fetchall()]
        except psycopg.IntegrityError:
            raise ArchiveError(
                "an event of the file clashes with one written meanwhile: nothing was imported"
            ) from None

    def abandon(self) -> None:
        self.abandoned = True


class _SQLiteWriter:
    def __init__(self, recorder: SQLiteApplicationRecorder, cursor: Any) -> None:
        self.recorder, self.cursor, self.abandoned = recorder, cursor, False

    def existing(self, records: list[StoredRecord]) -> dict[tuple[UUID, int], tuple[str, bytes]]:
        found: dict[tuple[UUID, int], tuple[str, bytes]] = {}
        statement = (
            f"SELECT topic, state FROM {self.recorder.events_table_name} "  # noqa: S608 - the library's table name
            "WHERE originator_id = ? AND originator_version = ?"
        )
        for r in records:
            self.cursor.execute(statement, (r.stream_id.hex, r.version))
            row = self.cursor.fetchone()
            if row is not None:
                found[(r.stream_id, r.version)] = (row["topic"], bytes(row["state"]))
        return found

    def append(self, records: list[StoredRecord]) -> list[int]:
        stored = [StoredEvent(r.stream_id, r.version, r.topic, r.state) for r in records]
        try:
            return [int(i) for i in self.recorder._insert_events(self.cursor, stored) or []]
        except sqlite3.IntegrityError:
            raise ArchiveError(
                "an event of the file clashes with one written meanwhile: nothing was imported"
            ) from None

    def abandon(self) -> None:
        self.abandoned = True


class StoreEventLog:
    """The ``EventLog`` port over the library's recorder: raw stored records, no decoding.

    An import writes inside one transaction held open across batches (the library's ``insert_events``
    commits per call), so it is all or nothing while memory stays flat: on SQLite with the recorder's
    own insert, on PostgreSQL after the recorder's own table lock and NOTIFY (the lock is held until
    the commit, so positions still follow commit order).
    """

    def __init__(self, app: Application[Any]) -> None:
        self.recorder = app.recorder

    def read(self, after: int, limit: int) -> list[StoredRecord]:
        return [
            StoredRecord(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in self.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        ]

    def read_tenant(self, tenant_id: str, after: int, limit: int, stop: int | None = None) -> list[StoredRecord]:
        """The tenant's records in log order: by the tenant index on PostgreSQL, elsewhere every record
        whose bytes contain the tenant's envelope field (a superset: callers check the decoded tenant)."""
        marker, stop = tenant_marker(tenant_id), stop if stop is not None else 2**62
        recorder = self.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            statement = pgsql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{} "
                "WHERE ({}) = %s AND notification_id > %s AND notification_id <= %s "
                "ORDER BY notification_id LIMIT %s"
            ).format(
                pgsql.Identifier(recorder.datastore.schema),
                pgsql.Identifier(recorder.events_table_name),
                tenant_expression(),
            )
            with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(
                    statement,
                    (json.dumps(tenant_id, ensure_ascii=False)[1:-1].encode(), after, stop, limit),
                    prepare=True,
                )
                rows = curs.fetchall()
            return [
                StoredRecord(
                    r["notification_id"], r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])
                )
                for r in rows
            ]
        if isinstance(recorder, SQLiteApplicationRecorder):
            statement = (
                "SELECT rowid, originator_id, originator_version, topic, state FROM "  # noqa: S608 - library's table
                f"{recorder.events_table_name} WHERE rowid > ? AND rowid <= ? AND instr(state, ?) > 0 "
                "ORDER BY rowid LIMIT ?"
            )
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(statement, (after, stop, marker, limit))
                rows = cursor.fetchall()
            return [StoredRecord(r[0], recorder.convert_originator_id(r[1]), r[2], r[3], bytes(r[4])) for r in rows]
        return [r for r in self.read(after, limit) if marker in r.state]

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def is_empty(self) -> bool:
        return self.head() == 0

    @contextmanager
    def writing(self) -> Iterator[_PostgresWriter | _SQLiteWriter]:
        recorder = self.recorder
        try:
            if isinstance(recorder, PostgresApplicationRecorder):
                with recorder.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
                    pg_writer = _PostgresWriter(recorder, curs)
                    yield pg_writer
                    if pg_writer.abandoned:
                        raise _Abandoned
            elif isinstance(recorder, SQLiteApplicationRecorder):
                with recorder.datastore.transaction(commit=True) as cursor:
                    sqlite_writer = _SQLiteWriter(recorder, cursor)
                    yield sqlite_writer
                    if sqlite_writer.abandoned:
                        raise _Abandoned
            else:
                raise TypeError(f"imports need a SQLite or PostgreSQL store, not {type(recorder).__name__}")
        except _Abandoned:
            pass
