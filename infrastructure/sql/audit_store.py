"""The audit log table: appended by the follower, rebuilt beside the live rows, queried with filters."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import msgspec

from ledgergate.application.audit import AuditFilter
from ledgergate.infrastructure.sql.connector import Cursor, SqlConnector, tracked_position
from ledgergate.projections.audit_log import AuditRow

__all__ = ["SqlAuditLog"]

_INSERT = (
    "INSERT INTO audit_log (generation, position, tenant_id, stream_id, entity_kind, event_type, actor, "
    "actor_token_id, actor_tenant, occurred_at, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: Rows written before the envelope named the credential hold entries without these keys.
_CREDENTIAL_KEYS = ("actor_token_id", "actor_tenant")
_SET_GENERATION = (
    "INSERT INTO projection_generations (name, generation) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET generation = excluded.generation"
)
_LIVE = "COALESCE((SELECT generation FROM projection_generations WHERE name = ?), 0)"


def _values(generation: int, row: AuditRow) -> tuple[Any, ...]:
    return (
        generation,
        row.position,
        row.tenant_id,
        row.stream_id,
        row.entity_kind,
        row.event_type,
        row.actor,
        row.actor_token_id,
        row.actor_tenant,
        row.occurred_at,
        msgspec.json.encode(row.entry).decode(),
    )


def _live(cur: Cursor, name: str) -> int:
    found = cur.execute("SELECT generation FROM projection_generations WHERE name = ?", (name,))
    return int(found[0][0]) if found else 0


def _with_credential(entry: dict[str, Any]) -> dict[str, Any]:
    for key in _CREDENTIAL_KEYS:
        entry.setdefault(key, None)
    return entry


class SqlAuditLog:
    def __init__(self, connector: SqlConnector) -> None:
        self.connector = connector

    # -- the projection's side -----------------------------------------------------------------------

    def position(self, name: str) -> int:
        return tracked_position(self.connector, name)

    def kinds(self, stream_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self.connector.read() as cur:
            for start in range(0, len(stream_ids), 500):
                chunk = stream_ids[start : start + 500]
                marks = ", ".join("?" for _ in chunk)
                rows = cur.execute(
                    f"SELECT DISTINCT stream_id, entity_kind FROM audit_log WHERE stream_id IN ({marks})", chunk
                )
                found.update({stream: kind for stream, kind in rows})
        return found

    def append(self, name: str, start: int, rows: list[AuditRow], new_position: int) -> bool:
        with self.connector.transaction() as cur:
            if cur.lock_tracking(name) != start:
                return False
            generation = _live(cur, name)
            cur.executemany(_INSERT, [_values(generation, row) for row in rows])
            cur.execute("UPDATE projection_tracking SET position = ? WHERE name = ?", (new_position, name))
        return True

    def begin_generation(self, name: str) -> int:
        """A generation number no other rebuild holds: rebuilds running at once build side by side and
        the last to switch wins; rows left by an abandoned rebuild are dropped."""
        reserved = f"{name}#reserved"
        with self.connector.transaction() as cur:
            cur.lock_tracking(name)
            found = cur.execute("SELECT MAX(generation) FROM audit_log")
            generation = max(_live(cur, name), _live(cur, reserved), int(found[0][0] or 0)) + 1
            cur.execute("DELETE FROM audit_log WHERE generation >= ?", (generation,))
            cur.execute(_SET_GENERATION, (reserved, generation))
        return generation

    def fill(self, name: str, generation: int, rows: list[AuditRow]) -> None:
        with self.connector.transaction() as cur:
            cur.executemany(_INSERT, [_values(generation, row) for row in rows])

    def switch(self, name: str, generation: int, rows: list[AuditRow], new_position: int) -> int:
        with self.connector.transaction() as cur:
            cur.lock_tracking(name)  # the follower waits for the switch, then appends to the new generation
            old = _live(cur, name)
            cur.executemany(_INSERT, [_values(generation, row) for row in rows])
            cur.execute(_SET_GENERATION, (name, generation))
            cur.execute("UPDATE projection_tracking SET position = ? WHERE name = ?", (new_position, name))
        return old

    def drop_generation(self, name: str, generation: int) -> None:
        with self.connector.transaction() as cur:
            if _live(cur, name) != generation:
                cur.execute("DELETE FROM audit_log WHERE generation = ?", (generation,))

    # -- the readers' side ---------------------------------------------------------------------------

    def entries(self, name: str, flt: AuditFilter, after: int, limit: int) -> list[dict[str, Any]]:
        """Entries matching ``flt`` after position ``after``, in log order, from the live generation."""
        where, params = [f"generation = {_LIVE}", "position > ?"], [name, after]
        for column, value in (
            ("tenant_id", flt.tenant_id),
            ("actor", flt.actor),
            ("actor_token_id", flt.token_id),
            ("actor_tenant", flt.actor_tenant),
            ("stream_id", flt.entity_id),
            ("entity_kind", flt.entity_kind),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if flt.event_type is not None:
            where.append("(event_type = ? OR event_type LIKE ?)")
            params += [flt.event_type, "%." + flt.event_type]
        if flt.since is not None:
            where.append("occurred_at >= ?")
            params.append(flt.since.astimezone(UTC).isoformat(timespec="microseconds"))
        if flt.until is not None:
            where.append("occurred_at <= ?")
            params.append(flt.until.astimezone(UTC).isoformat(timespec="microseconds"))
        sql = f"SELECT entry FROM audit_log WHERE {' AND '.join(where)} ORDER BY position LIMIT ?"
        with self.connector.read() as cur:
            found = cur.execute(sql, (*params, limit))
        return [_with_credential(msgspec.json.decode(entry)) for (entry,) in found]

    def count(self, name: str) -> int:
        with self.connector.read() as cur:
            return int(cur.execute(f"SELECT COUNT(*) FROM audit_log WHERE generation = {_LIVE}", (name,))[0][0])
