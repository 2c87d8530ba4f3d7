"""An upstream MCP server built with the official SDK, run by tests as a subprocess.

    python -m tests.support.upstream_server stdio
    python -m tests.support.upstream_server http PORT [NAME]
    python -m tests.support.upstream_server sse PORT [NAME]

Tools: ``echo``, ``add``, ``counter`` (per-process state), ``whoami`` (reports the server's name).
A resource ``memo://note`` and a prompt ``review``. Setting EXTRA_TOOL=1 adds ``extra``.
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import Context, MCPServer


def build(name: str) -> MCPServer:
    server = MCPServer(name=name)
    count = {"n": 0}

    @server.tool(description="Echo the text back")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Add two numbers")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Count calls in this server process")
    def counter() -> int:
        count["n"] += 1
        return count["n"]

    @server.tool(description="Report progress three times, then answer")
    async def slow_steps(ctx: Context) -> str:
        for step in range(1, 4):
            await ctx.report_progress(step, 3, f"step {step}")
        return "done"

    @server.tool(description="The name of this upstream")
    def whoami() -> str:
        return name

    if os.environ.get("EXTRA_TOOL") == "1":

        @server.tool(description="Only there when EXTRA_TOOL=1")
        def extra() -> str:
            return "extra"

    @server.resource("memo://note", name="note", mime_type="text/plain")
    def note() -> str:
        return f"a note from {name}"

    @server.prompt(description="Ask for a review")
    def review(topic: str) -> str:
        return f"Please review {topic}."

    return server


def main(argv: list[str]) -> None:
    transport = argv[1]
    name = argv[3] if len(argv) > 3 else "upstream"
    server = build(name)
    if transport == "stdio":
        server.run("stdio")
    elif transport == "http":
        server.run("streamable-http", port=int(argv[2]))
    elif transport == "sse":
        server.run("sse", port=int(argv[2]))
    else:
        raise SystemExit(f"unknown transport {transport}")


if __name__ == "__main__":
    main(sys.argv)
