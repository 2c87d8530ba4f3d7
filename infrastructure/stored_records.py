"""The store's raw records, as export and import see them: read all or one tenant's, and written in one
transaction (PostgreSQL: the library's table lock, binary-array inserts; SQLite: one write transaction)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql as pgsql

from ledgergate.application.event_archive import ArchiveError, StoredRecord
from ledgergate.infrastructure.log_chain_store import append_links_postgres
from ledgergate.infrastructure.log_proof_store import StoreLogProof
from ledgergate.infrastructure.store_health import StoreHealth, reported

__all__ = ["StoreEventLog", "tenant_expression", "tenant_marker"]

log = logging.getLogger("ledgergate.eventstore")

#: The envelope's tenant field as the library's compact JSON transcoder writes it.
TENANT_KEY = b'"tenant_id":'
TENANT_FIELD = TENANT_KEY + b'"'
CLASH = "an event of the file clashes with one written meanwhile: nothing was imported"


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


class _Abandoned(Exception):
    """Raised inside a write transaction to roll it back on purpose."""


def tenant_marker(tenant_id: str) -> bytes:
    """The bytes every stored event of the tenant contains: its envelope field as the library's
    compact JSON transcoder writes it. A payload may contain them too, so this only prefilters."""
    return TENANT_KEY + json.dumps(tenant_id, ensure_ascii=False).encode()


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
            ids = [row["notification_id"] for row in self.curs.fetchall()]
            append_links_postgres(
                self.curs, self.recorder.datastore.schema, self.recorder.events_table_name, ids, records
            )
            return ids
        except psycopg.IntegrityError:
            raise ArchiveError(CLASH) from None

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
            raise ArchiveError(CLASH) from None

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
        # the live chain is kept by the SQL stores (an in-memory store, in tests, has none)
        self._proof = StoreLogProof(app) if hasattr(app.recorder, "events_table_name") else None

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
            with self._reported(), recorder.datastore.get_connection() as conn, conn.cursor() as curs:
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
            with self._reported(), recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(statement, (after, stop, marker, limit))
                rows = cursor.fetchall()
            return [StoredRecord(r[0], recorder.convert_originator_id(r[1]), r[2], r[3], bytes(r[4])) for r in rows]
        return [r for r in self.read(after, limit) if marker in r.state]

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def links(self, first: int, last: int) -> dict[int, tuple[int, bytes]]:
        return self._proof.links(first, last) if self._proof is not None else {}

    def is_empty(self) -> bool:
        return self.head() == 0

    def _reported(self) -> AbstractContextManager[None]:
        """Calls made past the recorder report to its health like the recorder's own (see ``eventstore``)."""
        health = getattr(self.recorder, "health", None)
        return reported(health if isinstance(health, StoreHealth) else StoreHealth())

    @contextmanager
    def writing(self) -> Iterator[_PostgresWriter | _SQLiteWriter]:
        recorder = self.recorder
        with self._reported(), self._writing(recorder) as writer:
            yield writer

    @contextmanager
    def _writing(self, recorder: Any) -> Iterator[_PostgresWriter | _SQLiteWriter]:
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
