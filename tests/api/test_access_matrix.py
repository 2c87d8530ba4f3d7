"""Tenant isolation and roles, for every route of the app's own route table.

``ACCESS`` declares, for each (method, route) of ``create_app``, who may call it. Every route is then
called by every role of tenant A (and without a token, and by A's server-scoped token) on A's paths
with A's ids, on B's paths with B's ids, with B's ids under A's paths, and with bodies naming B's
items; each answer is checked against the declaration and searched for B's names and ids. A route
the app has and ``ACCESS`` lacks fails the first test, naming it: declare it, and it is covered.
MCP endpoints get the same treatment, plus checks of what each token's catalog holds and that B's
sessions are useless to A's tokens, in both protocol eras.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from ledgergate.api.app import create_app
from tests.api.conftest import start_server
from tests.conftest import POSTGRES_URL, _unavailable, make_settings, postgres_conninfo
from tests.support.access_probes import WRITES, Access, Probe, Tally, Variant, fetch, judge
from tests.support.access_requests import (
    MCP_HEADERS,
    build_probe,
    initialize_body,
    open_sse_session,
    post_message,
    variants,
)
from tests.support.echo import echo_service
from tests.support.mcp_raw import legacy_rpc, modern_rpc, open_legacy_session, result_of
from tests.support.processes import serving
from tests.support.suite_counts import report_count
from tests.support.tenant_world import ROLES, World, build_world

pytestmark = pytest.mark.slow

PUBLIC = Access("public")
PLATFORM = Access("platform")
MCP = Access("mcp")


def tenant(min_role: str) -> Access:
    return Access("tenant", min_role)


def tenant_query(min_role: str) -> Access:
    return Access("tenant-query", min_role)


# -- Who may call each route ------------------------------------------------------------------------------
# Roles rank client < viewer < editor < admin < platform-admin. "tenant": the path names the tenant;
# "tenant-query": ?tenant= names it (default: the caller's); "mcp": the token's tenant decides.
ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/version"): PUBLIC,
    ("GET", "/metrics"): PLATFORM,  # its series name every tenant's tools
    ("POST", "/v1/tenants"): PLATFORM,
    ("GET", "/v1/tenants"): PLATFORM,
    ("GET", "/v1/tenants/{tenant}"): tenant("viewer"),
    ("PATCH", "/v1/tenants/{tenant}"): PLATFORM,
    ("DELETE", "/v1/tenants/{tenant}"): PLATFORM,
    ("POST", "/v1/tenants/{tenant}/enable"): PLATFORM,
    ("POST", "/v1/tenants/{tenant}/disable"): PLATFORM,
    ("POST", "/v1/tenants/{tenant}/tokens"): tenant("admin"),
    ("GET", "/v1/tenants/{tenant}/tokens"): tenant("admin"),
    ("GET", "/v1/tenants/{tenant}/tokens/{token_id}"): tenant("admin"),
    ("DELETE", "/v1/tenants/{tenant}/tokens/{token_id}"): tenant("admin"),
    ("POST", "/v1/tenants/{tenant}/upstreams"): tenant("admin"),
    ("GET", "/v1/tenants/{tenant}/upstreams"): tenant("viewer"),
    ("GET", "/v1/tenants/{tenant}/upstreams/{item_id}"): tenant("viewer"),
    ("PATCH", "/v1/tenants/{tenant}/upstreams/{item_id}"): tenant("admin"),
    ("DELETE", "/v1/tenants/{tenant}/upstreams/{item_id}"): tenant("admin"),
    ("POST", "/v1/tenants/{tenant}/upstreams/{item_id}/refresh"): tenant("editor"),
    ("POST", "/v1/tenants/{tenant}/upstreams/{item_id}/enable"): tenant("admin"),
    ("POST", "/v1/tenants/{tenant}/upstreams/{item_id}/disable"): tenant("admin"),
    ("GET", "/v1/audit"): tenant_query("viewer"),
    ("GET", "/v1/audit/catalog"): tenant_query("viewer"),
    ("GET", "/v1/audit/diff"): tenant_query("viewer"),
    ("GET", "/v1/events"): tenant_query("viewer"),
    ("GET", "/v1/events/stream"): tenant_query("viewer"),
    ("GET", "/v1/events/export"): tenant_query("admin"),
    ("POST", "/v1/events/import"): Access("platform", past_auth=True),  # its body is an export file
    **{
        (method, f"{prefix}{path}"): MCP
        for prefix in ("", "/servers/{server_id}")
        for method, path in (
            ("POST", "/mcp"),
            ("GET", "/mcp"),
            ("DELETE", "/mcp"),
            ("GET", "/sse"),
            ("POST", "/message"),
        )
    },
    ("GET", "/.well-known/oauth-protected-resource"): PUBLIC,
    ("GET", "/.well-known/oauth-protected-resource/mcp"): PUBLIC,
    ("GET", "/.well-known/oauth-protected-resource/servers/{server_id}/mcp"): PUBLIC,
    ("GET", "/.well-known/ledgergate-signing-key"): PUBLIC,
    **{
        ("GET", f"/docs{page}"): PUBLIC
        for page in ("", "/openapi.json", "/openapi.yaml", "/openapi.yml", "/swagger", "/redoc")
    },
    ("GET", "/docs/assets/{file_path}"): Access("public", past_auth=True),  # the pages' pinned scripts
    ("HEAD", "/docs/assets/{file_path}"): Access("public", past_auth=True),
    ("GET", "/docs/oauth2-redirect.html"): PUBLIC,
    ("GET", "/docs/{path}"): Access("public", past_auth=True),  # any other page: 404
}
for _kind in ("tools", "resources", "prompts", "servers"):
    _base = f"/v1/tenants/{{tenant}}/{_kind}"
    ACCESS.update(
        {
            ("POST", _base): tenant("editor"),
            ("GET", _base): tenant("viewer"),
            ("GET", f"{_base}/{{item_id}}"): tenant("viewer"),
            ("PATCH", f"{_base}/{{item_id}}"): tenant("editor"),
            ("DELETE", f"{_base}/{{item_id}}"): tenant("editor"),
            ("POST", f"{_base}/{{item_id}}/enable"): tenant("editor"),
            ("POST", f"{_base}/{{item_id}}/disable"): tenant("editor"),
            ("GET", f"{_base}/{{item_id}}/history"): tenant("viewer"),
            ("POST", f"{_base}/{{item_id}}/revert"): tenant("editor"),
        }
    )
#: OPTIONS (CORS preflight, answered by the framework with the Allow header) needs no token anywhere.
OPTIONS = Access("public")

CALLERS = ("anonymous", *ROLES)


def app_routes() -> set[tuple[str, str]]:
    """Every (method, route) of the app's route table, parameters written ``{name}``. The admin UI's routes
    take no bearer token (a session cookie instead): tests/ui/test_admin_access.py declares and probes them."""
    app = create_app(make_settings(Path(tempfile.gettempdir()) / "ledgergate-route-table"))  # never opened
    return {
        (method, route.path_format)
        for route in app.routes
        for method in route.methods
        if not route.path_format.startswith("/admin")
    }


def declared(method: str, route: str) -> Access:
    return OPTIONS if method == "OPTIONS" else ACCESS[(method, route)]


# -- The gateway, once per database -------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A real gateway process with tenants A (acme) and B (globex) fully populated."""
    data = tmp_path_factory.mktemp(f"matrix-{request.param}") / "data"
    with (
        _database(request.param, data.parent) as database_url,
        echo_service() as echo,
        serving("tests.support.upstream_server") as upstream,
    ):
        server = start_server(data, database_url)
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                token = (data / "admin-token").read_text().strip()
                yield build_world(http, token, echo, upstream)
        finally:
            server.stop()


