"""The REST tool caller against a real local HTTP service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from ledgergate.application.errors import ToolCallError
from ledgergate.infrastructure.upstream.rest_tool import RestToolCaller
from tests.application.fakes import FakeCipher
from tests.support.echo import HITS, echo_service


def sealed(text: str, tenant: str = "acme") -> dict[str, Any]:
    return {"$secret": FakeCipher().encrypt(tenant, text)}


@pytest.fixture
def echo() -> Iterator[str]:
    with echo_service() as url:
        yield url


def tool(url: str, method: str = "GET", **integration: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "input_schema": {"type": "object"},
        "output_schema": {"type": "object"},
        "integration": {
            "method": method,
            "url": url,
            "headers": {},
            "query": {},
            "body": None,
            "timeout_s": 5.0,
            "auth": {"type": "none"},
            **integration,
        },
    }


def call(
    caller: RestToolCaller, spec: dict[str, Any], arguments: dict[str, Any], tenant: str = "acme"
) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        try:
            return await caller.call(tenant, spec, arguments)
        finally:
            await caller.close()

    return asyncio.run(run())


def test_a_get_fills_the_url_template_maps_query_and_sends_decrypted_secrets(echo: str) -> None:
    spec = tool(
        echo + "/items/{item}",
        query={"q": "search"},
        headers={"X-Api-Key": sealed("k-1")},
        auth={"type": "bearer", "token": sealed("tok")},
    )
    result = call(RestToolCaller(FakeCipher()), spec, {"item": "a b/c", "search": "x"})
    assert result["isError"] is False
    assert result["structuredContent"]["path"] == "/items/a%20b%2Fc?q=x"
    assert result["structuredContent"]["api_key"] == "k-1"
    assert result["structuredContent"]["authorization"] == "Bearer tok"


def test_a_post_sends_the_listed_body_fields_as_json(echo: str) -> None:
    spec = tool(echo + "/tickets/{project}", "POST", body=["title"])
    result = call(RestToolCaller(FakeCipher()), spec, {"project": "p1", "title": "Hi", "ignored": 1})
    assert result["structuredContent"]["body"] == {"title": "Hi"}
    assert result["structuredContent"]["path"] == "/tickets/p1"


def test_an_error_status_becomes_an_is_error_result_and_idempotent_calls_are_retried(echo: str) -> None:
    result = call(RestToolCaller(FakeCipher()), tool(echo + "/status/503/get"), {})
    assert result["isError"] is True
    assert "HTTP 503" in result["content"][0]["text"]
    assert HITS["/status/503/get"] == 3
    call(RestToolCaller(FakeCipher()), tool(echo + "/status/503/post", "POST"), {})
    assert HITS["/status/503/post"] == 1


def test_a_slow_api_gives_a_timeout_error(echo: str) -> None:
    with pytest.raises(ToolCallError, match="did not answer within"):
        call(RestToolCaller(FakeCipher()), tool(echo + "/slow/x", "POST", timeout_s=0.2), {})


def test_link_local_and_metadata_addresses_are_refused_before_any_request() -> None:
    with pytest.raises(ToolCallError, match="outbound connection policy"):
        call(RestToolCaller(FakeCipher()), tool("http://169.254.169.254/latest/meta-data"), {})
    with pytest.raises(ToolCallError, match="outbound connection policy"):
        call(RestToolCaller(FakeCipher()), tool("http://metadata.google.internal/x"), {})


def test_a_secret_of_another_tenant_cannot_be_used(echo: str) -> None:
    spec = tool(echo + "/x", headers={"X-Api-Key": sealed("k", tenant="globex")})
    with pytest.raises(ToolCallError, match="can't be decrypted"):
        call(RestToolCaller(FakeCipher()), spec, {})


def test_a_missing_url_argument_is_reported(echo: str) -> None:
    with pytest.raises(ToolCallError, match="'item' is needed"):
        call(RestToolCaller(FakeCipher()), tool(echo + "/items/{item}"), {})


def test_a_large_answer_arrives_whole(echo: str) -> None:
    text = "x" * 600_000  # many reads of the response stream
    result = call(RestToolCaller(FakeCipher()), tool(echo + "/big", "POST"), {"text": text})
    assert result["isError"] is False
    assert result["structuredContent"]["body"] == {"text": text}
