"""The OpenAPI document describes the API as it answers: problems, statuses, security, shapes and methods.

Every check walks the app's own route table or the whole document, so a route added later is held to it too.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.routes import HTTPRoute

from tests.api.conftest import Api

OPEN_PATHS = {"/health", "/ready", "/version"}
PROBLEM = "application/problem+json"


@pytest.fixture
def document(api: Api) -> dict[str, Any]:
    response = api.http.get("/docs/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "patch", "put", "delete")
    ]


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith("/.well-known/")


def test_every_route_answers_options_with_every_method_of_its_path(api: Api) -> None:
    checked = 0
    for route in api.http.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = route.path_format.replace("{tenant}", "default")
        for name in route.path_parameters:
            path = path.replace("{" + name + "}", "x")
        response = api.http.options(path)
        assert response.status_code == 204, (route.path, response.text)
        allowed = {method.strip() for method in response.headers["allow"].split(",")}
        assert allowed == set(route.methods), route.path
        checked += 1
    assert checked > 40
    tool = api.http.options("/v1/tenants/default/tools/x").headers["allow"]
    assert {"GET", "PATCH", "DELETE", "OPTIONS"} <= {m.strip() for m in tool.split(",")}


def test_errors_are_documented_as_problem_details(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["ProblemDetails"]
    assert set(schema["required"]) >= {"type", "title", "status", "detail"}
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400 and path != "/ready":  # not ready is an answer of its own, not a problem
                assert list(response["content"]) == [PROBLEM], (path, method, status)
                assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}


def test_the_statuses_each_operation_can_answer_are_documented(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        statuses = set(operation["responses"])
        if not path.startswith("/v1/"):
            continue
        assert {"400", "401", "403", "422", "503"} <= statuses, (path, method)
        if "{" in path:
            assert "404" in statuses, (path, method)
        if method in ("post", "patch", "delete"):
            assert "409" in statuses, (path, method)
        if method in ("patch", "delete") or path.endswith(("/enable", "/disable", "/revert")):
            assert "410" in statuses, (path, method)
        if path.endswith("/upstreams") and method == "post":
            assert "502" in statuses
        if "requestBody" in operation:
            assert "413" in statuses, (path, method)
    ready = document["paths"]["/ready"]["get"]["responses"]
    assert (
        ready["503"]["content"]["application/json"]["schema"] == ready["200"]["content"]["application/json"]["schema"]
    )


def test_a_bearer_token_is_declared_and_required_everywhere_but_the_open_endpoints(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerToken"].items() >= {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}.items()
    for path, method, operation in operations(document):
        if is_open(path):
            assert not operation.get("security"), (path, method)
        else:
            assert operation["security"] == [{"BearerToken": []}], (path, method)


def test_the_protected_resource_metadata_is_documented_as_an_object(api: Api, document: dict[str, Any]) -> None:
    paths = [p for p in document["paths"] if p.startswith("/.well-known/oauth-protected-resource")]
    assert len(paths) == 3
    for path in paths:
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        resolved = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert resolved["type"] == "object"
        assert "resource" in resolved["required"] and "authorization_servers" in resolved["properties"]
    assert api.http.get("/.well-known/oauth-protected-resource").json()["resource"].endswith("/mcp")


def test_a_cursor_that_is_not_one_is_a_documented_400(api: Api, document: dict[str, Any]) -> None:
    bad = api.call("GET", "/v1/tenants/default/prompts?cursor=garbage!!")
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith(PROBLEM)
    assert bad.json()["type"].endswith("invalid-request")
    parameters = document["paths"]["/v1/tenants/{tenant}/prompts"]["get"]["parameters"]
    cursor = next(p for p in parameters if p["name"] == "cursor")
    assert "next_cursor" in cursor["description"]
