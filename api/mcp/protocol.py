"""JSON-RPC framing and protocol versions, encoded with msgspec."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "ERROR_HTTP_STATUS",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "LATEST_LEGACY",
    "LEGACY_VERSIONS",
    "METHOD_NOT_FOUND",
    "MODERN_VERSIONS",
    "PARSE_ERROR",
    "RESOURCE_NOT_FOUND",
    "RpcError",
    "envelope_problem",
    "error_body",
    "error_status",
    "is_integer",
    "is_request_id",
    "notification_body",
    "result_body",
]

LEGACY_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_LEGACY = "2025-11-25"
MODERN_VERSIONS = ("2026-07-28",)
ALL_VERSIONS = LEGACY_VERSIONS + MODERN_VERSIONS

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002
HEADER_MISMATCH = -32020
MISSING_CLIENT_CAPABILITY = -32021
UNSUPPORTED_VERSION = -32022

#: the HTTP status of an error in the stateless era (the official SDK's table); other codes ride on 200
ERROR_HTTP_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}

_encode = msgspec.json.encode


def error_status(era: str, code: int) -> int:
    """The HTTP status of an error answering a request: legacy sessions answer every request with 200
    (the error is in the body, as the SDK's session transport does); 2026-07-28 maps the code."""
    return ERROR_HTTP_STATUS.get(code, 200) if era == "modern" else 200


def is_integer(value: Any) -> bool:
    """A JSON integer (a Python bool is an int, JSON's true is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_request_id(value: Any) -> bool:
    """MCP ids are strings or integers: never null, a boolean, a fraction or a structure."""
    return isinstance(value, str) or is_integer(value)


def envelope_problem(message: Any) -> str | None:
    """Why ``message`` is not a JSON-RPC 2.0 request, notification or response, or None if it is one.

    A message is a response only if it has no ``method`` member, an ``id``, and exactly one of
    ``result`` (an object) and ``error`` (an object with an integer ``code`` and a string ``message``).
    """
    if not isinstance(message, dict):
        return "a JSON-RPC message is an object"
    if message.get("jsonrpc") != "2.0":
        return 'jsonrpc must be "2.0"'
    if "method" in message:
        if not isinstance(message["method"], str):
            return "method must be a string"
        if "id" in message and not is_request_id(message["id"]):
            return "id must be a string or an integer"
        return None
    if "id" not in message or ("result" in message) == ("error" in message):
        return "a message without a method is a response: it needs an id and exactly one of result and error"
    if "result" in message:
        if not is_request_id(message["id"]):
            return "a result must carry the id of the request it answers"
        return None if isinstance(message["result"], dict) else "result must be an object"
    error = message["error"]
    if not (isinstance(error, dict) and is_integer(error.get("code")) and isinstance(error.get("message"), str)):
        return "error must be an object with an integer code and a string message"
    if message["id"] is not None and not is_request_id(message["id"]):
        return "an error must carry the id of the request it answers, or null"
    return None


class RpcError(Exception):
    """A JSON-RPC error to answer with; ``http_status`` is the status of the HTTP response carrying it
    (None: the era's status for the code, see ``error_status``)."""

    def __init__(self, code: int, message: str, data: Any = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status


def result_body(request_id: Any, result: bytes) -> bytes:
    """A response from an already encoded result object (the hot path: no encoding of the result)."""
    return b"".join((b'{"jsonrpc":"2.0","id":', _encode(request_id), b',"result":', result, b"}"))


def error_body(request_id: Any, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return _encode({"jsonrpc": "2.0", "id": request_id, "error": error})


def notification_body(method: str, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return _encode(message)