@contextmanager
def _database(kind: str, directory: Path) -> Iterator[str]:
    """A SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'ledgergate.db'}"
        return
    schema = f"lg_matrix_{secrets.token_hex(6)}"
    try:
        conn = psycopg.connect(postgres_conninfo(), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{POSTGRES_URL}?schema={schema}"
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run(world: World, probes: list[Probe]) -> Tally:
    tally = Tally()
    markers = world.b.markers()

    async def go() -> None:
        async with httpx.AsyncClient(base_url=str(world.http.base_url), timeout=30) as client:
            for probe in probes:
                answer, sent = await probe.send(client)
                judge(tally, probe, answer, sent, markers)

    asyncio.run(go())
    return tally


def probes_for(world: World, callers: tuple[str, ...], keep: Any = None) -> list[Probe]:
    """One probe per declared route, method, caller and variant (``keep(method, route, access, variant)``)."""
    found = []
    for method, route in sorted(app_routes()):
        access = declared(method, route)
        for caller in callers if access.scope != "public" else ("anonymous", "client"):
            chosen: list[Variant] = variants(route, access, method) if method != "OPTIONS" else ["own"]
            for variant in chosen:
                if access.scope == "platform" and variant == "other-tenant" and caller == "platform-admin":
                    continue  # the same call as on its own path
                if keep is None or keep(method, route, access, variant):
                    found.append(build_probe(world, method, route, access, caller, variant))
    return found


TALLIES: dict[str, Tally] = {}


def finish(request: pytest.FixtureRequest, world: World, tally: Tally, title: str = "access matrix") -> None:
    TALLIES.setdefault(title, Tally()).add(tally)
    report_count(request.config, title, TALLIES[title].summary())
    assert not tally.failures, f"{len(tally.failures)} failures; {tally.summary()}\n" + "\n".join(tally.failures)
    assert tally.wrongly_allowed == 0
    assert_b_unchanged(world)


def assert_b_unchanged(world: World) -> None:
    """B's own items, tokens and tenant are as they were built: nothing done as A reached them."""
    b = world.b
    for kind, item_id in b.ids.items():
        path = "prompts" if kind == "shared_prompt" else f"{kind}s"
        item = world.call("GET", f"/v1/tenants/{b.name}/{path}/{item_id}").json()
        assert item["enabled"] and item.get("description") != "changed", item
        if kind != "upstream":  # an upstream's own health checks add versions
            assert item["version"] == 1, item
    for role, token_id in b.token_ids.items():
        assert world.call("GET", f"/v1/tenants/{b.name}/tokens/{token_id}").json()["enabled"], role
    assert world.call("GET", f"/v1/tenants/{b.name}", token=b.tokens["viewer"]).status_code == 200


