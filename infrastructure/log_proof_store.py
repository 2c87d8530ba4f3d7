"""Reading the live chain and writing checkpoints, on SQLite and PostgreSQL (the store's own connections)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql as pgsql
from psycopg.rows import tuple_row

from ledgergate.application.log_chain import ChainRow, Checkpoint, WindowSummary, summarize
from ledgergate.infrastructure.log_chain_store import chain_table, checkpoints_table
from ledgergate.infrastructure.store_health import StoreHealth, reported

__all__ = ["StoreLogProof"]

log = logging.getLogger("ledgergate.log_proof")

WINDOW = 20_000
#: Whether a walk reads the next window on a thread while it hashes this one.
READ_AHEAD = True


class StoreLogProof:
    """The ``LogProofStore`` port: the events and their links side by side, and the checkpoints."""

    def __init__(self, app: Application[Any]) -> None:
        self.recorder = app.recorder
        self.postgres = isinstance(self.recorder, PostgresApplicationRecorder)
        events = self.recorder.events_table_name  # type: ignore[attr-defined]
        if self.postgres:
            schema = self.recorder.datastore.schema  # type: ignore[attr-defined]
            name = lambda table: pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(table))  # noqa: E731
            self.events, self.chain, self.checkpoints_at = (
                name(events),
                name(chain_table(events)),
                name(checkpoints_table(events)),
            )
        else:
            self.events, self.chain, self.checkpoints_at = events, chain_table(events), checkpoints_table(events)

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        health = getattr(self.recorder, "health", None)
        with reported(health if isinstance(health, StoreHealth) else StoreHealth()):
            if self.postgres:
                with self.recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:  # type: ignore[attr-defined]
                    yield _PgCursor(curs)
            else:
                with self.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
                    yield _SQLiteCursor(cursor)

    def _sql(self, template: str, **tables: Any) -> Any:
        if self.postgres:
            return pgsql.SQL(template.replace("?", "%s")).format(**tables)
        return template.format(**tables)

    def _query(self, template: str, params: tuple[Any, ...] = (), **tables: Any) -> list[Any]:
        with self._cursor() as cur:
            cur.execute(self._sql(template, **tables), params)
            return list(cur.fetchall())

    def head(self) -> tuple[int, bytes] | None:
        rows = self._query("SELECT position, link FROM {c} ORDER BY position DESC LIMIT 1", c=self.chain)
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def event_head(self) -> int:
        column = "notification_id" if self.postgres else "rowid"
        rows = self._query(f"SELECT max({column}) FROM {{e}}", e=self.events)  # noqa: S608 - our column names
        return int(rows[0][0] or 0)

    def links(self, first: int, last: int) -> dict[int, tuple[int, bytes]]:
        rows = self._query(
            "SELECT position, previous_position, link FROM {c} WHERE position >= ? AND position <= ?",
            (first, last),
            c=self.chain,
        )
        return {int(p): (int(q), bytes(link)) for p, q, link in rows}

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._query(
            "SELECT position, link, time, key_id, signature FROM {k} ORDER BY position", k=self.checkpoints_at
        )
        return [Checkpoint(int(p), bytes(link), str(t), str(k), str(s)) for p, link, t, k, s in rows]

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._query(
            "INSERT INTO {k} (position, link, time, key_id, signature) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (position) DO NOTHING",
            (checkpoint.position, checkpoint.link, checkpoint.time, checkpoint.key_id, checkpoint.signature),
            k=self.checkpoints_at,
        )

    def _statements(self) -> tuple[Any, Any, bool]:
        """The reads of a window's events and of its links, and whether stream ids come as bytes."""
        column = "notification_id" if self.postgres else "rowid"
        uuid = self.postgres and getattr(self.recorder.datastore, "originator_id_type", "uuid") == "uuid"
        if self.postgres:
            stream = "uuid_send(originator_id)" if uuid else "originator_id"
            topic = "convert_to(topic, 'UTF8')"
        else:
            stream, topic = "originator_id", "CAST(topic AS BLOB)"
        events_sql = self._sql(
            f"SELECT {column}, {stream}, originator_version, {topic}, state FROM {{e}} "  # noqa: S608 - our columns
            f"WHERE {column} > ? AND {column} <= ? ORDER BY {column}",
            e=self.events,
        )
        chain_sql = self._sql(
            "SELECT position, previous_position, link FROM {c} WHERE position > ? AND position <= ? ORDER BY position",
            c=self.chain,
        )
        return events_sql, chain_sql, uuid

    def rows(self, after: int, stop: int) -> Iterator[ChainRow]:
        """Every position after ``after`` up to ``stop`` that has an event or a link, in order.

        A window of positions at a time: its events and its links, each read in position order (on
        PostgreSQL in binary, the stream id and the topic as the bytes the link hashes), then paired."""
        events_sql, chain_sql, uuid = self._statements()
        for events, links in self._windows(after, stop, events_sql, chain_sql):
            yield from _window_rows(events, links, uuid)

    def window_summaries(self, after: int, stop: int, positions: frozenset[int]) -> Iterator[WindowSummary] | None:
        """The windows after ``after`` up to ``stop``, each read and hashed by a worker process of its own
        (``WORKERS`` of them, forked: they reopen the database themselves), in order. None where processes
        cannot be forked."""
        if WORKERS < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return None
        events_sql, chain_sql, uuid = self._statements()
        if self.postgres:
            with self._cursor() as cur:
                connection = cur.curs.connection
                events_sql, chain_sql = events_sql.as_string(connection), chain_sql.as_string(connection)
            kwargs = self.recorder.datastore.pool.kwargs  # type: ignore[attr-defined]
            target: Any = {k: v for k, v in (kwargs if isinstance(kwargs, dict) else {}).items() if k != "row_factory"}
        else:
            target = self.recorder.datastore.pool.db_name  # type: ignore[attr-defined]
        source = _Source(self.postgres, target, events_sql, chain_sql, uuid)
        jobs = [
            (source, low, high, frozenset(p for p in positions if low < p <= min(low + WINDOW, stop)))
            for low in range(after, stop, WINDOW)
            for high in (min(low + WINDOW, stop),)
        ]
        return _summaries(jobs)

    def _window(self, low: int, high: int, events_sql: Any, chain_sql: Any) -> tuple[list[Any], list[Any]]:
        with self._cursor() as cur:
            return cur.fetch(events_sql, (low, high)), cur.fetch(chain_sql, (low, high))

    def _windows(self, after: int, stop: int, events_sql: Any, chain_sql: Any) -> Iterator[tuple[list[Any], list[Any]]]:
        """The windows' events and links in order, read one window ahead on a thread of its own, so the
        database answers the next window while the walk hashes this one (both drivers release the GIL while
        the database works). The thread stops when the walk does."""
        bounds = [(low, min(low + WINDOW, stop)) for low in range(after, stop, WINDOW)]
        if len(bounds) <= 1 or not READ_AHEAD:
            for low, high in bounds:
                yield self._window(low, high, events_sql, chain_sql)
            return
        ahead: queue.Queue[Any] = queue.Queue(maxsize=1)
        done = threading.Event()

        def put(item: Any) -> None:
            while not done.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def read() -> None:
            try:
                for low, high in bounds:
                    if done.is_set():
                        return
                    put(self._window(low, high, events_sql, chain_sql))
                put(None)
            except BaseException as exc:  # handed to the walk, which raises it
                put(exc)

        reader = threading.Thread(target=read, name="log-verify-reader", daemon=True)
        reader.start()
        try:
            while (item := ahead.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            done.set()
            reader.join()

    def snapshot(self) -> AbstractContextManager[Any]:
        return self._cursor()


def _window_rows(events: list[tuple[Any, ...]], links: list[tuple[Any, ...]], uuid: bool) -> Iterator[ChainRow]:
    """A window's rows from its events and links (each in position order). Rows are made with
    ``tuple.__new__`` (half the cost of ``ChainRow(...)``): a walk makes one per event."""
    if len(events) != len(links) or [e[0] for e in events] != [c[0] for c in links]:
        yield from _paired(events, links)  # some event has no link, or some link no event
        return
    new, fromhex = tuple.__new__, bytes.fromhex
    if uuid:  # PostgreSQL's UUIDs, read as their 16 bytes
        for (position, stream_id, version, topic, state), (_, linked_to, chained) in zip(events, links, strict=True):
            yield new(ChainRow, (position, stream_id, version, topic, state, linked_to, chained))
        return
    for (position, stream_id, version, topic, state), (_, linked_to, chained) in zip(events, links, strict=True):
        if stream_id.__class__ is str and len(stream_id) == 32:  # SQLite's UUIDs: 32 hex digits
            try:  # noqa: SIM105 - a context manager per row costs more than the hashing
                stream_id = fromhex(stream_id)
            except ValueError:
                pass
        else:
            stream_id = _stream(stream_id)
        yield new(ChainRow, (position, stream_id, version, topic, state, linked_to, chained))


#: Processes that read and hash the windows of a long walk (``window_summaries``).
WORKERS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Source:
    """What a worker needs to read windows itself: the database (psycopg's keyword arguments, or SQLite's
    database name) and the two statements."""

    postgres: bool
    target: Any
    events_sql: str
    chain_sql: str
    uuid: bool


_worker_connection: Any = None  # a worker process's own connection, opened at its first window


def _summarize(job: tuple[_Source, int, int, frozenset[int]]) -> WindowSummary:
    """In a worker: read a window, pair its rows and hash them."""
    global _worker_connection
    source, low, high, positions = job
    if _worker_connection is None:
        if source.postgres:
            _worker_connection = psycopg.connect(**source.target, autocommit=True)
        else:
            _worker_connection = sqlite3.connect(source.target, uri=True, check_same_thread=False)
    if source.postgres:
        with _worker_connection.cursor(binary=True) as cur:
            events = cur.execute(source.events_sql, (low, high)).fetchall()
            links = cur.execute(source.chain_sql, (low, high)).fetchall()
    else:
        events = _worker_connection.execute(source.events_sql, (low, high)).fetchall()
        links = _worker_connection.execute(source.chain_sql, (low, high)).fetchall()
    return summarize(_window_rows(events, links, source.uuid), positions)


def _summaries(jobs: list[tuple[_Source, int, int, frozenset[int]]]) -> Iterator[WindowSummary]:
    """The jobs' summaries in order; the workers are stopped when the consumer stops. A worker that fails
    (the database unreachable, say) ends them with a window that is not clean: the walk in this process
    then reads the log itself, and reports the failure as every read of the store does."""
    context = multiprocessing.get_context("fork")  # a worker needs only what this process already imported
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context) as pool:
        try:
            yield from pool.map(_summarize, jobs)
        except Exception:  # any failure: the walk in this process takes over
            log.debug("log verify: a worker process failed; walking in this process", exc_info=True)
            yield WindowSummary(0, False)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _paired(events: list[tuple[Any, ...]], links: list[tuple[Any, ...]]) -> Iterator[ChainRow]:
    """The rows of a window where some event has no link or some link no event, in position order."""
    by_position = {int(r[0]): r for r in events}
    linked = {int(r[0]): r for r in links}
    for position in sorted(by_position.keys() | linked.keys()):
        event, chained = by_position.get(position), linked.get(position)
        yield ChainRow(
            position,
            _stream(event[1]) if event else None,
            int(event[2]) if event else 0,
            bytes(event[3]) if event and event[3] is not None else "",
            bytes(event[4]) if event and event[4] is not None else None,
            int(chained[1]) if chained else None,
            bytes(chained[2]) if chained else None,
        )


