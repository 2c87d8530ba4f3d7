"""The shapes MCP gives request params, checked before a method runs: a bad shape is -32602.

Each rule follows the specification's schema (``schema.ts`` of each revision, the same types the official
SDK validates with). A member of the wrong type is refused with -32602 naming it, in both eras and before
anything is looked up, so the methods only ever see the types the schema promises. Nothing is coerced:
``arguments: []`` is not ``{}`` and ``5`` is not ``"5"``. An optional member sent as JSON ``null`` counts
as absent, as the SDK reads it. Members the schema does not name are ignored, as the SDK ignores them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from ledgergate.api.mcp.modern_rules import META_CAPABILITIES
from ledgergate.api.mcp.protocol import INVALID_PARAMS, RpcError, is_request_id

__all__ = ["LOG_LEVELS", "check_initialize", "check_modern_meta", "check_params"]

META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
#: client capabilities the gateway acts on; each, when declared, is an object
CAPABILITY_OBJECTS = ("roots", "sampling", "elicitation", "experimental", "tasks")


def _refuse(message: str) -> NoReturn:
    raise RpcError(INVALID_PARAMS, f"Invalid params: {message}")


def _string(params: dict[str, Any], key: str, where: str = "") -> str:
    value = params.get(key)
    if not isinstance(value, str):
        _refuse(f"{where}{key} is required and must be a string")
    return value


def _optional(params: dict[str, Any], key: str, kind: type, what: str, where: str = "") -> Any:
    value = params.get(key)
    if value is not None and not isinstance(value, kind):
        _refuse(f"{where}{key} must be {what}")
    return value


def _string_map(params: dict[str, Any], key: str, where: str = "") -> None:
    values = _optional(params, key, dict, "an object", where)
    if values is not None and not all(isinstance(v, str) for v in values.values()):
        _refuse(f"the values of {where}{key} must be strings")


def _capabilities(capabilities: Any, where: str) -> None:
    """Client capabilities: an object whose capabilities, when declared, are objects."""
    if not isinstance(capabilities, dict):
        _refuse(f"{where} must be an object")
    for name in CAPABILITY_OBJECTS:
        _optional(capabilities, name, dict, "an object", f"{where}.")


def _meta(params: dict[str, Any]) -> None:
    meta = _optional(params, "_meta", dict, "an object")
    token = meta.get("progressToken") if meta is not None else None
    if token is not None and not is_request_id(token):
        _refuse("_meta.progressToken must be a string or an integer")


def _retry(params: dict[str, Any]) -> None:
    """The members a 2026-07-28 client adds when it retries a request that needed its input."""
    _optional(params, "inputResponses", dict, "an object")
    _optional(params, "requestState", str, "a string")


def _list(params: dict[str, Any]) -> None:
    _optional(params, "cursor", str, "a string")


def _call_tool(params: dict[str, Any]) -> None:
    _string(params, "name")
    _optional(params, "arguments", dict, "an object")
    task = _optional(params, "task", dict, "an object")
    if task is not None:
        ttl = task.get("ttl")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl < 0):
            _refuse("task.ttl must be a number of milliseconds")
    _retry(params)


def _task(params: dict[str, Any]) -> None:
    _string(params, "taskId")


def _get_prompt(params: dict[str, Any]) -> None:
    _string(params, "name")
    _string_map(params, "arguments")
    _retry(params)


def _uri(params: dict[str, Any]) -> None:
    _string(params, "uri")
    _retry(params)


def _complete(params: dict[str, Any]) -> None:
    ref = params.get("ref")
    if not isinstance(ref, dict):
        _refuse("ref is required and must be an object")
    if ref.get("type") == "ref/prompt":
        _string(ref, "name", "ref.")
    elif ref.get("type") == "ref/resource":
        _string(ref, "uri", "ref.")
    else:
        _refuse('ref.type must be "ref/prompt" or "ref/resource"')
    argument = params.get("argument")
    if not isinstance(argument, dict):
        _refuse("argument is required and must be an object")
    _string(argument, "name", "argument.")
    _string(argument, "value", "argument.")
    context = _optional(params, "context", dict, "an object")
    if context is not None:
        _string_map(context, "arguments", "context.")


def _set_level(params: dict[str, Any]) -> None:
    if params.get("level") not in LOG_LEVELS:
        _refuse(f"level must be one of {', '.join(LOG_LEVELS)}")


def _listen(params: dict[str, Any]) -> None:
    wanted = _optional(params, "notifications", dict, "an object")
    if wanted is None:
        return
    for flag in ("toolsListChanged", "promptsListChanged", "resourcesListChanged"):
        _optional(wanted, flag, bool, "a boolean", "notifications.")
    uris = _optional(wanted, "resourceSubscriptions", list, "an array", "notifications.")
    if uris is not None and not all(isinstance(u, str) for u in uris):
        _refuse("notifications.resourceSubscriptions must be an array of URIs")


RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "tools/list": _list,
    "prompts/list": _list,
    "resources/list": _list,
    "resources/templates/list": _list,
    "tools/call": _call_tool,
    "prompts/get": _get_prompt,
    "resources/read": _uri,
    "resources/subscribe": _uri,
    "resources/unsubscribe": _uri,
    "completion/complete": _complete,
    "logging/setLevel": _set_level,
    "subscriptions/listen": _listen,
    "tasks/get": _task,
    "tasks/result": _task,
    "tasks/cancel": _task,
    "tasks/list": _list,
}
#: the tasks of 2025-11-25; 2026-07-28 moved them to an extension the gateway does not offer
TASKS = frozenset({"tasks/get", "tasks/result", "tasks/cancel", "tasks/list"})


def _nothing(params: dict[str, Any]) -> None:
    return None


SERVED = {
    "legacy": frozenset(RULES) - {"subscriptions/listen"} | {"ping"},
    "modern": frozenset(RULES) - {"resources/subscribe", "resources/unsubscribe", "logging/setLevel"} - TASKS,
}


def check_params(era: str, method: str, params: Any) -> dict[str, Any]:
    """The params of a request (absent is ``{}``). A method the era does not serve is not checked: its
    answer is -32601 whatever its params. Raises: RpcError -32602 if they break the method's schema."""
    if method not in SERVED[era]:
        return params if isinstance(params, dict) else {}
    params = {} if params is None else params
    if not isinstance(params, dict):
        _refuse("params must be an object")
    _meta(params)
    RULES.get(method, _nothing)(params)
    return params


def check_initialize(params: Any) -> None:
    """``initialize`` params: a protocol version string, the client's capabilities and its name and version.

    Raises: RpcError -32602."""
    if not isinstance(params, dict):
        _refuse("initialize needs params: protocolVersion, capabilities and clientInfo")
    _meta(params)
    _string(params, "protocolVersion")
    _capabilities(params.get("capabilities"), "capabilities")
    info = params.get("clientInfo")
    if not isinstance(info, dict):
        _refuse("clientInfo is required and must be an object")
    _string(info, "name", "clientInfo.")
    _string(info, "version", "clientInfo.")


def check_modern_meta(meta: dict[str, Any]) -> None:
    """The 2026-07-28 request envelope beyond its required pair: the capabilities are objects, the
    client info an object, the log level one of the eight. Raises: RpcError -32602."""
    _capabilities(meta.get(META_CAPABILITIES), "_meta." + META_CAPABILITIES)
    _optional(meta, META_CLIENT_INFO, dict, "an object", "_meta.")
    level = meta.get(META_LOG_LEVEL)
    if level is not None and level not in LOG_LEVELS:
        _refuse(f"_meta.{META_LOG_LEVEL} must be one of {', '.join(LOG_LEVELS)}")
