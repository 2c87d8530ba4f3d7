"""An upstream MCP server (official SDK) whose tool ``seen`` answers the W3C trace context it was called with.

    python -m tests.support.traced_upstream http PORT

``seen`` returns JSON: ``header`` (the ``traceparent`` HTTP header) and ``meta`` (``_meta.traceparent``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from mcp.server.mcpserver import Context, MCPServer


def _meta(ctx: Context) -> dict[str, Any]:
    meta: Any = ctx.request_context.meta
    if meta is None:
        return {}
    if hasattr(meta, "model_dump"):
        return dict(meta.model_dump())
    return dict(meta)


def build() -> MCPServer:
    server = MCPServer(name="traced")

    @server.tool(description="The trace context this call arrived with")
    def seen(ctx: Context) -> str:
        headers = ctx.headers or {}
        return json.dumps({"header": headers.get("traceparent"), "meta": _meta(ctx).get("traceparent")})

    @server.prompt(description="A prompt")
    def hello(name: str) -> str:
        return f"hello {name}"

    return server


if __name__ == "__main__":
    build().run("streamable-http", port=int(sys.argv[2]))