def _stream(value: Any) -> Any:
    """The stream id as the chain hashes it: a UUID's 16 bytes (SQLite keeps it as 32 hex digits)."""
    if isinstance(value, UUID):
        return value.bytes
    if isinstance(value, str) and len(value) == 32:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    return value


class _PgCursor:
    """A psycopg cursor (tuple rows) whose ``fetchall`` after a statement without rows answers none."""

    def __init__(self, curs: Any) -> None:
        self.curs = curs

    def fetch(self, statement: Any, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The rows of a query, read in binary (bytea as bytes, no text escaping either way)."""
        self.curs.execute(statement, params, binary=True)
        return list(self.curs.fetchall())

    def execute(self, statement: Any, params: tuple[Any, ...] = ()) -> None:
        self.curs.execute(statement, params)

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self.curs.description is None:
            return []
        return list(self.curs.fetchall())


class _SQLiteCursor:
    """The library's SQLite cursor; ``fetch`` reads plain tuples (not the connection's ``sqlite3.Row``)."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        self.cursor.execute(statement, params)

    def fetchall(self) -> list[Any]:
        return list(self.cursor.fetchall())

    def fetch(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        raw = self.cursor.sqlite_cursor.connection.cursor()
        try:
            raw.row_factory = None
            return raw.execute(statement, params).fetchall()
        finally:
            raw.close()
