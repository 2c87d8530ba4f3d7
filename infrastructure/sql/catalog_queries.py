"""Reads of the catalog read model with filters and keyset pagination in a stable (name, id) order."""

from __future__ import annotations

from typing import Any

from ledgergate.application.ports import ItemFilter, ItemPage
from ledgergate.infrastructure.sql.catalog_view import COLUMNS, decode_row
from ledgergate.infrastructure.sql.connector import SqlConnector

__all__ = ["SqlCatalogQueries"]

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM catalog_items"
#: the upstream a discovered item came from (its document's source); per dialect
_UPSTREAM = {
    "sqlite": "json_extract(doc, '$.source.upstream_id') = ?",
    "postgres": "(doc::jsonb -> 'source' ->> 'upstream_id') = ?",
}


class SqlCatalogQueries:
    def __init__(self, connector: SqlConnector) -> None:
        self.connector = connector

    def get_item(self, tenant_id: str | None, kind: str, item_id: str) -> dict[str, Any] | None:
        sql = f"{_SELECT} WHERE id = ? AND kind = ? AND deleted = 0"
        params: list[Any] = [item_id, kind]
        if tenant_id is not None:
            sql += " AND tenant_id = ?"
            params.append(tenant_id)
        with self.connector.read() as cur:
            rows = cur.execute(sql, params)
        return decode_row(rows[0]) if rows else None

    def list_items(
        self, tenant_id: str | None, kind: str, flt: ItemFilter, after: tuple[str, str] | None, limit: int
    ) -> ItemPage:
        where = ["kind = ?", "deleted = 0"]
        params: list[Any] = [kind]
        if tenant_id is not None:
            where.append("tenant_id = ?")
            params.append(tenant_id)
        if flt.enabled is not None:
            where.append("enabled = ?")
            params.append(int(flt.enabled))
        if flt.name_prefix:
            where.append("substr(name, 1, ?) = ?")
            params += [len(flt.name_prefix), flt.name_prefix]
        if flt.tag:
            where.append("id IN (SELECT item_id FROM catalog_tags WHERE tag = ?)")
            params.append(flt.tag)
        if flt.upstream_id:
            where.append(_UPSTREAM[self.connector.dialect])
            params.append(flt.upstream_id)
        if after is not None:
            where.append("(name > ? OR (name = ? AND id > ?))")
            params += [after[0], after[0], after[1]]
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY name, id LIMIT ?"
        with self.connector.read() as cur:
            rows = [decode_row(values) for values in cur.execute(sql, [*params, limit + 1])]
        more = len(rows) > limit
        rows = rows[:limit]
        return ItemPage(items=rows, next_after=(rows[-1]["name"], rows[-1]["id"]) if more else None)

    def member_ids(self, server_id: str) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {"tool": [], "resource": [], "prompt": [], "upstream": []}
        with self.connector.read() as cur:
            for kind, member_id in cur.execute(
                "SELECT member_kind, member_id FROM server_members WHERE server_id = ? ORDER BY member_id", (server_id,)
            ):
                members[kind].append(member_id)
        return members

    def is_token_revoked(self, token_id: str) -> bool:
        with self.connector.read() as cur:
            rows = cur.execute("SELECT enabled FROM catalog_items WHERE id = ? AND kind = 'token'", (token_id,))
        return bool(rows) and not rows[0][0]
