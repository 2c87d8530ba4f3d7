"""The REST API against its own OpenAPI document, over a live ``ledgergate serve`` (schemathesis).

Every documented operation gets a bounded number of generated requests, authenticated with the bootstrap
platform-admin token. Path parameters are often replaced by real ones (the ``default`` tenant, ids of
entities made here) so the handlers are reached, not only their 404s. Each response must not be a 5xx and
must match the documented status codes, content type, headers and schema. The last test reports the counts.

One 5xx is an answer by design: a read given a ``min_position`` the log has not reached waits, then answers
503 position-not-reached with Retry-After (documented); it is counted apart and checked like any answer.

Left out: the live SSE tail (it never ends) and registering upstreams (it connects to whatever URL or runs
whatever command it is given: never from a test).
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledgergate.api.app import create_app
from tests.api.conftest import ServerProcess, start_server
from tests.conftest import make_settings

EXAMPLES_PER_OPERATION = 12
SKIPPED = {("GET", "/v1/events/stream"), ("POST", "/v1/tenants/{tenant}/upstreams")}
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
KIND_OF_PATH = {"tools": "tool", "resources": "resource", "prompts": "prompt", "servers": "server", "tokens": "token"}


@dataclass
class Live:
    server: ServerProcess
    token: str
    ids: dict[str, str]
    counts: Counter[str] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    rng: random.Random = field(default_factory=lambda: random.Random(11))


LIVE: list[Live] = []


def _made(http: httpx.Client, server: ServerProcess, token: str) -> dict[str, str]:
    """One entity of each kind in the default tenant, so generated requests can name real ones."""
    bodies: dict[str, dict[str, Any]] = {
        "tools": {
            "name": "t",
            "input_schema": {"type": "object"},
            "integration": {"method": "GET", "url": "https://api.example.com/t"},
        },
        "resources": {"uri": "docs://a", "name": "a", "text": "hello"},
        "prompts": {"name": "p", "template": "Hi {{ who }}"},
        "servers": {"name": "s"},
        "tokens": {"name": "fuzzed", "role": "viewer"},
    }
    ids = {}
    for kind, body in bodies.items():
        response = http.post(
            f"{server.url}/v1/tenants/default/{kind}", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201, response.text
        ids[kind] = response.json()["id"]
    return ids


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data: Path = tmp_path_factory.mktemp("openapi-fuzz") / "data"
    server = start_server(data)
    try:
        token = (data / "admin-token").read_text().strip()
        with httpx.Client(timeout=10) as http:
            LIVE.append(Live(server, token, _made(http, server, token)))
        yield LIVE[-1]
    finally:
        server.stop()


def _document() -> dict[str, Any]:
    """The document the live server serves, built from the same app (schemathesis's loader from a pytest
    fixture does not work with this pytest, and collection cannot wait for a server)."""
    settings = make_settings(Path(tempfile.mkdtemp(prefix="lg-openapi-")) / "data")
    return create_app(settings).openapi_schema.to_schema()


schema = schemathesis.openapi.from_dict(_document()).exclude(
    func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in SKIPPED
)


def _real_parameters(case: Any, live: Live) -> None:
    """Two cases in three name the default tenant and, where the path names one, a real entity."""
    parameters = case.path_parameters or {}
    if "tenant" in parameters and live.rng.random() < 2 / 3:
        parameters["tenant"] = "default"
        segments = case.operation.path.split("/")
        for name in ("item_id", "token_id"):
            placeholder = "{" + name + "}"
            if name in parameters and placeholder in segments:
                kind = segments[segments.index(placeholder) - 1]
                if kind in live.ids and live.rng.random() < 3 / 4:
                    parameters[name] = live.ids[kind]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_answers_as_documented_and_never_with_a_5xx(case: Any, live: Live) -> None:
    _real_parameters(case, live)
    live.operations.add(f"{case.operation.method.upper()} {case.operation.path}")
    live.counts["requests"] += 1
    response = case.call(base_url=live.server.url, headers={"Authorization": f"Bearer {live.token}"}, timeout=30)
    live.counts[f"{response.status_code // 100}xx"] += 1
    if not_yet_reached(response):  # a documented answer, not a server error: see the module's docstring
        live.counts["503 position-not-reached"] += 1
        case.validate_response(response, checks=CHECKS)
        return
    case.validate_response(response, checks=[not_a_server_error, *CHECKS])


def not_yet_reached(response: Any) -> bool:
    """A read told to wait for a ``min_position`` the log has not reached: 503 with Retry-After, by design."""
    if response.status_code != 503 or "retry-after" not in {name.lower() for name in response.headers}:
        return False
    try:
        return bool(response.json()["type"].endswith("position-not-reached"))
    except (ValueError, KeyError, TypeError):
        return False


def test_the_counts_of_the_run(capsys: pytest.CaptureFixture[str], live: Live) -> None:
    document = httpx.get(f"{live.server.url}/docs/openapi.json", timeout=10).json()
    documented = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    expected = documented - {f"{method} {path}" for method, path in SKIPPED}
    assert document == _document()  # what was fuzzed is what the server serves
    with capsys.disabled():  # the counts belong in the run's output, passing or not
        print(
            f"\nOpenAPI suite: {len(live.operations)} operations tested of {len(documented)} documented, "
            f"{live.counts['requests']} requests sent, statuses {dict(sorted(live.counts.items()))}, "
            f"5xx seen: {live.counts['5xx'] - live.counts['503 position-not-reached']} "
            f"(besides {live.counts['503 position-not-reached']} documented 503s for a min_position not reached)"
        )
    assert live.operations == expected
    assert live.counts["requests"] >= len(expected) * 2
    assert live.counts["5xx"] == live.counts["503 position-not-reached"]
    assert live.counts["2xx"] > len(expected) / 2  # handlers were reached, not only refusals
