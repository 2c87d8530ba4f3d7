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

import functools
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import sql as pgsql

from ledgergate.application.log_chain import GENESIS_LINK, link

__all__ = [
    "LINKED_INSERT_MAX",
    "append_links_postgres",
    "append_links_sqlite",
    "chain_table",
    "checkpoints_table",
    "head_query_postgres",
    "postgres_chain_statements",
    "postgres_linked_insert",
    "previous_from_head",
    "sqlite_chain_statements",
]


#: Most events one PostgreSQL insert links in SQL (``postgres_linked_insert``); beyond, links come from Python.
LINKED_INSERT_MAX = 32
#: Most links one SQLite insert statement carries (999 parameters at most in older SQLite builds).
SQLITE_ONE_INSERT_MAX = 300


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


def _links(previous: tuple[int, bytes], ids: Sequence[int], events: Sequence[Any]) -> list[tuple[int, int, bytes]]:
    """``(position, predecessor, link)`` of newly written events, in position order (``events`` have stream,
    version, topic, state as ``StoredEvent`` or ``StoredRecord`` do)."""
    previous_position, previous_link = previous
    pairs = zip(ids, events, strict=True)
    if any(ids[n] > ids[n + 1] for n in range(len(ids) - 1)):
        pairs = iter(sorted(pairs, key=lambda pair: pair[0]))
    rows = []
    for position, event in pairs:
        if event.__class__ is StoredEvent:
            stream, version = event.originator_id, event.originator_version
        else:
            stream, version = event.stream_id, event.version
        previous_link = link(previous_link, previous_position, position, stream, version, event.topic, event.state)
        rows.append((position, previous_position, previous_link))
        previous_position = position
    return rows


def postgres_linked_insert(
    schema: str, events_table: str, stored_event_type: str, originator_id_type: str
) -> pgsql.Composed:
    """The library's insert of a composite array of events, with the events' links computed and inserted by the
    same statement (run after the table lock): no statement, round trip or hashing of its own on the client.

    The chain's last link (or, for the first link ever, the log's head before the insert, from genesis) is
    read in the statement's snapshot, taken after the lock; each link is ``log_chain.link`` in SQL: SHA-256
    of the previous link, the two positions and the version as big-endian 8-byte integers, the stream id's
    length (4 bytes) and bytes (a UUID's 16), the topic in UTF-8, a newline and the stored bytes. The links
    are folded in position order by a recursive term that rescans the new rows at each step, so it serves
    small batches (``LINKED_INSERT_MAX``); larger ones are linked from Python (``append_links_postgres``).
    Returns the new notification ids in order, as the library's insert does."""
    table = pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(events_table))
    chain = pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(chain_table(events_table)))
    uuid = originator_id_type == "uuid"
    stream = pgsql.SQL("uuid_send(originator_id)" if uuid else "convert_to(originator_id, 'UTF8')")
    return pgsql.SQL(
        "WITH RECURSIVE new AS ("
        "INSERT INTO {table} AS t (originator_id, originator_version, topic, state) "
        "SELECT originator_id, originator_version, topic, state FROM unnest(%s::{schema}.{event_type}[]) "
        "RETURNING notification_id, originator_id, originator_version, topic, state"
        "), numbered AS ("
        "SELECT row_number() OVER (ORDER BY notification_id) AS n, notification_id, originator_version, "
        "{stream} AS stream, convert_to(topic, 'UTF8') AS topic, state FROM new"
        "), head AS ("
        "SELECT coalesce(last.position, (SELECT max(notification_id) FROM {table}), 0) AS position, "
        "coalesce(last.link, {genesis}) AS link "
        "FROM (SELECT 1) AS one LEFT JOIN (SELECT position, link FROM {chain} ORDER BY position DESC LIMIT 1) AS last "
        "ON true"
        "), linked (n, position, previous_position, link) AS ("
        "SELECT 0::bigint, position, NULL::bigint, link FROM head "
        "UNION ALL "
        "SELECT e.n, e.notification_id, l.position, sha256(l.link || int8send(l.position) || "
        "int8send(e.notification_id) || int8send(e.originator_version) || int4send(octet_length(e.stream)) || "
        "e.stream || e.topic || '\\x0a'::bytea || e.state) "
        "FROM linked AS l JOIN numbered AS e ON e.n = l.n + 1"
        "), chained AS ("
        "INSERT INTO {chain} (position, previous_position, link) "
        "SELECT position, previous_position, link FROM linked WHERE n > 0"
        ") SELECT notification_id FROM new ORDER BY notification_id"
    ).format(
        table=table,
        chain=chain,
        schema=pgsql.Identifier(schema),
        event_type=pgsql.Identifier(stored_event_type),
        stream=stream,
        genesis=pgsql.Literal(GENESIS_LINK),
    )


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
    rows = _links(previous, ids, events)
    curs.execute(
        pgsql.SQL(
            "INSERT INTO {} (position, previous_position, link) SELECT * FROM unnest(%b::bigint[], %b::bigint[], "
            "%b::bytea[])"
        ).format(chain),
        tuple(map(list, zip(*rows, strict=True))),
    )


def _previous(last: Any, head: Any) -> tuple[int, bytes]:
    """The predecessor of the next link: the last link, or (first ever link) the log's head, from genesis."""
    if last is not None:
        return int(last[0]), bytes(last[1])
    return int(head or 0), GENESIS_LINK


@functools.lru_cache(maxsize=256)
def _sqlite_statements(events_table: str, count: int) -> tuple[str, str]:
    """The read of the last link and the insert of ``count`` links (0: one row, for ``executemany``)."""
    chain = chain_table(events_table)
    rows = ", ".join(["(?, ?, ?)"] * max(count, 1))
    return (
        f"SELECT position, link FROM {chain} ORDER BY position DESC LIMIT 1",  # noqa: S608 - our table
        f"INSERT INTO {chain} (position, previous_position, link) VALUES {rows}",  # noqa: S608 - our table
    )


def append_links_sqlite(cursor: Any, events_table: str, ids: Sequence[int], events: Sequence[StoredEvent]) -> None:
    """Link events just inserted by ``cursor`` (inside the write transaction, after the inserts took the
    database's write lock): one read of the last link, one insert of the new links."""
    if not ids:
        return
    count = len(ids) if len(ids) <= SQLITE_ONE_INSERT_MAX else 0
    last_link, insert = _sqlite_statements(events_table, count)
    cursor.execute(last_link)
    last = cursor.fetchone()
    if last is not None:
        previous = last[0], last[1]
    else:
        cursor.execute(f"SELECT max(rowid) FROM {events_table} WHERE rowid < ?", (min(ids),))  # noqa: S608
        previous = _previous(None, cursor.fetchone()[0])
    rows = _links(previous, ids, events)
    if count:  # one statement for all the links, not one per row
        cursor.execute(insert, [value for row in rows for value in row])
    else:
        cursor.executemany(insert, rows)
