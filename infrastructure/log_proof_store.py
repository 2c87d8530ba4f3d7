"""Reading the live chain and writing checkpoints, on SQLite and PostgreSQL (the store's own connections)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql as pgsql
from psycopg.rows import tuple_row

from ledgergate.application.log_chain import ChainRow, Checkpoint
from ledgergate.infrastructure.log_chain_store import chain_table, checkpoints_table
from ledgergate.infrastructure.store_health import StoreHealth, reported

__all__ = ["StoreLogProof"]

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

    def rows(self, after: int, stop: int) -> Iterator[ChainRow]:
        """Every position after ``after`` up to ``stop`` that has an event or a link, in order.

        A window of positions at a time: its events and its links, each read in position order (on
        PostgreSQL in binary, the stream id and the topic as the bytes the link hashes), then paired. Rows
        are made with ``tuple.__new__`` (half the cost of ``ChainRow(...)``): a walk makes one per event."""
        new = tuple.__new__
        column = "notification_id" if self.postgres else "rowid"
        if self.postgres:
            uuid = getattr(self.recorder.datastore, "originator_id_type", "uuid") == "uuid"
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
        sqlite = not self.postgres
        fromhex = bytes.fromhex
        for events, links in self._windows(after, stop, events_sql, chain_sql):
            if len(events) == len(links) and [e[0] for e in events] == [c[0] for c in links]:
                # the common case: every event and its link
                if self.postgres and uuid:
                    for (position, stream_id, version, topic_bytes, state), (_, linked_to, chained) in zip(
                        events, links, strict=True
                    ):
                        yield new(ChainRow, (position, stream_id, version, topic_bytes, state, linked_to, chained))
                    continue
                for (position, stream_id, version, topic_bytes, state), (_, linked_to, chained) in zip(
                    events, links, strict=True
                ):
                    if sqlite and stream_id.__class__ is str and len(stream_id) == 32:  # a UUID's 32 hex digits
                        try:  # noqa: SIM105 - a context manager per row costs more than the hashing
                            stream_id = fromhex(stream_id)
                        except ValueError:
                            pass
                    else:
                        stream_id = _stream(stream_id)
                    yield new(ChainRow, (position, stream_id, version, topic_bytes, state, linked_to, chained))
            else:
                yield from _paired(events, links)

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
