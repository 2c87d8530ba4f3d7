"""Hypothesis strategies for JSON-RPC traffic to an MCP endpoint: every member right, wrong, null or
missing, and bodies spoiled with bytes that are not UTF-8 or nested past any limit.

The names and URIs drawn are those of the catalog ``tests/api/test_mcp_robustness.py`` builds (a tool
``weather``, ``outsider``, a prompt ``summarise``, a resource ``docs://handbook``) and some that do not
exist.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.support.jsonrpc_oracle import ABSENT, LEGACY_METHODS, LOG_LEVELS, MODERN_METHODS, REMOVED_IN_MODERN

__all__ = ["PARAMS", "envelopes", "ids", "json_values", "maybe", "mostly", "nest", "spoiled"]

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=9)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
ids = st.integers(-(2**63), 2**63) | st.text(max_size=10) | json_values
KNOWN = LEGACY_METHODS | MODERN_METHODS | REMOVED_IN_MODERN | {"initialize", "server/discover"}
method_names = st.sampled_from([*sorted(KNOWN), "notifications/cancelled", "nope/nothing", "tools/List", ""])


def mostly(right: st.SearchStrategy[Any], wrong: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``right`` three times in four, so that most examples get past the envelope to the method."""
    return st.integers(0, 3).flatmap(lambda n: right if n else wrong)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A member's value, or ABSENT (left out), or null."""
    return mostly(strategy, st.just(ABSENT) | st.none())


def members(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({k: maybe(v) for k, v in fields.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
    )


names = mostly(st.sampled_from(["weather", "outsider", "summarise", "nope"]), json_values)
uris = mostly(st.sampled_from(["docs://handbook", "docs://nope", "handbook", "", "docs:// x"]), json_values)
text_maps = st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3)
metas = members(progressToken=ids) | json_values
PARAMS = {
    "tools/list": members(cursor=st.text(max_size=8) | json_values, _meta=metas),
    "tools/call": members(name=names, arguments=text_maps | json_values, _meta=metas, requestState=json_values),
    "prompts/get": members(name=names, arguments=text_maps | json_values, _meta=metas),
    "resources/read": members(uri=uris, _meta=metas, inputResponses=json_values),
    "resources/subscribe": members(uri=uris, _meta=metas),
    "resources/unsubscribe": members(uri=uris),
    "logging/setLevel": members(level=st.sampled_from(LOG_LEVELS) | json_values),
    "completion/complete": members(
        ref=members(type=st.sampled_from(["ref/prompt", "ref/resource", "ref/tool"]), name=names, uri=uris)
        | json_values,
        argument=members(name=st.sampled_from(["text", "x"]) | json_values, value=st.text(max_size=5) | json_values),
        context=members(arguments=text_maps | json_values) | json_values,
    ),
    "initialize": members(
        protocolVersion=st.sampled_from(["2025-11-25", "2025-03-26", "1999-01-01"]) | json_values,
        capabilities=members(sampling=json_values, roots=json_values) | json_values,
        clientInfo=members(name=st.text(max_size=4) | json_values, version=st.just("1") | json_values) | json_values,
    ),
}
PARAMS["prompts/list"] = PARAMS["resources/list"] = PARAMS["resources/templates/list"] = PARAMS["tools/list"]


@st.composite
def envelopes(draw: st.DrawFn, method: st.SearchStrategy[Any] | None = None) -> dict[str, Any]:
    """A JSON-RPC-ish message: each member right, wrong, null or missing."""
    message: dict[str, Any] = {}
    jsonrpc = draw(mostly(st.just("2.0"), st.sampled_from(["1.0", "2", "2.0 ", ABSENT]) | json_values))
    if jsonrpc is not ABSENT:
        message["jsonrpc"] = jsonrpc
    kind = draw(st.sampled_from(["request"] * 6 + ["notification"] * 2 + ["response", "broken"]))
    if kind in ("request", "response", "broken"):
        message["id"] = draw(mostly(st.integers(0, 10**6) | st.text(max_size=6), ids))
    if kind == "response":
        message[draw(st.sampled_from(["result", "error"]))] = draw(
            st.just({}) | members(code=st.integers() | json_values, message=st.text(max_size=5)) | json_values
        )
        return message
    chosen = draw(method if method is not None else mostly(method_names, json_values | st.text(max_size=10)))
    if kind != "broken" or draw(st.booleans()):
        message["method"] = chosen
    rule = PARAMS.get(chosen) if isinstance(chosen, str) else None
    shaped = rule if rule is not None else st.dictionaries(st.text(max_size=5), json_values)
    params = draw(maybe(mostly(shaped, json_values)))
    if params is not ABSENT:
        message["params"] = params
    return message


NOT_UTF8 = (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80", b"\xf4\x90\x80\x80")


def spoiled(message: dict[str, Any], where: int, noise: bytes) -> bytes:
    """A message whose bytes are spoiled at one place, most often inside a string, with bytes that
    are often not UTF-8 (an overlong form, a surrogate, a cut sequence, a code point past U+10FFFF)."""
    body = json.dumps(message, ensure_ascii=False).encode()
    quotes = [i for i, byte in enumerate(body) if byte == ord('"')]
    at = quotes[where % len(quotes)] + 1 if quotes and where % 3 else where % (len(body) + 1)
    return body[:at] + (NOT_UTF8[where % len(NOT_UTF8)] if where % 2 else noise) + body[at:]


def nest(depth: int, kind: str, leaf: bytes = b"1") -> bytes:
    if kind == "array":
        return b"[" * depth + leaf + b"]" * depth
    return b'{"k":' * depth + leaf + b"}" * depth
