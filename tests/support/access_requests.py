"""The concrete request of each probe: path parameters, query, body and headers for a route and variant.

Path parameters are filled by name (``{tenant}``, ``{item_id}`` after ``tools``/``upstreams``/...,
``{token_id}``, ``{server_id}``). A write that may succeed gets an item made for it, so the stable items
of both tenants never change; B's are checked unchanged at the end.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tests.support.access_probes import WRITES, Access, Answer, Probe, Variant, expected_outcome, fetch
from tests.support.tenant_world import TenantData, World, item_body, unique, upstream_body

__all__ = [
    "MCP_HEADERS",
    "SseSession",
    "build_probe",
    "initialize_body",
    "open_sse_session",
    "post_message",
    "variants",
]

ACCEPT_BOTH = "application/json, text/event-stream"
MCP_HEADERS = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"}
SEGMENT_KIND = {
    "tools": "tool",
    "resources": "resource",
    "prompts": "prompt",
    "servers": "server",
    "upstreams": "upstream",
    "tokens": "token",
}
PARAM = re.compile(r"\{(\w+)\}")


def initialize_body(request_id: int = 0) -> dict[str, Any]:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "matrix", "version": "1"}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}


def variants(route: str, access: Access, method: str) -> list[Variant]:
    """The variants that make sense for a route: B's path only where a tenant is named, B's ids only where
    an id is (or a body that can name B's items)."""
    params = set(PARAM.findall(route))
    found: list[Variant] = ["own"]
    if access.scope == "tenant-query":
        found += ["own-explicit", "other-tenant"]
        if route in ("/v1/audit", "/v1/audit/catalog", "/v1/audit/diff"):
            found.append("other-ids")
    elif "tenant" in params:
        found.append("other-tenant")
    if params & {"item_id", "token_id", "server_id"}:
        found.append("other-ids")
    if (method, route) in FOREIGN_REFS:
        found.append("foreign-refs")
    return found


def _item_kind(route: str, param: str) -> str:
    if param == "token_id":
        return "token"
    if param == "server_id":
        return "server"
    segments = route.split("/")
    return SEGMENT_KIND[segments[segments.index("{" + param + "}") - 1]]


def caller_token(world: World, caller: str) -> str | None:
    if caller == "anonymous":
        return None
    if caller == "scoped":
        return world.scoped_token
    return world.a.tokens[caller]


def fill_path(world: World, route: str, access: Access, caller: str, variant: Variant, write_target: bool) -> str:
    """The route with its parameters filled for ``variant``; ``write_target``: fresh targets (a write that may
    succeed, or one that must be refused and would change A's fixtures if it were not)."""
    owner: TenantData = world.b if variant == "other-tenant" else world.a
    tenant = owner.name
    if access.scope == "platform" and "{tenant}" in route and caller == "platform-admin":
        tenant = world.fresh_tenant()  # a platform admin's tenant change must not touch A or B
    values: dict[str, str] = {}
    for param in PARAM.findall(route):
        if param == "tenant":
            values[param] = tenant
            continue
        if param not in ("item_id", "token_id", "server_id"):  # e.g. /docs/{path}: any value
            values[param] = "nothing-here"
            continue
        kind = _item_kind(route, param)
        if variant == "other-ids":
            values[param] = world.b.ids[kind] if kind != "token" else world.b.token_ids["client"]
        elif write_target and access.scope != "mcp":
            values[param] = world.fresh(kind, tenant)
        else:
            values[param] = owner.ids[kind] if kind != "token" else owner.token_ids["client"]
    return PARAM.sub(lambda m: values[m.group(1)], route)


#: Routes whose body can name items (so a body naming B's items is a variant), and how.
FOREIGN_REFS = {
    ("POST", "/v1/tenants/{tenant}/servers"),
    ("PATCH", "/v1/tenants/{tenant}/servers/{item_id}"),
    ("POST", "/v1/tenants/{tenant}/tokens"),
}


def body_for(world: World, method: str, route: str, tenant: str, variant: Variant) -> Any:
    """A valid body for a write (so that an allowed call succeeds), or None."""
    b = world.b
    if variant == "foreign-refs":
        if route.endswith("/tokens"):
            return {"name": unique("ref", "token"), "role": "client", "server_ids": [b.ids["server"]]}
        refs = {"tool_ids": [b.ids["tool"]], "resource_ids": [b.ids["resource"]], "prompt_ids": [b.ids["prompt"]]}
        refs["upstream_ids"] = [b.ids["upstream"]]
        return item_body("server", tenant, world.echo_url, **refs) if method == "POST" else refs
    if method == "POST" and route == "/v1/tenants":
        return {"name": unique("new", "t").replace("_", "-")}
    if method == "POST" and route.endswith("/tokens"):
        return {"name": unique(tenant, "token"), "role": "client"}
    if method == "POST" and route.endswith("/upstreams"):
        return upstream_body(tenant, world.upstream_url)
    last = route.rsplit("/", 1)[-1]
    if method == "POST" and last in SEGMENT_KIND:
        return item_body(SEGMENT_KIND[last], tenant, world.echo_url)
    if method == "PATCH":
        return {"display_name": "changed"} if route == "/v1/tenants/{tenant}" else {"description": "changed"}
    if last == "revert":
        return {"version": 1}
    return None


def query_for(world: World, route: str, access: Access, variant: Variant) -> dict[str, str]:
    query: dict[str, str] = {}
    if access.scope == "tenant-query":
        if variant in ("own-explicit", "other-ids"):
            query["tenant"] = world.a.name
        elif variant == "other-tenant":
            query["tenant"] = world.b.name
    if route == "/v1/audit/catalog":
        query["at"] = str(world.head)
    if route == "/v1/audit/diff":
        query.update({"from": "0", "to": str(world.head)})
    if variant == "other-ids":
        if route == "/v1/audit":
            query["entity"] = world.b.ids["tool"]
        elif route in ("/v1/audit/catalog", "/v1/audit/diff"):
            query["server"] = world.b.ids["server"]
    elif route in ("/v1/audit/catalog", "/v1/audit/diff") and variant != "other-tenant":
        query["server"] = world.a.ids["server"]
    if route == "/v1/events/import":
        query["dry_run"] = "true"
    return query


def build_probe(world: World, method: str, route: str, access: Access, caller: str, variant: Variant) -> Probe:
    write = method in WRITES
    expect = expected_outcome(access, caller, variant, write, route)
    token = caller_token(world, caller)
    if access.scope == "mcp":
        return _mcp_probe(world, method, route, caller, variant, expect, token)
    may_succeed = expect in ("allowed", "unchecked")
    path = fill_path(world, route, access, caller, variant, write and (may_succeed or caller == "scoped"))
    tenant = world.b.name if variant == "other-tenant" else world.a.name
    if route.endswith("/revert") and method == "POST" and may_succeed:  # give the item a version to go back from
        world.write("PATCH", path.removesuffix("/revert"), {"description": "before the revert"})
    body = body_for(world, method, route, tenant, variant)
    query = query_for(world, route, access, variant)
    # a platform admin reads every tenant: its answers on B's paths and unscoped feeds are not leaks
    sees_all = caller == "platform-admin" and variant in ("own", "other-tenant")

    async def send(client: httpx.AsyncClient) -> tuple[Answer, str]:
        content = b"" if route == "/v1/events/import" else body
        headers = {"Content-Type": "application/x-ndjson"} if route == "/v1/events/import" else None
        return await fetch(client, method, path, token, query, content, headers)

    return Probe(method, route, caller, variant, expect, send, check_leak=not sees_all, strict_ok=not access.past_auth)


# -- MCP -------------------------------------------------------------------------------------------------


async def open_session(client: httpx.AsyncClient, path: str, token: str | None) -> str | None:
    response = await client.post(
        path, json=initialize_body(), headers={**MCP_HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}
    )
    return response.headers.get("mcp-session-id") if response.status_code == 200 else None


class SseSession:
    """A legacy HTTP+SSE stream held open: its session id ('' if refused) and what it sends next."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.id = ""
        self._chunks = response.aiter_bytes()  # held: an abandoned iterator is closed, and the stream with it
        self._buffer = b""

    async def next_event(self, timeout_s: float = 10.0) -> bytes:
        """The next complete SSE event's data."""
        async with asyncio.timeout(timeout_s):
            while b"\n\n" not in self._buffer:
                self._buffer += await anext(self._chunks)
        event, _, self._buffer = self._buffer.partition(b"\n\n")
        return b"".join(line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:"))

    async def close(self) -> None:
        await self.response.aclose()


async def open_sse_session(client: httpx.AsyncClient, path: str, token: str | None) -> SseSession:
    """Open a legacy HTTP+SSE stream and read its endpoint event."""
    headers = {"Accept": "text/event-stream", **({"Authorization": f"Bearer {token}"} if token else {})}
    stream = SseSession(await client.send(client.build_request("GET", path, headers=headers), stream=True))
    if stream.response.status_code == 200:
        found = re.search(rb"session_id=([0-9a-f]+)", await stream.next_event())
        stream.id = found.group(1).decode() if found else ""
    return stream


async def post_message(
    client: httpx.AsyncClient, stream: SseSession, path: str, token: str | None, body: Any, session_id: str = ""
) -> tuple[Answer, str]:
    """POST to a legacy message endpoint; its JSON-RPC answer travels on the stream, and is read from there."""
    query = {"session_id": session_id or stream.id or "0" * 32}
    answer, sent = await fetch(client, "POST", path, token, query, body, MCP_HEADERS)
    if answer.status == 202 and stream.id:
        message = await stream.next_event()
        answer.body, answer.rpc_error = message, b'"error"' in message and b'"result"' not in message
    return answer, sent


def _mcp_probe(
    world: World, method: str, route: str, caller: str, variant: Variant, expect: Any, token: str | None
) -> Probe:
    a_server, b_server = world.a.ids["server"], world.b.ids["server"]
    path = route.replace("{server_id}", b_server if variant == "other-ids" else a_server)
    # where this caller can open a session of its own: the tenant endpoint, or its server for the scoped token
    own_base = f"/servers/{a_server}" if caller == "scoped" or "{server_id}" in route else ""
    kind = route.rsplit("/", 1)[-1]

    async def send(client: httpx.AsyncClient) -> tuple[Answer, str]:
        if kind == "mcp" and method == "POST":
            return await fetch(client, method, path, token, body=initialize_body(), headers=MCP_HEADERS)
        if kind == "mcp":  # GET and DELETE name a session: the caller's own
            session = await open_session(client, own_base + "/mcp", token)
            headers = {"Accept": "text/event-stream", **({"Mcp-Session-Id": session} if session else {})}
            return await fetch(client, method, path, token, headers=headers)
        if kind == "sse":
            return await fetch(client, method, path, token, headers={"Accept": "text/event-stream"})
        stream = await open_sse_session(client, own_base + "/sse", token)
        try:
            return await post_message(client, stream, path, token, initialize_body())
        finally:
            await stream.close()

    return Probe(method, route, caller, variant, expect, send)
