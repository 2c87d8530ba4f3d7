"""SEP-2243 ``Mcp-Param-{Name}`` headers: which arguments of a ``tools/call`` are mirrored into headers, and how.

An input property whose schema carries ``x-mcp-header: Name`` is mirrored in ``Mcp-Param-Name``: a string
as it is, an integer or a boolean as its JSON text (``42``, ``true``), then made header-safe with the SDK's
codec (anything but visible ASCII without edge whitespace travels as ``=?base64?...?=``). One encoding for
the gateway's check of its clients' headers, the headers it sends its upstreams, and the stdio wrapper,
which adds them for its client. Pure: no I/O, importable by the forwarding use case and every transport.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcp.shared.inbound import MCP_PARAM_HEADER_PREFIX, X_MCP_HEADER_KEY, encode_header_value

__all__ = ["declarations", "param_headers", "rendered", "schema_param_headers"]


#: schemas seen -> (the schema, its declarations): a catalog row's schema is one object for as long as the row
#: lives, so each call of its tool reuses what the first found. The entry holds the schema itself, so its id
#: cannot be reused by another object while it is here. Emptied when full.
_DECLARED: dict[int, tuple[Any, dict[str, str]]] = {}
_DECLARED_MAX = 4096


def declarations(schema: Any) -> dict[str, str]:
    """Argument name to header name (``Name`` of ``Mcp-Param-Name``) of each input property marked ``x-mcp-header``
    (the caller does not change what it gets)."""
    kept = _DECLARED.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    found = _declarations(schema)
    if len(_DECLARED) >= _DECLARED_MAX:
        _DECLARED.clear()
    _DECLARED[id(schema)] = (schema, found)
    return found


def _declarations(schema: Any) -> dict[str, str]:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {
        key: prop[X_MCP_HEADER_KEY]
        for key, prop in properties.items()
        if isinstance(prop, dict) and isinstance(prop.get(X_MCP_HEADER_KEY), str)
    }


def rendered(value: Any) -> str:
    """An argument's value as its header carries it, before the header-safe encoding."""
    return value if isinstance(value, str) else json.dumps(value)


def param_headers(declared: Mapping[str, str], arguments: Any) -> dict[str, str]:
    """The ``Mcp-Param-*`` headers of a call's ``arguments`` (an argument that is absent or null has none)."""
    if not isinstance(arguments, dict):
        return {}
    return {
        f"{MCP_PARAM_HEADER_PREFIX}{name}": encode_header_value(rendered(arguments[key]))
        for key, name in declared.items()
        if arguments.get(key) is not None
    }


def schema_param_headers(schema: Any, arguments: Any) -> dict[str, str]:
    return param_headers(declarations(schema), arguments)
