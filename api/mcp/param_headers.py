"""SEP-2243 ``Mcp-Param-{Name}`` headers: the transports' name for ``application.param_headers``."""

from __future__ import annotations

from ledgergate.application.param_headers import declarations, param_headers, rendered, schema_param_headers

__all__ = ["declarations", "param_headers", "rendered", "schema_param_headers"]
