"""An upstream MCP server that needs its clients: tools asking mid-call, and a subscribable resource.

    python -m tests.support.asking_upstream http PORT
    python -m tests.support.asking_upstream stdio

The tools use the official SDK's resolvers: to a 2026-07-28 client each answers ``input_required`` and
finishes when retried with the responses; in a legacy session it sends the request mid-call (elicitation,
sampling, roots). The resource ``memo://board`` holds the text last given to the tool ``post``, and every
session subscribed to it (``resources/subscribe``) is sent ``notifications/resources/updated`` on a post.
``session_counter`` counts calls per upstream session (``Mcp-Session-Id``). The prompt ``greet`` completes
its argument ``language``. ``sleepy`` sleeps, and ``cancellations`` tells how many of its calls were cancelled.
``authorization`` answers the Authorization header it was called with.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, Elicit, ListRoots, MCPServer, Resolve, Sample
from mcp_types import CreateMessageResult, ListRootsResult, SamplingMessage, TextContent
from pydantic import BaseModel

from tests.support.processes import serving


class Colour(BaseModel):
    colour: str


def ask_colour() -> Elicit[Colour]:
    return Elicit("Which colour do you like?", Colour)


def ask_model() -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text="Say hello"))], max_tokens=20)


def ask_roots() -> ListRoots:
    return ListRoots()


def build() -> MCPServer:
    server = MCPServer(name="asking")

    @server.tool(description="Ask the user for their favourite colour")
    def favourite(answer: Annotated[Colour, Resolve(ask_colour)]) -> str:
        return f"you like {answer.colour}"

    @server.tool(description="Ask the client's model to say hello")
    def greeting(reply: Annotated[CreateMessageResult, Resolve(ask_model)]) -> str:
        content = reply.content
        return f"the model said: {getattr(content, 'text', content)}"

    @server.tool(description="List the client's roots")
    def roots(listing: Annotated[ListRootsResult, Resolve(ask_roots)]) -> str:
        return "roots: " + ", ".join(str(root.uri) for root in listing.roots)

    languages = ["english", "esperanto", "french"]

    @server.prompt(description="Greet someone in a language")
    def greet(language: str) -> str:
        return f"Say hello in {language}"

    @server.completion()
    async def complete(ref: Any, argument: Any, context: Any) -> types.Completion | None:
        if isinstance(ref, types.PromptReference) and ref.name == "greet" and argument.name == "language":
            values = [v for v in languages if v.startswith(argument.value)]
            return types.Completion(values=values, total=len(values), has_more=False)
        return None

    @server.tool(description="The Authorization header this call arrived with")
    def authorization(ctx: Context) -> str:
        return (ctx.headers or {}).get("authorization") or "none"

    cancelled = {"calls": 0}

    @server.tool(description="Sleep for a while, unless cancelled")
    async def sleepy(seconds: float) -> str:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            cancelled["calls"] += 1
            raise
        return "slept"

    @server.tool(description="How many calls of sleepy were cancelled")
    def cancellations() -> str:
        return str(cancelled["calls"])

    per_session: dict[str, int] = {}

    @server.tool(description="Count calls in this upstream session (keyed by the Mcp-Session-Id header)")
    def session_counter(ctx: Context) -> str:
        key = (ctx.headers or {}).get("mcp-session-id") or "no session"
        per_session[key] = per_session.get(key, 0) + 1
        return f"{per_session[key]}"

    board = {"text": "empty"}
    subscribed: set[Any] = set()

    @server.resource("memo://board", description="What was posted last")
    def read_board() -> str:
        return board["text"]

    async def on_subscribe(ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams) -> types.EmptyResult:
        if str(params.uri) == "memo://board":
            subscribed.add(ctx.session)
        return types.EmptyResult()

    async def on_unsubscribe(
        ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        subscribed.discard(ctx.session)
        return types.EmptyResult()

    server._lowlevel_server.add_request_handler("resources/subscribe", types.SubscribeRequestParams, on_subscribe)
    server._lowlevel_server.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, on_unsubscribe)

    @server.tool(description="Post a text on the board; subscribers of memo://board are told")
    async def post(text: str) -> str:
        board["text"] = text
        for session in list(subscribed):
            try:
                await session.send_resource_updated("memo://board")
            except Exception:  # a session that went away
                subscribed.discard(session)
        return f"{len(subscribed)} subscribers told"

    return server


@contextmanager
def running(transport: str = "http") -> Iterator[str]:
    """This server in a subprocess on a free loopback port (``http`` or ``sse``): its URL."""
    with serving("tests.support.asking_upstream", transport) as url:
        yield url


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        build().run("stdio")
    elif sys.argv[1] == "sse":
        build().run("sse", port=int(sys.argv[2]))
    else:
        build().run("streamable-http", port=int(sys.argv[2]))
