"""Values carried in MCP's HTTP headers (2026-07-28 ``Mcp-Name``, ``Mcp-Param-*``)."""

from __future__ import annotations

import base64

__all__ = ["header_value"]


def header_value(value: str) -> str:
    """A header-safe value: visible ASCII and spaces as is, anything else as ``=?base64?...?=``."""
    if value.isascii() and value.isprintable() and value == value.strip():
        return value
    return "=?base64?" + base64.b64encode(value.encode()).decode() + "?="
