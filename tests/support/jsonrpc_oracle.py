"""What the MCP specification says a message deserves, read from its schema (not from the gateway).

``expected(era, message)`` is the set of answers the specification allows one JSON-RPC message: an
error code, ``"result"``, or ``202`` (accepted, no body). The property suite compares the gateway's
answers with it; a rule here is the schema's (``schema.ts`` of 2025-11-25 and 2026-07-28) or the
transport's, as the gateway documents them in ``docs/architecture.md`` ("Untrusted input on MCP").
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ABSENT",
    "LEGACY_METHODS",
    "LOG_LEVELS",
    "MAX_DEPTH",
    "MODERN",
    "MODERN_METHODS",
    "NAME_FIELDS",
    "REMOVED_IN_MODERN",
    "expected",
    "is_id",
    "status_fits",
    "strict_json",
]

#: a member left out of a message (``None`` is JSON null)
ABSENT: Any = object()

MODERN = "2026-07-28"
MAX_DEPTH = 64
NAME_FIELDS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
LISTS = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")
CALLS = ("tools/call", "prompts/get", "resources/read", "completion/complete")
LEGACY_METHODS = frozenset((*LISTS, *CALLS, "resources/subscribe", "resources/unsubscribe", "ping", "logging/setLevel"))
MODERN_METHODS = frozenset((*LISTS, *CALLS))
META_VERSION = "io.modelcontextprotocol/protocolVersion"
REMOVED_IN_MODERN = frozenset(("ping", "logging/setLevel", "notifications/initialized"))


def is_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def optional(params: dict[str, Any], key: str, test: Any) -> bool:
    return params.get(key) is None or bool(test(params[key]))


def params_fit(method: str, params: dict[str, Any]) -> bool:
    """Whether ``params`` fit the schema of ``method`` (null optional members count as absent)."""
    meta = params.get("_meta")
    if meta is not None and not (isinstance(meta, dict) and optional(meta, "progressToken", is_id)):
        return False
    is_str, is_obj = (lambda v: isinstance(v, str)), (lambda v: isinstance(v, dict))
    retry = optional(params, "inputResponses", is_obj) and optional(params, "requestState", is_str)
    if method in LISTS:
        return optional(params, "cursor", is_str)
    if method == "tools/call":
        return is_str(params.get("name")) and optional(params, "arguments", is_obj) and retry
    if method == "prompts/get":
        return is_str(params.get("name")) and optional(params, "arguments", string_map) and retry
    if method in ("resources/read", "resources/subscribe", "resources/unsubscribe"):
        return is_str(params.get("uri")) and retry
    if method == "logging/setLevel":
        return params.get("level") in LOG_LEVELS
    if method == "completion/complete":
        ref, argument, context = params.get("ref"), params.get("argument"), params.get("context")
        ref_fits = isinstance(ref, dict) and (
            (ref.get("type") == "ref/prompt" and is_str(ref.get("name")))
            or (ref.get("type") == "ref/resource" and is_str(ref.get("uri")))
        )
        argument_fits = isinstance(argument, dict) and is_str(argument.get("name")) and is_str(argument.get("value"))
        context_fits = context is None or (is_obj(context) and optional(context, "arguments", string_map))
        return ref_fits and argument_fits and context_fits
    return True


def initialize_fits(params: Any) -> bool:
    if not isinstance(params, dict) or not isinstance(params.get("protocolVersion"), str):
        return False
    meta = params.get("_meta")
    if meta is not None and not (isinstance(meta, dict) and optional(meta, "progressToken", is_id)):
        return False
    capabilities, info = params.get("capabilities"), params.get("clientInfo")
    known = ("roots", "sampling", "elicitation", "experimental", "tasks")
    return (
        isinstance(capabilities, dict)
        and all(optional(capabilities, k, lambda v: isinstance(v, dict)) for k in known)
        and isinstance(info, dict)
        and isinstance(info.get("name"), str)
        and isinstance(info.get("version"), str)
    )


#: answers a well-formed request may get: its result, or the errors of things it names not existing
SEMANTIC = {"result", -32602, -32002}


def expected(era: str, message: Any, in_batch: bool = False) -> set[Any]:
    """The answers the specification allows ``message`` (one JSON-RPC message) in ``era``."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return {-32600}
    if "method" not in message:
        fits = "id" in message and (("result" in message) != ("error" in message))
        if fits and "result" in message:
            fits = is_id(message["id"]) and isinstance(message["result"], dict)
        elif fits:
            error = message["error"]
            fits = isinstance(error, dict) and is_id(error.get("code")) and isinstance(error.get("code"), int)
            fits = fits and isinstance(error.get("message"), str) and (message["id"] is None or is_id(message["id"]))
        return {202} if fits and era == "legacy" else {-32600}
    method = message["method"]
    if not isinstance(method, str) or ("id" in message and not is_id(message["id"])):
        return {-32600}
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if method == "initialize" and era == "modern" and isinstance(meta, dict) and META_VERSION in meta:
        return expected_modern(method, message, params)  # a 2026-07-28 request: initialize is removed there
    if method == "initialize" and not in_batch:  # opens a legacy session, whatever the headers say
        if "id" not in message:
            return {-32600}
        return {"result"} if initialize_fits(params) else {-32602}
    if era == "modern":
        return expected_modern(method, message, params)
    if "id" not in message:
        return {202}
    if method == "initialize":
        return {-32600}
    if method not in LEGACY_METHODS:
        return {-32601}
    if params is not None and not isinstance(params, dict):
        return {-32602}
    return SEMANTIC if params_fit(method, params or {}) else {-32602}


def expected_modern(method: str, message: dict[str, Any], params: Any) -> set[Any]:
    if not isinstance(params, dict) or not isinstance(params.get("_meta"), dict):  # no _meta envelope
        return {-32602}
    named = params.get(NAME_FIELDS[method]) if method in NAME_FIELDS else None
    if named is not None and not isinstance(named, str):  # no Mcp-Name header can equal it
        return {-32020}
    if "id" not in message:
        return {202}
    if method == "server/discover":
        return {"result"}
    if method in REMOVED_IN_MODERN or method not in MODERN_METHODS:
        return {-32601}
    return SEMANTIC if params_fit(method, params) else {-32602}


def status_fits(era: str, answer: Any, status: int) -> bool:
    """HTTP status by era: a legacy session answers a request on 200; 2026-07-28 maps the code."""
    if answer == 202:
        return status == 202
    if answer in (-32700, -32600):
        return status == 400
    if era == "modern":
        return status == {-32602: 400, -32020: 400, -32601: 404}.get(answer, 200)
    return status == 200 or (answer == -32602 and status == 400)  # initialize refusals carry 400


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def strict_json(body: bytes) -> Any:
    """The body read as the gateway documents it reads bodies (strict UTF-8 JSON, without NaN, at most
    ``MAX_DEPTH`` levels deep), by Python's own parser; ABSENT if it is not that."""

    def refuse(token: str) -> Any:
        raise ValueError(token)

    try:
        value = json.loads(body.decode("utf-8"), parse_constant=refuse)
        return ABSENT if depth(value) > MAX_DEPTH else value
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ABSENT
