"""The live chain in the store: a link row per event, written in the event's own transaction, and checkpoints.

``<events>_chain (position, previous_position, link)`` holds one row per event, inserted after the
event rows in the same transaction: on PostgreSQL after the library's ``LOCK TABLE ... EXCLUSIVE`` (the
one that makes commit order equal position order), on SQLite inside the write transaction that holds the
database's single writer lock. The predecessor is read under that lock, so concurrent writers (threads,
workers, machines) take turns and cannot fork the chain. A log that existed before the chain starts it
from its head at that time: the first link names that position as its predecessor, and the first
checkpoint (written at start) signs it.

``<events>_checkpoints (position, link, time, key_id, signature)`` holds the signed checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import sql as pgsql

from ledgergate.application.log_chain import GENESIS_LINK, link

__all__ = [
    "append_links_postgres",
    "append_links_sqlite",
    "chain_table",
    "checkpoints_table",
    "head_query_postgres",
    "postgres_chain_statements",
    "previous_from_head",
    "sqlite_chain_statements",
]


def chain_table(events_table: str) -> str:
    return f"{events_table}_chain"


def checkpoints_table(events_table: str) -> str:
    return f"{events_table}_checkpoints"


def postgres_chain_statements(schema: str, events_table: str) -> list[pgsql.Composed]:
    chain = pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(chain_table(events_table)))
    checkpoints = pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(checkpoints_table(events_table)))
    return [
        pgsql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, previous_position bigint NOT NULL, "
            "link bytea NOT NULL)"
        ).format(chain),
        pgsql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, link bytea NOT NULL, time text NOT NULL, "
            "key_id text NOT NULL, signature text NOT NULL)"
        ).format(checkpoints),
    ]


def sqlite_chain_statements(events_table: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {chain_table(events_table)} (position INTEGER PRIMARY KEY, "
        "previous_position INTEGER NOT NULL, link BLOB NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {checkpoints_table(events_table)} (position INTEGER PRIMARY KEY, "
        "link BLOB NOT NULL, time TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL)",
    ]


def _links(
    previous: tuple[int, bytes], ids: Sequence[int], events: Sequence[Any]
) -> tuple[list[int], list[int], list[bytes]]:
    """Positions, predecessors and links of newly written events (``events`` have stream, version, topic,
    state as ``StoredEvent`` or ``StoredRecord`` do)."""
    previous_position, previous_link = previous
    positions, predecessors, links = [], [], []
    for position, event in sorted(zip(ids, events, strict=True), key=lambda pair: pair[0]):
        if isinstance(event, StoredEvent):
            stream, version = event.originator_id, event.originator_version
        else:
            stream, version = event.stream_id, event.version
        previous_link = link(previous_link, previous_position, position, stream, version, event.topic, event.state)
        positions.append(position)
        predecessors.append(previous_position)
        links.append(previous_link)
        previous_position = position
    return positions, predecessors, links


def head_query_postgres(schema: str, events_table: str) -> pgsql.Composed:
    """The chain's last link and the log's head, read under the table lock before the new events go in."""
    chain = pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(chain_table(events_table)))
    table = pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(events_table))
    return pgsql.SQL(
        "SELECT last.position, last.link, (SELECT max(notification_id) FROM {table}) AS head "
        "FROM (SELECT 1) AS one LEFT JOIN (SELECT position, link FROM {chain} ORDER BY position DESC LIMIT 1) AS last "
        "ON true"
    ).format(chain=chain, table=table)


def previous_from_head(row: Any) -> tuple[int, bytes]:
    """The predecessor from a row of ``head_query_postgres`` (a tuple or a dict row)."""
    values = tuple(row.values()) if isinstance(row, dict) else tuple(row)
    last = (values[0], values[1]) if values[0] is not None else None
    return _previous(last, values[2])


def append_links_postgres(
    curs: Any,
    schema: str,
    events_table: str,
    ids: Sequence[int],
    events: Sequence[Any],
    previous: tuple[int, bytes] | None = None,
) -> None:
    """Link events just inserted by ``curs`` (whose transaction holds the table lock). ``previous`` is the
    predecessor read before the insert (``head_query_postgres``); without it, it is read now."""
    if not ids:
        return
    chain = pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(chain_table(events_table)))
    if previous is None:
        table = pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(events_table))
        curs.execute(
            pgsql.SQL(
                "SELECT last.position, last.link, "
                "(SELECT max(notification_id) FROM {table} WHERE notification_id < %s) AS head "
                "FROM (SELECT 1) AS one LEFT JOIN (SELECT position, link FROM {chain} ORDER BY position DESC LIMIT 1) "
                "AS last ON true"
            ).format(chain=chain, table=table),
            (min(ids),),
            prepare=True,
        )
        previous = previous_from_head(curs.fetchone())
    positions, predecessors, links = _links(previous, ids, events)
    curs.execute(
        pgsql.SQL(
            "INSERT INTO {} (position, previous_position, link) SELECT * FROM unnest(%b::bigint[], %b::bigint[], "
            "%b::bytea[])"
        ).format(chain),
        (positions, predecessors, links),
    )


def _previous(last: Any, head: Any) -> tuple[int, bytes]:
    """The predecessor of the next link: the last link, or (first ever link) the log's head, from genesis."""
    if last is not None:
        return int(last[0]), bytes(last[1])
    return int(head or 0), GENESIS_LINK


def append_links_sqlite(cursor: Any, events_table: str, ids: Sequence[int], events: Sequence[StoredEvent]) -> None:
    """Link events just inserted by ``cursor`` (inside the write transaction)."""
    if not ids:
        return
    chain = chain_table(events_table)
    cursor.execute(f"SELECT position, link FROM {chain} ORDER BY position DESC LIMIT 1")  # noqa: S608 - our table
    last = cursor.fetchone()
    if last is not None:
        previous = int(last[0]), bytes(last[1])
    else:
        cursor.execute(f"SELECT max(rowid) FROM {events_table} WHERE rowid < ?", (min(ids),))  # noqa: S608
        previous = _previous(None, cursor.fetchone()[0])
    positions, predecessors, links = _links(previous, ids, events)
    cursor.executemany(
        f"INSERT INTO {chain} (position, previous_position, link) VALUES (?, ?, ?)",  # noqa: S608 - our table
        list(zip(positions, predecessors, links, strict=True)),
    )
