"""Two tenants built over REST on a running gateway, for isolation tests.

Each tenant gets a REST tool (calling a loopback echo service), a resource, a prompt, a prompt with a
name both tenants share, a virtual server holding them, an upstream (a real MCP server), and a token of
every role. Everything a tenant owns is named after it, so its names and ids can be searched for in
answers given to the other tenant.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.mcp_raw import modern_rpc, result_of

__all__ = ["ROLES", "TenantData", "World", "build_world"]

ROLES = ("client", "viewer", "editor", "admin", "platform-admin")
_serial = itertools.count(1)


@dataclass
class TenantData:
    """What one tenant holds: ``ids[kind]`` of its stable items, ``tokens[role]`` and ``token_ids[role]``."""

    name: str
    ids: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)
    secret_text: str = ""

    def markers(self) -> set[str]:
        """Strings that only this tenant's data contains (its name, item names and ids, a resource's text)."""
        found = {self.name, self.secret_text, *self.ids.values(), *self.names.values(), *self.token_ids.values()}
        return {m for m in found if m}


@dataclass
class World:
    """Tenants A and B on one gateway, the platform admin's bootstrap token, and the services they call."""

    http: httpx.Client
    bootstrap_token: str
    echo_url: str
    upstream_url: str
    a: TenantData
    b: TenantData
    scoped_token: str = ""  # an editor of A limited to A's virtual server (server_ids)
    scoped_token_id: str = ""
    head: int = 0  # the log's position once both tenants were built

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.bootstrap_token}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def write(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """A write by the platform admin that must succeed."""
        response = self.call(method, path, json=body)
        assert response.status_code in (200, 201), (method, path, response.status_code, response.text)
        return response.json()  # type: ignore[no-any-return]

    def wait_position(self, tenant: str, position: int) -> None:
        """Until the gateway's catalog has reached ``position``."""
        response = self.call("GET", f"/v1/tenants/{tenant}/tools?limit=1&min_position={position}")
        assert response.status_code == 200, response.text

    # -- items made on demand (a write that may succeed gets its own target) -----------------------

    def fresh(self, kind: str, tenant: str) -> str:
        """A new item of ``kind`` in ``tenant``, belonging to no virtual server; its id."""
        if kind == "token":
            body = {"name": f"spare-{next(_serial)}", "role": "client"}
            return str(self.write("POST", f"/v1/tenants/{tenant}/tokens", body)["id"])
        path = {"tool": "tools", "resource": "resources", "prompt": "prompts", "server": "servers"}.get(kind)
        if path is not None:
            return str(self.write("POST", f"/v1/tenants/{tenant}/{path}", item_body(kind, tenant, self.echo_url))["id"])
        if kind == "upstream":
            body = upstream_body(tenant, self.upstream_url)
            return str(self.write("POST", f"/v1/tenants/{tenant}/upstreams", body)["id"])
        raise AssertionError(f"no way to make a {kind}")

    def fresh_tenant(self) -> str:
        """A new tenant's name (tenants are addressed by name)."""
        name = f"spare-{next(_serial)}"
        self.write("POST", "/v1/tenants", {"name": name})
        return name


def unique(tenant: str, what: str) -> str:
    return f"{tenant}_{what}_{next(_serial)}"


def item_body(kind: str, tenant: str, echo_url: str, **fields: Any) -> dict[str, Any]:
    """A valid create body of a catalog item of ``tenant``, with a fresh name."""
    if kind == "tool":
        return {
            "name": unique(tenant, "tool"),
            "description": f"a tool of {tenant}",
            "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
            "integration": {"method": "POST", "url": f"{echo_url}/{tenant}", "body": ["text"]},
            **fields,
        }
    if kind == "resource":
        name = unique(tenant, "resource")
        return {"uri": f"{tenant}://{name}", "name": name, "text": f"text of {tenant}", **fields}
    if kind == "prompt":
        return {
            "name": unique(tenant, "prompt"),
            "template": f"{tenant} says {{{{ topic }}}}",
            "arguments": [{"name": "topic", "required": True}],
            **fields,
        }
    if kind == "server":
        return {"name": unique(tenant, "server").replace("_", "-"), **fields}  # a slug
    raise AssertionError(f"no body for a {kind}")


def upstream_body(tenant: str, url: str) -> dict[str, Any]:
    return {"name": f"{tenant}-up-{next(_serial)}", "transport": "streamable_http", "url": url}


def _populate(world: World, data: TenantData) -> None:
    tenant = data.name
    world.write("POST", "/v1/tenants", {"name": tenant, "display_name": f"{tenant} display name"})
    for kind in ("tool", "resource", "prompt"):
        body = item_body(kind, tenant, world.echo_url)
        if kind == "resource":
            body["text"] = data.secret_text
        data.ids[kind] = world.write("POST", f"/v1/tenants/{tenant}/{kind}s", body)["id"]
        data.names[kind] = body["name"]
    shared = {"name": "shared_prompt", "template": f"the {tenant} version of {{{{ topic }}}}"}
    data.ids["shared_prompt"] = world.write("POST", f"/v1/tenants/{tenant}/prompts", shared)["id"]
    upstream = upstream_body(tenant, world.upstream_url)
    data.ids["upstream"] = world.write("POST", f"/v1/tenants/{tenant}/upstreams", upstream)["id"]
    data.names["upstream"] = upstream["name"]
    members = {"tool_ids": [data.ids["tool"]], "resource_ids": [data.ids["resource"]]}
    server = item_body("server", tenant, world.echo_url, prompt_ids=[data.ids["prompt"]], **members)
    data.ids["server"] = world.write("POST", f"/v1/tenants/{tenant}/servers", server)["id"]
    data.names["server"] = server["name"]
    for role in ROLES:
        issued = world.write("POST", f"/v1/tenants/{tenant}/tokens", {"name": f"{tenant}-{role}", "role": role})
        data.tokens[role], data.token_ids[role] = issued["token"], issued["id"]
    world.wait_position(tenant, issued["position"])


def _use(world: World, data: TenantData) -> None:
    """The tenant's client uses its catalog over MCP (so whatever traces use leaves exist too)."""
    token = data.tokens["client"]

    def listed() -> bool:
        tools = result_of(modern_rpc(world.http, "/mcp", token, "tools/list"))
        return tools is not None and data.names["tool"] in {tool["name"] for tool in tools["tools"]}

    wait_until(listed, f"{data.name}'s tools on /mcp")
    calls: list[tuple[str, dict[str, Any]]] = [
        ("tools/call", {"name": data.names["tool"], "arguments": {"text": "hello"}}),
        ("prompts/get", {"name": data.names["prompt"], "arguments": {"topic": "isolation"}}),
        ("resources/read", {"uri": f"{data.name}://{data.names['resource']}"}),
    ]
    for method, params in calls:
        answer = result_of(modern_rpc(world.http, "/mcp", token, method, params))
        assert answer is not None and not answer.get("isError"), (method, answer)


def build_world(http: httpx.Client, bootstrap_token: str, echo_url: str, upstream_url: str) -> World:
    """Tenants ``acme`` (A) and ``globex`` (B), each fully populated, and A's server-scoped editor token."""
    world = World(
        http=http,
        bootstrap_token=bootstrap_token,
        echo_url=echo_url,
        upstream_url=upstream_url,
        a=TenantData("acme", secret_text="acme-handbook-text"),
        b=TenantData("globex", secret_text="globex-confidential-plan"),
    )
    _populate(world, world.a)
    _populate(world, world.b)
    _use(world, world.a)
    _use(world, world.b)
    scoped = {"name": "acme-scoped-editor", "role": "editor", "server_ids": [world.a.ids["server"]]}
    issued = world.write("POST", "/v1/tenants/acme/tokens", scoped)
    world.scoped_token, world.scoped_token_id = issued["token"], issued["id"]
    world.head = issued["position"]
    world.wait_position("acme", world.head)
    return world


def wait_until(condition: Any, what: str, timeout_s: float = 20.0) -> Any:
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
