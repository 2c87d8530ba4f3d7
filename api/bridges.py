"""Protocol bridges: ``wrapper`` (a stdio MCP server in front of the gateway) and ``translate``.

Both are the same proxy: an SDK low-level ``Server`` whose handlers ask an SDK ``Client`` connected
to the real server. ``translate --stdio`` serves a stdio server over streamable HTTP;
``translate --connect`` and ``wrapper`` serve a remote HTTP server over stdio.
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server
from mcp.server.stdio import stdio_server

__all__ = ["proxy_server", "remote_client", "run_http_proxy", "run_stdio_proxy", "stdio_client_for"]


def _cursor(params: Any) -> str | None:
    return getattr(params, "cursor", None) if params is not None else None


def proxy_server(client: Client, name: str) -> Server:
    """A server that answers every request by asking ``client``."""

    async def list_tools(_ctx: Any, params: Any) -> Any:
        return await client.list_tools(cursor=_cursor(params))

    async def call_tool(_ctx: Any, params: Any) -> Any:
        return await client.call_tool(params.name, params.arguments or {})

    async def list_resources(_ctx: Any, params: Any) -> Any:
        return await client.list_resources(cursor=_cursor(params))

    async def list_resource_templates(_ctx: Any, params: Any) -> Any:
        return await client.list_resource_templates(cursor=_cursor(params))

    async def read_resource(_ctx: Any, params: Any) -> Any:
        return await client.read_resource(str(params.uri))

    async def list_prompts(_ctx: Any, params: Any) -> Any:
        return await client.list_prompts(cursor=_cursor(params))

    async def get_prompt(_ctx: Any, params: Any) -> Any:
        return await client.get_prompt(params.name, params.arguments or {})

    return Server(
        name,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


def remote_client(url: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=300))
    return Client(streamable_http_client(url, http_client=http), mode="auto")


def stdio_client_for(command: str) -> Client:
    parts = shlex.split(command)
    return Client(StdioServerParameters(command=parts[0], args=parts[1:]), mode="auto")


async def run_stdio_proxy(client: Client, name: str) -> None:
    """Serve ``client``'s server on this process's standard input and output."""
    async with client:
        server = proxy_server(client, name)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


@asynccontextmanager
async def _entered(client: Client) -> AsyncIterator[Client]:
    async with client:
        yield client


async def run_http_proxy(client: Client, name: str, host: str, port: int) -> None:
    """Serve ``client``'s server over streamable HTTP at ``http://host:port/mcp``."""
    import uvicorn

    async with _entered(client):
        server = proxy_server(client, name)
        app = server.streamable_http_app()
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve()
