"""What operators see of a real ``ledgergate serve``: its JSON log lines (access and calls, never a secret)
and its metrics (labelled per tenant, by route template, the same whichever of two workers answers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import ServerProcess, start_server
from tests.support.echo import echo_service
from tests.support.mcp_http import initialize, legacy, modern, new_tenant
from tests.support.processes import serving

pytestmark = pytest.mark.slow

SCRAPE_TOKEN = "scrape-" + "0123456789abcdef"


def admin(server: ServerProcess) -> dict[str, str]:
    return {"Authorization": "Bearer " + (server.data_dir / "admin-token").read_text().strip()}


def log_lines(server: ServerProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]


def write(http: httpx.Client, server: ServerProcess, path: str, body: dict[str, Any], **headers: str) -> Any:
    answer = http.post(server.url + path, json=body, headers=admin(server) | headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def caught_up(http: httpx.Client, server: ServerProcess, tenant: str, position: int) -> None:
    url = server.url + f"/v1/tenants/{tenant}/tools?min_position={position}&limit=1"
    assert http.get(url, headers=admin(server)).status_code == 200


def test_each_request_and_each_call_is_one_json_line_with_its_fields_and_no_secret(tmp_path: Path) -> None:
    with echo_service() as echo, serving("tests.support.traced_upstream") as upstream_url:
        server = start_server(tmp_path / "data", LEDGERGATE_LOG_PAYLOADS="true")
        token = admin(server)["Authorization"][7:]
        try:
            with httpx.Client(timeout=30) as http:
                tool = {
                    "name": "weather",
                    "input_schema": {"type": "object"},
                    "integration": {"method": "POST", "url": echo + "/w", "headers": {"X-Tool-Key": "tool-secret-42"}},
                }
                write(http, server, "/v1/tenants/default/tools", tool, **{"X-Correlation-Id": "corr-123"})
                write(http, server, "/v1/tenants/default/prompts", {"name": "greet", "template": "hi {{ who }}"})
                write(http, server, "/v1/tenants/default/resources", {"uri": "docs://a", "name": "a", "text": "A"})
                upstream = {"name": "up", "transport": "streamable_http", "url": upstream_url}
                upstream |= {"auth": {"type": "bearer", "token": "upstream-secret-77"}}
                caught_up(
                    http, server, "default", write(http, server, "/v1/tenants/default/upstreams", upstream)["position"]
                )
                session = initialize(http, server.url, token).headers["mcp-session-id"]
                arguments = {"city": "Paris", "password": "hunter2-secret"}
                for method, params in (
                    ("tools/call", {"name": "weather", "arguments": arguments}),
                    ("tools/call", {"name": "up__seen"}),
                    ("prompts/get", {"name": "greet", "arguments": {"who": "you"}}),
                    ("resources/read", {"uri": "docs://a"}),
                ):
                    assert legacy(http, server.url, token, session, method, params).status_code == 200
                assert http.get(server.url + "/v1/nowhere", headers=admin(server)).status_code == 404
        finally:
            output = server.stop()
    lines = log_lines(server)
    for secret in (token, "tool-secret-42", "upstream-secret-77"):
        assert secret not in output
    # results are logged as the tool gave them (this echo API sends the arguments back); arguments are masked
    without_results = json.dumps([{k: v for k, v in line.items() if k != "result"} for line in lines])
    assert "hunter2-secret" not in without_results
    access = [line for line in lines if line.get("event") == "http.request"]
    created = next(a for a in access if a["route"] == "/v1/tenants/{tenant}/tools" and a["method"] == "POST")
    assert created["status"] == 201 and created["level"] == "INFO" and created["logger"] == "ledgergate.access"
    assert created["tenant"] == "default" and created["token_id"] and created["correlation_id"] == "corr-123"
    assert created["duration_ms"] > 0 and created["path"] == "/v1/tenants/default/tools"
    assert any(a["route"] == "unmatched" and a["status"] == 404 for a in access)
    assert any(a["route"] == "/mcp" and a["tenant"] == "default" for a in access)
    calls = {
        (c["method"], c.get("tool") or c.get("prompt") or c.get("uri")): c
        for c in lines
        if c.get("event") == "mcp.call"
    }
    rest = calls[("tools/call", "weather")]
    assert rest["tenant"] == "default" and rest["outcome"] == "ok" and rest["upstream_status"] == 200
    assert rest["arguments"] == {"city": "Paris", "password": "***"} and "result" in rest
    forwarded = calls[("tools/call", "up__seen")]
    assert forwarded["upstream"] == "up" and forwarded["upstream_status"] == 200 and forwarded["duration_ms"] > 0
    assert calls[("prompts/get", "greet")]["outcome"] == "ok"
    assert calls[("resources/read", "docs://a")]["outcome"] == "ok"
    assert "trace_id" not in rest  # tracing is off


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    import redis

    from tests.conftest import REDIS_URL
    from tests.conftest import _unavailable as unavailable

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    data = tmp_path_factory.mktemp("metrics") / "data"
    server = start_server(data, workers=2, LEDGERGATE_REDIS_URL=REDIS_URL, LEDGERGATE_METRICS_TOKEN=SCRAPE_TOKEN)
    yield server
    server.stop()


def scrape(server: ServerProcess, token: str = SCRAPE_TOKEN) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def series(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_two_workers_answer_one_set_of_counters_labelled_per_tenant_and_by_route(two_workers: ServerProcess) -> None:
    server = two_workers
    tenants = []
    with echo_service() as echo, httpx.Client(timeout=30) as http:
        for _ in range(2):
            slug, (client_token,) = new_tenant(http, server.url, admin(server)["Authorization"][7:])
            tool = {
                "name": "lookup",
                "input_schema": {"type": "object"},
                "integration": {"method": "GET", "url": echo + "/x"},
            }
            caught_up(http, server, slug, write(http, server, f"/v1/tenants/{slug}/tools", tool)["position"])
            tenants.append((slug, client_token))
        for (_, client_token), times in zip(tenants, (3, 5), strict=True):
            for _ in range(times):  # a new connection each time: either worker may serve it
                with httpx.Client(timeout=30) as one:
                    answer = modern(one, server.url, client_token, "tools/call", {"name": "lookup"}, name="lookup")
                    assert answer.status_code == 200 and not answer.json()["result"]["isError"], answer.text
    (first, _), (second, _) = tenants
    answers = [scrape(server) for _ in range(8)]
    for samples in answers:
        assert series(samples, "ledgergate_tool_calls_total", tenant=first, tool="lookup", outcome="ok") == 3
        assert series(samples, "ledgergate_tool_calls_total", tenant=second, tool="lookup", outcome="ok") == 5
        assert series(samples, "ledgergate_http_requests_total", route="/v1/tenants/{tenant}/tools", method="POST") == 2
        assert series(samples, "ledgergate_tool_call_seconds_count", tenant=first, tool="lookup") == 3
    pids = {dict(ls)["pid"] for (n, ls), _ in answers[-1].items() if n == "process_resident_memory_bytes"}
    assert len(pids) == 2  # each worker's process metrics, whichever answered
    served = {line["pid"] for line in log_lines(server) if line.get("event") == "mcp.call"}
    assert len(served) == 2, "both workers served calls, and every scrape counted all of them"


def test_the_scrape_token_opens_metrics_and_a_wrong_or_a_tenant_token_does_not(two_workers: ServerProcess) -> None:
    server = two_workers
    url = server.url + "/metrics"
    assert httpx.get(url, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}).status_code == 200
    assert httpx.get(url, headers=admin(server)).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}x"}).status_code == 401
    assert httpx.get(url).status_code == 401
    with httpx.Client(timeout=30) as http:
        _, (client_token,) = new_tenant(http, server.url, admin(server)["Authorization"][7:])
    assert httpx.get(url, headers={"Authorization": f"Bearer {client_token}"}).status_code == 403
