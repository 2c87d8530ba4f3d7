"""Every REST write that reads a body refuses undecodable or too deeply nested JSON with a 400 problem, writing nothing.

The routes come from the app's own route table, so a write route added later is covered without listing it here.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from ledgergate.api.json_limits import MAX_JSON_DEPTH
from tests.api.conftest import Api

BAD_BODIES = {
    "invalid UTF-8 in a string": b'{"name": "caf\xe9"}',
    "invalid UTF-8 only": b"\xff\xfe\xfd",
    "a lone continuation byte": b'{"name": "\x80"}',
    "1,000 levels of arrays": b"[" * 1000 + b"]" * 1000,
    "100,000 levels of arrays": b"[" * 100_000 + b"]" * 100_000,
    "1,000 levels of objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    # a tool that would otherwise be created: its input_schema is the only place the nesting can hide
    "one level past the limit": b'{"name": "deep", "integration": {"method": "GET", "url": "https://a.example/"}, '
    b'"input_schema": {"type": "object", "x": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}}",
    "deep inside a valid envelope": b'{"name": "t", "input_schema": ' + b"[" * 5000 + b"]" * 5000 + b"}",
}


#: Handlers that read the raw body themselves (no ``data`` parameter to find them by).
RAW_BODY_ROUTES = [("POST", "/v1/events/import")]


def body_routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path template) of every REST route whose handler reads the request body."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/v1/"):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            assert isinstance(handler, HTTPRouteHandler)
            if "data" in handler.parsed_fn_signature.parameters or (method, route.path) in RAW_BODY_ROUTES:
                found.append((method, route.path))
    return found


def fill(template: str, ids: dict[str, str]) -> str:
    """A real path: the default tenant, and an existing entity of the kind named before each id."""
    parts = template.replace("{tenant:str}", "default").split("/")
    return "/".join(ids[parts[n - 1]] if part.endswith(":str}") else part for n, part in enumerate(parts))


@pytest.fixture
def ids(api: Api) -> dict[str, str]:
    """One real entity of each kind, so the routes reach their handlers instead of a 404."""
    bodies: dict[str, dict[str, Any]] = {
        "tools": {
            "name": "t",
            "input_schema": {"type": "object"},
            "integration": {"method": "GET", "url": "https://api.example.com/t"},
        },
        "resources": {"uri": "docs://a", "name": "a", "text": "hello"},
        "prompts": {"name": "p", "template": "Hi"},
        "servers": {"name": "s"},
        "tokens": {"name": "k", "role": "viewer"},
    }
    made = {}
    for kind, body in bodies.items():
        response = api.call("POST", f"/v1/tenants/default/{kind}", json=body)
        assert response.status_code == 201, response.text
        made[kind] = response.json()["id"]
    made["upstreams"] = "00000000-0000-0000-0000-000000000000"
    return made


def head(api: Api) -> int:
    return int(api.http.app.state.runtime.registry.recorder.max_notification_id() or 0)


def test_every_rest_route_that_reads_a_body_is_found(api: Api) -> None:
    routes = body_routes(api.http.app)
    assert ("POST", "/v1/tenants") in routes
    assert ("PATCH", "/v1/tenants/{tenant:str}/tools/{item_id:str}") in routes
    assert ("POST", "/v1/tenants/{tenant:str}/upstreams") in routes
    assert ("POST", "/v1/events/import") in routes
    assert len(routes) >= 18


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_a_body_that_is_not_utf8_or_nests_too_deep_is_a_400_problem_and_writes_nothing(
    api: Api, ids: dict[str, str], case: str
) -> None:
    before = head(api)
    for method, template in body_routes(api.http.app):
        path = fill(template, ids)
        response = api.call(method, path, content=BAD_BODIES[case], headers={"Content-Type": "application/json"})
        assert response.status_code in (400, 422), (method, path, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), (method, path)
        problem = response.json()
        assert problem["status"] == response.status_code
        if template != "/v1/events/import":  # an import reads JSON Lines and reports the line at fault
            assert response.status_code == 400, (method, path, response.text)
            assert problem["type"].endswith("invalid-request"), (method, path, problem)
    assert head(api) == before


def test_the_depth_limit_is_named_in_the_answer(api: Api) -> None:
    response = api.call(
        "POST",
        "/v1/tenants",
        content=BAD_BODIES["1,000 levels of arrays"],
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert str(MAX_JSON_DEPTH) in response.json()["detail"]


def test_a_body_at_the_depth_limit_is_still_read(api: Api) -> None:
    nested = "[" * (MAX_JSON_DEPTH - 3) + "]" * (MAX_JSON_DEPTH - 3)
    body = '{"name": "deep", "template": "Hi", "arguments": [], "tags": [], "description": null}'
    response = api.call(
        "POST", "/v1/tenants/default/prompts", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    at_limit = '{"version": {"a": ' + nested + "}}"
    refused = api.call(
        "POST",
        f"/v1/tenants/default/prompts/{response.json()['id']}/revert",
        content=at_limit.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert refused.status_code == 400  # decoded (not a depth error), then refused by the body's type
    assert "deeper than" not in refused.json()["detail"]