# -- The route table ------------------------------------------------------------------------------------


def test_every_route_of_the_app_has_a_declared_access() -> None:
    routes = app_routes()
    missing = sorted(
        f"{method} {route}" for method, route in routes if method != "OPTIONS" and (method, route) not in ACCESS
    )
    assert not missing, "routes missing from ACCESS in tests/api/test_access_matrix.py: " + ", ".join(missing)
    stale = sorted(f"{method} {route}" for method, route in ACCESS if (method, route) not in routes)
    assert not stale, "ACCESS declares routes the app does not have: " + ", ".join(stale)


# -- REST and MCP routes, every role of A ---------------------------------------------------------------


def test_every_role_of_tenant_a_gets_what_its_role_allows_on_every_route_and_nothing_of_tenant_b(
    request: pytest.FixtureRequest, world: World
) -> None:
    tally = run(world, probes_for(world, CALLERS))
    assert tally.requests > 1000
    finish(request, world, tally)


def _scoped_rest_write(method: str, route: str, access: Access, variant: str) -> bool:
    return access.scope not in ("mcp", "public") and method in WRITES and variant == "own"


def test_a_server_scoped_token_is_held_to_tenant_a_and_to_its_servers_on_mcp(
    request: pytest.FixtureRequest, world: World
) -> None:
    keep = lambda *probe: not _scoped_rest_write(*probe)  # noqa: E731 - the writes are the next test
    tally = run(world, probes_for(world, ("scoped",), keep))
    finish(request, world, tally)


def test_a_server_scoped_token_is_refused_on_every_rest_write_outside_its_servers(
    request: pytest.FixtureRequest, world: World
) -> None:
    tally = run(world, probes_for(world, ("scoped",), _scoped_rest_write))
    assert tally.requests > 30
    finish(request, world, tally, "access matrix, REST writes of the server-scoped token")


# -- MCP: what each token's catalog holds, and whose sessions it may use ------------------------------------


def _names(answer: dict[str, Any] | None, key: str, field: str = "name") -> set[str]:
    assert answer is not None, f"no {key} listed"
    return {entry[field] for entry in answer[key]}


def _refused_or_error(response: httpx.Response) -> bool:
    """A JSON-RPC error, an isError result, or a refused request: the caller got nothing of the item."""
    if response.status_code != 200:
        return True
    body = response.json()
    return "error" in body or bool(body.get("result", {}).get("isError"))


def test_every_token_of_tenant_a_sees_and_uses_only_tenant_a_catalog_over_mcp_in_both_eras(
    request: pytest.FixtureRequest, world: World
) -> None:
    markers = world.b.markers()
    tally = Tally()

    def check(response: httpx.Response, sent: str = "") -> httpx.Response:
        tally.requests += 1
        seen = sorted(m for m in markers if m in response.text and m not in sent)
        assert not seen, f"B's data {seen} in {response.text[:300]}"
        assert response.status_code < 500, response.text
        return response

    for role in ROLES:
        _catalog_of(world, world.a.tokens[role], role, check)
    tally.allowed_as_expected = tally.requests
    finish(request, world, tally, "access matrix, MCP catalogs")


