"""Writes catalog rows and the projection's tracking position in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from ledgergate.infrastructure.sql.connector import Cursor, SqlConnector, tracked_position
from ledgergate.projections.catalog import Row, member_rows, tag_rows

__all__ = ["SqlCatalogView"]

COLUMNS = (
    "id",
    "tenant_id",
    "kind",
    "name",
    "enabled",
    "deleted",
    "version",
    "created_at",
    "updated_at",
    "updated_by",
    "position",
    "doc",
)
_UPSERT = (
    f"INSERT INTO catalog_items ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{col} = excluded.{col}" for col in COLUMNS if col != "id")
)
_CHUNK = 500


def decode_row(values: tuple[Any, ...]) -> Row:
    row = dict(zip(COLUMNS, values, strict=True))
    row["enabled"] = bool(row["enabled"])
    row["deleted"] = bool(row["deleted"])
    row["doc"] = msgspec.json.decode(row["doc"])
    return row


def _encode_row(row: Row) -> tuple[Any, ...]:
    return tuple(
        int(row[col])
        if col in ("enabled", "deleted")
        else msgspec.json.encode(row[col]).decode()
        if col == "doc"
        else row[col]
        for col in COLUMNS
    )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class _Batch:
    def __init__(self, cur: Cursor, position: int) -> None:
        self._cur = cur
        self.position = position
        self.new_position: int | None = None
        self.emptied = False

    def load(self, ids: Iterable[str]) -> dict[str, Row]:
        rows: dict[str, Row] = {}
        for chunk in _chunks(sorted(set(ids))):
            marks = ", ".join("?" for _ in chunk)
            for values in self._cur.execute(
                f"SELECT {', '.join(COLUMNS)} FROM catalog_items WHERE id IN ({marks})", chunk
            ):
                row = decode_row(values)
                rows[row["id"]] = row
        return rows

    def write(self, rows: list[Row], new_position: int) -> None:
        cur = self._cur
        ids = [row["id"] for row in rows]
        cur.executemany(_UPSERT, [_encode_row(row) for row in rows])
        for chunk in _chunks(ids) if not self.emptied else ():  # a rebuild starts from empty tables
            marks = ", ".join("?" for _ in chunk)
            cur.execute(f"DELETE FROM catalog_tags WHERE item_id IN ({marks})", chunk)
            cur.execute(f"DELETE FROM server_members WHERE server_id IN ({marks})", chunk)
        cur.executemany(
            "INSERT INTO catalog_tags (item_id, tag) VALUES (?, ?)", [tag for row in rows for tag in tag_rows(row)]
        )
        cur.executemany(
            "INSERT INTO server_members (server_id, member_kind, member_id) VALUES (?, ?, ?)",
            [member for row in rows for member in member_rows(row)],
        )
        self.new_position = new_position


class SqlCatalogView:
    """The catalog view on SQLite or PostgreSQL. Competing processes serialise on the tracking row."""

    def __init__(self, connector: SqlConnector) -> None:
        self.connector = connector

    @contextmanager
    def batch(self, name: str, rebuild: bool = False) -> Iterator[_Batch]:
        """One transaction over the view. ``rebuild`` empties it first, inside the same transaction, so
        readers keep seeing the old rows until the rebuilt ones commit in their place."""
        with self.connector.transaction() as cur:
            batch = _Batch(cur, cur.lock_tracking(name))
            if rebuild:
                for table in ("catalog_tags", "server_members", "catalog_items"):
                    cur.execute(f"DELETE FROM {table}")
                cur.execute("UPDATE projection_tracking SET position = 0 WHERE name = ?", (name,))
                batch.position = 0
                batch.emptied = True
            yield batch
            if batch.new_position is not None and batch.new_position > batch.position:
                cur.execute("UPDATE projection_tracking SET position = ? WHERE name = ?", (batch.new_position, name))

    def position(self, name: str) -> int:
        return tracked_position(self.connector, name)

    def load_all(self, name: str) -> tuple[list[Row], int]:
        """Every row and the position they reflect, read consistently (to start a hot catalog)."""
        with self.connector.snapshot() as cur:
            position_rows = cur.execute("SELECT position FROM projection_tracking WHERE name = ?", (name,))
            rows = [decode_row(values) for values in cur.execute(f"SELECT {', '.join(COLUMNS)} FROM catalog_items")]
        return rows, int(position_rows[0][0]) if position_rows else 0

    def reset(self, name: str) -> None:
        """Drop the rows and the position, so the next run rebuilds from the start of the log."""
        with self.connector.transaction() as cur:
            cur.lock_tracking(name)
            for table in ("catalog_tags", "server_members", "catalog_items"):
                cur.execute(f"DELETE FROM {table}")
            cur.execute("UPDATE projection_tracking SET position = 0 WHERE name = ?", (name,))
