"""Rules of the 2026-07-28 (modern) era that need no state: request headers, ``subscriptions/listen``."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import msgspec

from ledgergate.api.mcp.param_headers import declarations, rendered
from ledgergate.api.mcp.replies import StreamReply
from ledgergate.projections.hot_catalog import Snapshot

__all__ = [
    "META_CAPABILITIES",
    "META_VERSION",
    "decode_header",
    "header_mismatch",
    "listen_reply",
    "param_mismatch",
]

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
NAMED_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
_B64_HEADER = re.compile(r"^=\?base64\?([A-Za-z0-9+/=]*)\?=$")


def decode_header(value: str | None) -> str | None:
    if value is None:
        return None
    match = _B64_HEADER.match(value.strip())
    if match is None:
        return value.strip()
    try:
        return base64.b64decode(match.group(1), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def header_mismatch(message: dict[str, Any], headers: dict[str, str], version: str) -> str | None:
    if headers.get("mcp-protocol-version") != version:
        return "MCP-Protocol-Version header must equal the _meta protocol version"
    method = message.get("method")
    if decode_header(headers.get("mcp-method")) != method:
        return "Mcp-Method header must equal the method"
    name_field = NAMED_METHODS.get(str(method))
    if name_field is not None:
        named = (message.get("params") or {}).get(name_field)
        if named is not None and decode_header(headers.get("mcp-name")) != named:  # no name: -32602 later
            return f"Mcp-Name header must equal params.{name_field}"
    return None


def param_mismatch(schema: Any, arguments: Any, headers: dict[str, str]) -> str | None:
    """SEP-2243: each argument of a ``tools/call`` whose input property is marked ``x-mcp-header`` must be
    mirrored in ``Mcp-Param-{Name}``, equal once decoded; a missing, undecodable or different header is a
    mismatch (``-32020``, HTTP 400). The gateway checks it as the server its client talks to."""
    if not isinstance(arguments, dict):
        return None
    for key, name in declarations(schema).items():
        value = arguments.get(key)
        if value is None:
            continue
        header = headers.get(f"mcp-param-{name.lower()}")
        if header is None:
            return f"Mcp-Param-{name} header is missing for arguments.{key}"
        if decode_header(header) != rendered(value):
            return f"Mcp-Param-{name} header must equal arguments.{key}"
    return None


def listen_reply(request_id: Any, params: dict[str, Any], snapshot: Snapshot) -> StreamReply:
    wanted: dict[str, Any] = params["notifications"] if isinstance(params.get("notifications"), dict) else {}
    kinds = frozenset(
        kind
        for kind, flag in (
            ("tools", "toolsListChanged"),
            ("prompts", "promptsListChanged"),
            ("resources", "resourcesListChanged"),
        )
        if wanted.get(flag)
    )
    agreed: dict[str, Any] = {
        flag: True
        for kind, flag in (
            ("tools", "toolsListChanged"),
            ("prompts", "promptsListChanged"),
            ("resources", "resourcesListChanged"),
        )
        if kind in kinds
    }
    uris = wanted.get("resourceSubscriptions")
    rows = (
        [snapshot.resources[u] for u in uris if isinstance(u, str) and u in snapshot.resources]
        if isinstance(uris, list)
        else []
    )
    if rows:
        agreed["resourceSubscriptions"] = [row["doc"]["uri"] for row in rows]
    first = msgspec.json.encode(
        {
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": {"notifications": agreed, "_meta": {"io.modelcontextprotocol/subscriptionId": request_id}},
        }
    )
    return StreamReply(snapshot=snapshot, kinds=kinds, first=first, subscription_id=request_id, resources=rows)
