"""Forwards calls on discovered items to their upstream, mapping exposed names back to original ones."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from application.errors import ToolCallError
from application.ports import SecretCipher
from application.secrets import unseal
from infrastructure.upstream.mcp_client import UpstreamPool
from projections.hot_catalog import HotCatalogs

__all__ = ["UpstreamForwarder"]

PROTOCOL_META_PREFIX = "io.modelcontextprotocol/"
NOT_CONNECTION_SETTINGS = frozenset({"health", "items", "description", "tags"})


class UpstreamForwarder:
    def __init__(self, hot: HotCatalogs, pool: UpstreamPool, cipher: SecretCipher) -> None:
        self.hot = hot
        self.pool = pool
        self.cipher = cipher
        self._specs: dict[tuple[str, int], tuple[dict[str, Any], int]] = {}

    def _spec(self, tenant_id: str, row: dict[str, Any]) -> tuple[dict[str, Any], int, str]:
        source = row["doc"]["source"]
        upstream = self.hot.row(source["upstream_id"])
        if upstream is None or upstream["deleted"] or upstream["tenant_id"] != tenant_id:
            raise ToolCallError("the upstream of this item is gone")
        if not upstream["enabled"]:
            raise ToolCallError(f"upstream {upstream['name']} is disabled")
        key = (upstream["id"], upstream["version"])
        cached = self._specs.get(key)
        if cached is None:
            if len(self._specs) > 1000:
                self._specs.clear()
            settings = {k: v for k, v in upstream["doc"].items() if k not in NOT_CONNECTION_SETTINGS}
            spec = {"id": upstream["id"], **unseal(settings, tenant_id, self.cipher)}
            # Connections are keyed by the settings they were made with, not by the upstream's version:
            # a health transition or a refresh must not drop the sessions of stateful upstreams.
            fingerprint = int.from_bytes(hashlib.sha256(msgspec.json.encode(settings, order="sorted")).digest()[:8])
            cached = self._specs[key] = (spec, fingerprint)
        return cached[0], cached[1], source["original"]

    async def call_tool(
        self,
        tenant_id: str,
        row: dict[str, Any],
        arguments: dict[str, Any],
        meta: dict[str, Any] | None,
        client: str = "",
        progress: Any = None,
    ) -> dict[str, Any]:
        """``client``: the downstream session (or token) that per_client upstreams keep a session for.
        ``progress``: relays the upstream's progress; the SDK then sends its own progress token upstream."""
        spec, version, original = self._spec(tenant_id, row)
        dropped = ("progressToken",) if progress is not None else ()
        forwarded = {
            k: v for k, v in (meta or {}).items() if not k.startswith(PROTOCOL_META_PREFIX) and k not in dropped
        } or None
        hints = row["doc"].get("annotations") or {}
        retry = bool(hints.get("idempotentHint") or hints.get("readOnlyHint"))
        return await self.pool.call_tool(spec, version, original, arguments, forwarded, client, retry, progress)

    async def read_resource(self, tenant_id: str, row: dict[str, Any]) -> dict[str, Any]:
        spec, version, original = self._spec(tenant_id, row)
        return await self.pool.read_resource(spec, version, original)

    async def get_prompt(self, tenant_id: str, row: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
        spec, version, original = self._spec(tenant_id, row)
        return await self.pool.get_prompt(spec, version, original, {k: str(v) for k, v in arguments.items()})
