"""The playground's calls go through the gateway's own MCP handling (``McpGateway.handle_post``, the code
behind ``POST /mcp``) as stateless 2026-07-28 requests of the signed-in token: the same lookups,
argument validation, rate limits, upstream forwarding and metrics as any MCP client gets. What comes
back is shaped for the page: text, structured content, images (only raster data URLs, escaped),
embedded resources, and JSON-RPC errors with their code."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from litestar import Request

from ledgergate.api.mcp.modern_rules import META_CAPABILITIES, META_VERSION
from ledgergate.api.mcp.params import META_CLIENT_INFO
from ledgergate.api.mcp.protocol import MODERN_VERSIONS
from ledgergate.api.mcp.replies import EventsReply, Reply
from ledgergate.api.ui.access import UiUser

__all__ = ["call_mcp", "shown_result"]

VERSION = MODERN_VERSIONS[-1]
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def _header(text: str) -> str:
    """Names go in the Mcp-Name header base64-encoded, so any name (non-ASCII too) survives."""
    return "=?base64?" + base64.b64encode(text.encode()).decode() + "?="


async def call_mcp(
    request: Request[Any, Any, Any], user: UiUser, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    """One JSON-RPC request on the tenant-wide endpoint as ``user``'s token; its response message."""
    meta = {
        META_VERSION: VERSION,
        META_CAPABILITIES: {},
        META_CLIENT_INFO: {"name": "ledgergate-admin", "version": "1"},
    }
    message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": VERSION,
        "mcp-method": method,
    }
    named = params.get(NAMED.get(method, ""))
    if isinstance(named, str):
        headers["mcp-name"] = _header(named)
    gateway = request.app.state.mcp.gateway
    reply = await gateway.handle_post(
        json.dumps(message).encode(), headers, user.principal.tenant_id, None, user.principal.token_id
    )
    body = b""
    if isinstance(reply, Reply):
        body = reply.body
    elif isinstance(reply, EventsReply):  # a call that streamed notifications first: its response is last
        async for chunk in reply.messages:
            body = chunk
    answer = json.loads(body) if body else {}
    return answer if isinstance(answer, dict) else {"error": {"code": 0, "message": "no response"}}


def _image(mime: Any, data: Any) -> str | None:
    """A data URL for a raster image whose data is base64, or None (shown as text instead)."""
    if mime not in IMAGE_TYPES or not isinstance(data, str) or not _BASE64.match(data):
        return None
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return f"data:{mime};base64,{data}"


def _part(item: Any) -> dict[str, Any]:
    """One content item or resource content as the page shows it: kind, text, image URL, JSON."""
    if not isinstance(item, dict):
        return {"kind": "json", "value": item}
    kind = item.get("type")
    if kind == "text" or (kind is None and isinstance(item.get("text"), str)):
        return {"kind": "text", "text": str(item.get("text")), "uri": item.get("uri"), "mime": item.get("mimeType")}
    if kind == "image" or (kind is None and "blob" in item):
        url = _image(item.get("mimeType"), item.get("data", item.get("blob")))
        if url is not None:
            return {"kind": "image", "url": url, "mime": item.get("mimeType"), "uri": item.get("uri")}
    if kind == "resource" and isinstance(item.get("resource"), dict):
        return {**_part(item["resource"]), "embedded": True}
    return {"kind": "json", "value": item}


def shown_result(answer: dict[str, Any]) -> dict[str, Any]:
    """A JSON-RPC response as the result panel shows it."""
    error = answer.get("error")
    if isinstance(error, dict):
        return {"error": error, "parts": [], "structured": None, "is_error": True, "raw": answer}
    result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
    items = result.get("content") or result.get("contents") or []
    messages = result.get("messages") or []
    parts = [_part(item) for item in items] if isinstance(items, list) else []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        parts.append({**_part(content), "role": message.get("role") if isinstance(message, dict) else None})
    return {
        "error": None,
        "parts": parts,
        "structured": result.get("structuredContent"),
        "is_error": bool(result.get("isError")),
        "description": result.get("description"),
        "raw": answer,
    }
