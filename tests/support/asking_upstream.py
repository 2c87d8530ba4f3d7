"""An upstream MCP server whose tools need the client mid-call: elicitation, sampling and roots.

    python -m tests.support.asking_upstream http PORT

Built with the official SDK's resolvers: to a 2026-07-28 client each tool answers ``input_required``
and finishes when retried with the responses; in a legacy session it sends the request mid-call.
"""

from __future__ import annotations

import sys
from typing import Annotated

from mcp.server.mcpserver import Elicit, ListRoots, MCPServer, Resolve, Sample
from mcp_types import CreateMessageResult, ListRootsResult, SamplingMessage, TextContent
from pydantic import BaseModel


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

    return server


if __name__ == "__main__":
    build().run("streamable-http", port=int(sys.argv[2]))
