"""Decoding of untrusted JSON bodies: every way a body can be bad is one ``BadJson`` error.

msgspec raises ``UnicodeDecodeError`` for invalid UTF-8 inside strings and ``RecursionError`` for
deep nesting (it recurses in C up to the interpreter's limit), neither of them a ``DecodeError``.
Bodies may nest at most ``MAX_JSON_DEPTH`` arrays and objects: JSON-RPC envelopes, tool arguments
and JSON Schemas of real tools stay far below it, and every later recursive walk (schema checking,
rendering, re-encoding) is bounded by it. The depth is only walked when the body has more brackets
than the limit, so small requests pay one ``bytes.count`` per bracket kind.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["MAX_JSON_DEPTH", "BadJson", "decode_json", "json_depth"]

MAX_JSON_DEPTH = 64


class BadJson(ValueError):
    """The body is not JSON we accept; the message says why, for a client to read."""


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of arrays and objects (a scalar is 0); stops counting once past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return deepest


def decode_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode ``body``. Raises: BadJson (not JSON, not UTF-8, or nested deeper than ``max_depth``)."""
    try:
        value = msgspec.json.decode(body)
    except UnicodeDecodeError:
        raise BadJson("the body is not valid UTF-8") from None
    except RecursionError:
        raise BadJson(f"the body nests arrays and objects deeper than {max_depth} levels") from None
    except msgspec.DecodeError as exc:
        raise BadJson(f"the body is not JSON ({exc})") from None
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth(value, max_depth) > max_depth:
        raise BadJson(f"the body nests arrays and objects deeper than {max_depth} levels")
    return value
