"""Hot catalogs: per (tenant, virtual server), an immutable snapshot that MCP requests are served from.

Each process folds the log into memory with the same ``evolve`` as the durable catalog, starting from
a consistent copy of the durable view. After every batch it rebuilds the snapshots of the tenants the
batch touched and swaps them in with one assignment; requests never query a database and never
encode the catalog: list results are encoded once per snapshot, per protocol era and page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ledgergate.projections.catalog import Row, evolve, server_members
from ledgergate.projections.uri_templates import is_template, matcher

__all__ = ["ERAS", "LIST_KINDS", "CatalogChange", "HotCatalogs", "Snapshot", "decode_page_cursor"]

log = logging.getLogger("ledgergate.hot")

#: Era "legacy" (2024-11-05 ... 2025-11-25) or "modern" (2026-07-28): modern results carry caching hints.
ERAS = ("legacy", "modern")
LIST_KINDS = ("tools", "resources", "prompts", "resourceTemplates")
CatalogKey = tuple[str, str | None]  # (tenant, virtual server id or None for the tenant-wide catalog)
#: Kinds whose deleted rows keep only their envelope here: a revert carries the entity's whole state, so the
#: document (schemas, content: most of a row's size) is not needed to bring it back, and a process that
#: serves churn for weeks does not hold every deleted entity's document.
COMPACTED_WHEN_DELETED = frozenset({"tool", "resource", "prompt", "server"})


@dataclass(frozen=True)
class CatalogChange:
    tenant_id: str
    server_id: str | None
    kinds: frozenset[str]  # which of LIST_KINDS changed


def _drop_none(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if value not in (None, {}, [])}


def mcp_tool(row: Row) -> dict[str, Any]:
    doc = row["doc"]
    return _drop_none(
        {
            "name": doc["name"],
            "title": doc.get("title"),
            "description": doc.get("description"),
            "inputSchema": doc["input_schema"],
            "outputSchema": doc.get("output_schema"),
            "annotations": doc.get("annotations"),
            "execution": doc.get("execution"),
        }
    )


def mcp_resource(row: Row) -> dict[str, Any]:
    doc = row["doc"]
    return _drop_none(
        {
            "uri": doc["uri"],
            "name": doc["name"],
            "title": doc.get("title"),
            "description": doc.get("description"),
            "mimeType": doc.get("mime_type"),
        }
    )


def mcp_resource_template(row: Row) -> dict[str, Any]:
    doc = row["doc"]
    return _drop_none(
        {
            "uriTemplate": doc["uri"],
            "name": doc["name"],
            "title": doc.get("title"),
            "description": doc.get("description"),
            "mimeType": doc.get("mime_type"),
        }
    )


def mcp_prompt(row: Row) -> dict[str, Any]:
    doc = row["doc"]
    arguments = [
        _drop_none({"name": a["name"], "description": a.get("description")}) | {"required": a["required"]}
        for a in doc.get("arguments") or []
    ]
    return _drop_none(
        {"name": doc["name"], "title": doc.get("title"), "description": doc.get("description"), "arguments": arguments}
    )


def encode_page_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"page:{index}".encode()).decode().rstrip("=")


def decode_page_cursor(cursor: Any) -> int | None:
    """The page index a cursor stands for, or None if it is not one of ours."""
    if not isinstance(cursor, str) or len(cursor) > 64:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "page" and number.isdigit() else None


def _page(key: str, entries: list[bytes], next_cursor: str | None, tail: bytes) -> bytes:
    """A list result assembled from entries encoded once each: no encoding of the catalog here."""
    body = b'{"' + key.encode() + b'":[' + b",".join(entries) + b"]"
    if next_cursor is not None:
        body += b',"nextCursor":"' + next_cursor.encode() + b'"'
    return body + tail + b"}"


def _encode_pages(key: str, entries: list[bytes], page_size: int, ttl_ms: int) -> dict[tuple[str, int], bytes]:
    modern_tail = b',"resultType":"complete","ttlMs":' + str(ttl_ms).encode() + b',"cacheScope":"private"'
    pages: dict[tuple[str, int], bytes] = {}
    chunks = [entries[i : i + page_size] for i in range(0, len(entries), page_size)] or [[]]
    for index, chunk in enumerate(chunks):
        cursor = encode_page_cursor(index + 1) if index + 1 < len(chunks) else None
        pages[("legacy", index)] = _page(key, chunk, cursor, b"")
        pages[("modern", index)] = _page(key, chunk, cursor, modern_tail)
    return pages


@dataclass(frozen=True)
class Snapshot:
    """What one catalog exposes at one position. Never mutated; replaced whole."""

    tenant_id: str
    server_id: str | None
    position: int
    tools: dict[str, Row]
    resources: dict[str, Row]
    prompts: dict[str, Row]
    pages: dict[tuple[str, str, int], bytes] = field(repr=False)
    digests: dict[str, bytes] = field(repr=False)
    #: resource templates by their URI template (resources whose URI holds an RFC 6570 expression)
    templates: dict[str, Row] = field(default_factory=dict)

    def page(self, era: str, kind: str, index: int) -> bytes | None:
        return self.pages.get((era, kind, index))

    def template_for(self, uri: str) -> Row | None:
        """The resource template a concrete URI belongs to (the most specific one), if any."""
        best: tuple[int, Row] | None = None
        for template, row in self.templates.items():
            pattern, literal = matcher(template)
            if pattern.match(uri) and (best is None or literal > best[0]):
                best = (literal, row)
        return best[1] if best is not None else None


ENTRY_BUILDERS = {"tool": mcp_tool, "resource": mcp_resource, "prompt": mcp_prompt}


def _entry_builder(row: Row) -> Callable[[Row], dict[str, Any]]:
    if row["kind"] == "resource" and is_template(row["doc"]["uri"]):
        return mcp_resource_template
    return ENTRY_BUILDERS[row["kind"]]


def build_snapshot(
    tenant_id: str,
    server_id: str | None,
    rows: Iterable[Row],
    position: int,
    page_size: int,
    ttl_ms: int,
    encoded: dict[tuple[str, int], bytes] | None = None,
) -> Snapshot:
    """``encoded`` caches each row's MCP entry by (id, version), so a change re-encodes only what changed."""
    cache = encoded if encoded is not None else {}
    by_kind: dict[str, list[Row]] = {"tool": [], "resource": [], "prompt": []}
    for row in rows:
        if row["kind"] in by_kind and row["enabled"] and not row["deleted"]:
            by_kind[row["kind"]].append(row)
    for kind_rows in by_kind.values():
        kind_rows.sort(key=lambda r: (r["name"], r["id"]))
    templates = [r for r in by_kind["resource"] if is_template(r["doc"]["uri"])]
    by_kind["resource"] = [r for r in by_kind["resource"] if not is_template(r["doc"]["uri"])]

    def entry(row: Row) -> bytes:
        key = (row["id"], row["version"])
        found = cache.get(key)
        if found is None:
            found = cache[key] = msgspec.json.encode(_entry_builder(row)(row))
        return found

    entries = {
        "tools": [entry(r) for r in by_kind["tool"]],
        "resources": [entry(r) for r in by_kind["resource"]],
        "prompts": [entry(r) for r in by_kind["prompt"]],
        "resourceTemplates": [entry(r) for r in templates],
    }
    pages: dict[tuple[str, str, int], bytes] = {}
    digests: dict[str, bytes] = {}
    for kind, items in entries.items():
        for (era, index), body in _encode_pages(kind, items, page_size, ttl_ms).items():
            pages[(era, kind, index)] = body
        digests[kind] = hashlib.sha256(b"\n".join(items)).digest()
    return Snapshot(
        tenant_id=tenant_id,
        server_id=server_id,
        position=position,
        tools={r["doc"]["name"]: r for r in by_kind["tool"]},
        resources={r["doc"]["uri"]: r for r in by_kind["resource"]},
        prompts={r["doc"]["name"]: r for r in by_kind["prompt"]},
        pages=pages,
        digests=digests,
        templates={r["doc"]["uri"]: r for r in templates},
    )


