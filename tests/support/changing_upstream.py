"""An upstream MCP server whose tool list changes while it runs, and which says so.

    python -m tests.support.changing_upstream http PORT

``grow(name)`` adds a tool ``name`` (it answers "I am <name>"), ``shrink(name)`` removes one; each
sends ``notifications/tools/list_changed`` to every session the server has (the SDK server only
knows how to notify one session, so the sessions are remembered as they initialize).
"""

from __future__ import annotations

import sys
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer


def build() -> MCPServer:
    server = MCPServer(name="changing")
    sessions: set[Any] = set()

    async def on_initialized(ctx: ServerRequestContext[Any], params: types.NotificationParams) -> None:
        sessions.add(ctx.session)

    server._lowlevel_server.add_notification_handler(
        "notifications/initialized", types.NotificationParams, on_initialized
    )

    async def tell_everyone() -> int:
        told = 0
        for session in list(sessions):
            try:
                await session.send_tool_list_changed()
                told += 1
            except Exception:  # a session that went away
                sessions.discard(session)
        return told

    @server.tool(description="Always there")
    def stable() -> str:
        return "stable"

    @server.tool(description="Add a tool with this name and tell every session")
    async def grow(name: str) -> str:
        def grown() -> str:
            return f"I am {name}"

        server.add_tool(grown, name=name, description=f"Grown at run time: {name}")
        return f"{await tell_everyone()} sessions told"

    @server.tool(description="Remove the tool with this name and tell every session")
    async def shrink(name: str) -> str:
        server.remove_tool(name)
        return f"{await tell_everyone()} sessions told"

    return server


if __name__ == "__main__":
    build().run("sse" if sys.argv[1] == "sse" else "streamable-http", port=int(sys.argv[2]))
