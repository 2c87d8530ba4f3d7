"""Plain-HTTP MCP and REST helpers for tests that drive a gateway process request by request."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

__all__ = [
    "ACCEPT",
    "initialize",
    "legacy",
    "modern",
    "new_tenant",
    "wait_until",
]

ACCEPT = "application/json, text/event-stream"
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
T = TypeVar("T")


def _headers(token: str, session: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT, "Content-Type": "application/json", **extra}
    if session is not None:
        headers |= {"Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY}
    return headers


def initialize(http: httpx.Client, url: str, token: str, path: str = "/mcp") -> httpx.Response:
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    return http.post(url + path, json=body, headers=_headers(token))


def legacy(
    http: httpx.Client,
    url: str,
    token: str,
    session: str,
    method: str,
    params: dict[str, Any] | None = None,
    path: str = "/mcp",
) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    return http.post(url + path, json=body, headers=_headers(token, session))


def modern(
    http: httpx.Client, url: str, token: str, method: str, params: dict[str, Any] | None = None, name: str = ""
) -> httpx.Response:
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**(params or {}), "_meta": meta}}
    extra = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method} | ({"Mcp-Name": name} if name else {})
    return http.post(url + "/mcp", json=body, headers=_headers(token, **extra))


def new_tenant(http: httpx.Client, url: str, admin: str, tokens: int = 1) -> tuple[str, list[str]]:
    """A tenant with a unique name and ``tokens`` client tokens, usable on MCP (the caller waits for that)."""
    slug = f"t-{secrets.token_hex(4)}"
    auth = {"Authorization": f"Bearer {admin}"}
    created = http.post(url + "/v1/tenants", json={"name": slug}, headers=auth)
    assert created.status_code == 201, created.text
    issued = []
    for i in range(tokens):
        answer = http.post(url + f"/v1/tenants/{slug}/tokens", json={"name": f"c{i}", "role": "client"}, headers=auth)
        assert answer.status_code == 201, answer.text
        issued.append(answer.json()["token"])
    return slug, issued


def wait_until(check: Callable[[], T | None], what: str, timeout_s: float = 15.0) -> T:
    """Poll ``check`` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
