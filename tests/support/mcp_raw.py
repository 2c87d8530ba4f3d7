"""MCP over plain HTTP (no SDK), for tests that look at exact answers: legacy sessions and 2026-07-28 calls."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["LEGACY", "MODERN", "legacy_rpc", "modern_rpc", "open_legacy_session", "result_of"]

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
NAME_FIELDS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
CLIENT_INFO = {"name": "isolation-test", "version": "1"}


def _headers(token: str | None, **extra: str) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return {"Accept": ACCEPT, "Content-Type": "application/json", **auth, **extra}


def open_legacy_session(http: httpx.Client, path: str, token: str | None) -> httpx.Response:
    """``initialize`` on ``path``; the answer carries ``Mcp-Session-Id`` when it succeeded."""
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": CLIENT_INFO}
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    return http.post(path, json=body, headers=_headers(token))


def legacy_rpc(
    http: httpx.Client, path: str, token: str | None, session_id: str, method: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    headers = _headers(token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": LEGACY})
    return http.post(path, json=body, headers=headers)


def modern_rpc(
    http: httpx.Client, path: str, token: str | None, method: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    """A stateless 2026-07-28 request with its ``_meta`` envelope and the headers the era requires."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    }
    params = {**(params or {}), "_meta": meta}
    extra = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if method in NAME_FIELDS:
        extra["Mcp-Name"] = str(params.get(NAME_FIELDS[method]))
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return http.post(path, json=body, headers=_headers(token, **extra))


def result_of(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON-RPC result, or None for an error (or a refused request)."""
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith("application/json"):
        return None
    body = response.json()
    return body.get("result") if isinstance(body, dict) else None