def _catalog_of(world: World, token: str, role: str, check: Callable[[httpx.Response, str], httpx.Response]) -> None:
    """What ``token`` (of A) lists and gets, legacy and modern: A's items, never B's, not even by name."""
    a, b = world.a, world.b
    a_upstream_tool, b_upstream_tool = f"{a.names['upstream']}__echo", f"{b.names['upstream']}__echo"
    b_calls: list[tuple[str, dict[str, Any]]] = [
        ("tools/call", {"name": b.names["tool"], "arguments": {"text": "hi"}}),
        ("tools/call", {"name": b_upstream_tool, "arguments": {"text": "hi"}}),
        ("prompts/get", {"name": b.names["prompt"], "arguments": {"topic": "x"}}),
        ("resources/read", {"uri": f"{b.name}://{b.names['resource']}"}),
    ]
    session = check(open_legacy_session(world.http, "/mcp", token), "").headers["mcp-session-id"]

    def legacy(method: str, params: dict[str, Any] | None = None, path: str = "/mcp") -> httpx.Response:
        return check(legacy_rpc(world.http, path, token, session, method, params), json.dumps(params))

    def modern(method: str, params: dict[str, Any] | None = None, path: str = "/mcp") -> httpx.Response:
        return check(modern_rpc(world.http, path, token, method, params), json.dumps(params))

    for call in (legacy, modern):
        tools = _names(result_of(call("tools/list")), "tools")
        assert {a.names["tool"], a_upstream_tool} <= tools, (role, tools)
        assert not tools & {b.names["tool"], b_upstream_tool}, (role, tools)
        assert a.names["prompt"] in _names(result_of(call("prompts/list")), "prompts")
        assert f"{a.name}://{a.names['resource']}" in _names(result_of(call("resources/list")), "resources", "uri")
        call("resources/templates/list")
        for method, params in b_calls:
            assert _refused_or_error(call(method, params)), (role, call.__name__, method)
        shared = result_of(call("prompts/get", {"name": "shared_prompt", "arguments": {"topic": "t"}}))
        assert shared is not None and f"the {a.name} version" in json.dumps(shared), shared
        refused = call("tools/list", path=f"/servers/{b.ids['server']}/mcp")
        assert refused.status_code in (403, 404), (role, call.__name__, refused.text)
    served = _names(result_of(modern("tools/list", path=f"/servers/{a.ids['server']}/mcp")), "tools")
    assert served == {a.names["tool"]}, served


def test_tenant_b_sessions_are_useless_to_tenant_a_tokens(request: pytest.FixtureRequest, world: World) -> None:
    """B's legacy sessions (streamable HTTP and HTTP+SSE): A's tokens get 404 and nothing reaches B's stream."""
    a, b = world.a, world.b
    b_token = b.tokens["client"]
    b_sessions = {
        path: open_legacy_session(world.http, path, b_token).headers["mcp-session-id"]
        for path in ("/mcp", f"/servers/{b.ids['server']}/mcp")
    }
    tally = Tally()
    list_tools = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {}}

    async def go() -> None:
        async with httpx.AsyncClient(base_url=str(world.http.base_url), timeout=30) as client:
            stream = await open_sse_session(client, "/sse", b_token)
            assert stream.id, "B's SSE stream gave no session"
            try:
                answer, _ = await post_message(client, stream, "/message", b_token, initialize_body())
                assert answer.status == 202 and not answer.rpc_error, answer
                for role in ROLES:
                    await _try_b_sessions(client, tally, a.tokens[role], role, b_sessions, stream.id, list_tools)
                # B's stream carries only B's answers: the next event is the answer to B's next request
                answer, _ = await post_message(client, stream, "/message", b_token, list_tools)
                assert not answer.rpc_error and b.names["tool"] in answer.body.decode(), answer.body
            finally:
                await stream.close()

    asyncio.run(go())
    for path, session in b_sessions.items():  # and B's own sessions still work
        assert b.names["tool"] in legacy_rpc(world.http, path, b_token, session, "tools/list").text
    finish(request, world, tally, "access matrix, B's MCP sessions")


async def _try_b_sessions(
    client: httpx.AsyncClient,
    tally: Tally,
    token: str,
    role: str,
    b_sessions: dict[str, str],
    b_sse_session: str,
    list_tools: dict[str, Any],
) -> None:
    def count(status: int, what: str) -> None:
        tally.requests += 1
        if status in (403, 404):
            tally.refused_as_expected += 1
        else:
            tally.wrongly_allowed += 1
            tally.failures.append(f"{role} using B's session: {what} answered {status}")

    for path, session in b_sessions.items():
        for method in ("POST", "GET", "DELETE"):
            headers = {**MCP_HEADERS, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
            if method == "GET":
                headers["Accept"] = "text/event-stream"
            answer, _ = await fetch(
                client, method, path, token, None, list_tools if method == "POST" else None, headers
            )
            count(answer.status, f"{method} {path}")
    for body in (initialize_body(), list_tools, b"{not json"):
        answer, _ = await fetch(client, "POST", "/message", token, {"session_id": b_sse_session}, body, MCP_HEADERS)
        count(answer.status, f"POST /message of B's SSE stream with {body!r:.40}")
