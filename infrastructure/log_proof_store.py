"""Reading the live chain and writing checkpoints, on SQLite and PostgreSQL (the store's own connections)."""

from __future__ import annotations

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
                    yield cursor

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
        """Every position after ``after`` up to ``stop`` that has an event or a link, in order."""
        column = "notification_id" if self.postgres else "rowid"
        events_sql = self._sql(
            f"SELECT {column}, originator_id, originator_version, topic, state FROM {{e}} "  # noqa: S608 - our columns
            f"WHERE {column} > ? AND {column} <= ? ORDER BY {column}",
            e=self.events,
        )
        chain_sql = self._sql(
            "SELECT position, previous_position, link FROM {c} WHERE position > ? AND position <= ? ORDER BY position",
            c=self.chain,
        )
        low = after
        while low < stop:
            high = min(low + WINDOW, stop)
            with self._cursor() as cur:
                cur.execute(events_sql, (low, high))
                events = {int(r[0]): r for r in cur.fetchall()}
                cur.execute(chain_sql, (low, high))
                links = {int(r[0]): r for r in cur.fetchall()}
            for position in sorted(events.keys() | links.keys()):
                event, chained = events.get(position), links.get(position)
                if event is not None and chained is not None:  # the common case first
                    yield ChainRow(position, _stream(event[1]), event[2], event[3], event[4], chained[1], chained[2])
                    continue
                yield ChainRow(
                    position,
                    _stream(event[1]) if event else None,
                    int(event[2]) if event else 0,
                    str(event[3]) if event else "",
                    bytes(event[4]) if event else None,
                    int(chained[1]) if chained else None,
                    bytes(chained[2]) if chained else None,
                )
            low = high

    def snapshot(self) -> AbstractContextManager[Any]:
        return self._cursor()


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

    def execute(self, statement: Any, params: tuple[Any, ...] = ()) -> None:
        self.curs.execute(statement, params)

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self.curs.description is None:
            return []
        return list(self.curs.fetchall())