class HotCatalogs:
    """The in-memory catalogs of this process. ``get`` is lock-free; ``advance`` runs in one thread."""

    def __init__(
        self,
        source: Callable[[int, int], Sequence[tuple[int, Any]]],
        page_size: int = 1000,
        ttl_ms: int = 60_000,
        batch_size: int = 1000,
    ) -> None:
        self.source = source
        self.page_size = page_size
        self.ttl_ms = ttl_ms
        self.batch_size = batch_size
        self.position = 0
        self._rows: dict[str, Row] = {}
        self._by_tenant: dict[str, dict[str, Row]] = {}
        self._snapshots: dict[CatalogKey, Snapshot] = {}
        self._listeners: list[Callable[[list[CatalogChange]], None]] = []
        self._encoded: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    # -- reads (any thread, no lock) --------------------------------------------------------------

    def get(self, tenant_id: str, server_id: str | None = None) -> Snapshot | None:
        return self._snapshots.get((tenant_id, server_id))

    def row(self, item_id: str) -> Row | None:
        return self._rows.get(item_id)

    def rows_of_kind(self, kind: str) -> list[Row]:
        return [row for row in list(self._rows.values()) if row["kind"] == kind and not row["deleted"]]

    def token_revoked(self, token_id: str) -> bool:
        """Revoked, as far as this process has seen. A token issued moments ago may not be here yet."""
        row = self._rows.get(token_id)
        return row is not None and row["kind"] == "token" and not row["enabled"]

    def tenant_active(self, tenant_id: str) -> bool:
        return (tenant_id, None) in self._snapshots

    def add_listener(self, listener: Callable[[list[CatalogChange]], None]) -> None:
        self._listeners.append(listener)

    # -- writes (the follower thread) -------------------------------------------------------------

    def load(self, rows: Iterable[Row], position: int) -> None:
        """Start from a consistent copy of the durable view at ``position``."""
        with self._lock:
            for row in rows:
                self._put(row)
            self.position = position
            self._rebuild(set(self._by_tenant), notify=False)

    def advance(self) -> int:
        """Fold the log after our position into memory; rebuild and swap the touched tenants' snapshots."""
        with self._lock:
            touched: set[str] = set()
            try:
                while True:
                    items = self.source(self.position, self.batch_size)
                    for position, event in items:
                        key = str(event.originator_id)
                        new = evolve(self._rows.get(key), event, position)
                        if new is not None:
                            self._put(new)
                            touched.add(new["tenant_id"])
                    if items:
                        self.position = items[-1][0]
                    if len(items) < self.batch_size:
                        break
            finally:  # a read that fails after some batches (the database went away) keeps what they brought
                if touched:
                    self._rebuild(touched, notify=True)
            return self.position

    def _put(self, row: Row) -> None:
        if row["deleted"] and row["kind"] in COMPACTED_WHEN_DELETED:
            row = {**row, "doc": {}}
        self._rows[row["id"]] = row
        self._by_tenant.setdefault(row["tenant_id"], {})[row["id"]] = row

    def _tenant_row(self, tenant_id: str) -> Row | None:
        # A tenant's own events carry its slug as their tenant, so its row sits in its own bucket.
        return next((r for r in self._by_tenant.get(tenant_id, {}).values() if r["kind"] == "tenant"), None)

    def _rebuild(self, tenants: set[str], notify: bool) -> None:
        snapshots = dict(self._snapshots)
        for tenant_id in tenants:
            for key in [k for k in snapshots if k[0] == tenant_id]:
                del snapshots[key]
            tenant = self._tenant_row(tenant_id)
            if tenant is None or not tenant["enabled"] or tenant["deleted"]:
                continue
            rows = self._by_tenant.get(tenant_id, {})
            snapshots[(tenant_id, None)] = build_snapshot(
                tenant_id, None, rows.values(), self.position, self.page_size, self.ttl_ms, self._encoded
            )
            for server in rows.values():
                if server["kind"] == "server" and server["enabled"] and not server["deleted"]:
                    snapshots[(tenant_id, server["id"])] = build_snapshot(
                        tenant_id,
                        server["id"],
                        server_members(server, rows),
                        self.position,
                        self.page_size,
                        self.ttl_ms,
                        self._encoded,
                    )
        if len(self._encoded) > 2 * len(self._rows) + 1000:  # drop entries of versions no longer current
            self._encoded = {
                k: v for k, v in self._encoded.items() if (r := self._rows.get(k[0])) and r["version"] == k[1]
            }
        changes = self._diff(self._snapshots, snapshots, tenants) if notify else []
        self._snapshots = snapshots
        for listener in self._listeners if changes else ():
            try:
                listener(changes)
            except Exception:
                log.exception("a catalog listener failed")

    @staticmethod
    def _diff(
        before: dict[CatalogKey, Snapshot], after: dict[CatalogKey, Snapshot], tenants: set[str]
    ) -> list[CatalogChange]:
        changes = []
        keys = {k for k in (*before, *after) if k[0] in tenants}
        for key in keys:
            old, new = before.get(key), after.get(key)
            kinds = frozenset(
                kind
                for kind in LIST_KINDS
                if (old.digests.get(kind) if old else None) != (new.digests.get(kind) if new else None)
            )
            if kinds:
                changes.append(CatalogChange(key[0], key[1], kinds))
        return changes
