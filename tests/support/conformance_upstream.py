"""The upstream the MCP conformance suite is run against: every tool, resource, template and prompt its
server scenarios call, by the exact names they call them (the suite's "everything server").

    python -m tests.support.conformance_upstream http PORT     # streamable HTTP at /mcp
    python -m tests.support.conformance_upstream sse PORT      # legacy HTTP+SSE at /sse
    python -m tests.support.conformance_upstream stdio

Both eras are served: a legacy client is asked mid-call (elicitation, sampling), a 2026-07-28 client
gets ``input_required`` answers (the ``test_input_required_result_*`` tools and prompt). The scenarios
and their expectations are those of ``@modelcontextprotocol/conformance`` 0.1.16 and 0.2.0-alpha.12.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer, RequestStateSecurity
from mcp.server.mcpserver.prompts.base import Prompt, UserMessage
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp.types import (
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    AudioContent,
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequest,
    InputRequiredResult,
    JSONRPCMessage,
    ListRootsRequest,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

# The suite compares these bytes: a 1x1 PNG and a minimal WAV.
IMAGE_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
AUDIO_WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="
# Seals requestState, so a tampered echo is refused (input-required-result-tampered-state). A fixture key.
REQUEST_STATE_KEY = b"ledgergate-conformance-fixture-request-state-key"
NAME_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
CONFIRM_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


class MemoryEventStore(EventStore):
    """Replays a stream's events after a ``Last-Event-ID`` (the SSE polling scenario reconnects)."""

    def __init__(self) -> None:
        self._events: list[tuple[str, str, JSONRPCMessage | None]] = []

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        event_id = str(len(self._events) + 1)
        self._events.append((stream_id, event_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        stream = next((s for s, e, _ in self._events if e == last_event_id), None)
        if stream is None:
            return None
        for stream_id, event_id, message in self._events[int(last_event_id) :]:
            if stream_id == stream and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream


class UserResponse(BaseModel):
    response: str = Field(description="User's response")


class Sep1034Defaults(BaseModel):
    name: str = Field(default="John Doe", description="User name")
    age: int = Field(default=30, description="User age")
    score: float = Field(default=95.5, description="User score")
    status: str = Field(
        default="active", description="User status", json_schema_extra={"enum": ["active", "inactive", "pending"]}
    )
    verified: bool = Field(default=True, description="Verification status")


def _titled(options: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"const": value, "title": title} for value, title in options]


class Sep1330Enums(BaseModel):
    untitledSingle: str = Field(
        description="Simple enum without titles", json_schema_extra={"enum": ["active", "inactive", "pending"]}
    )
    titledSingle: str = Field(
        description="Enum with titled options (oneOf)",
        json_schema_extra={
            "oneOf": _titled([("low", "Low Priority"), ("medium", "Medium Priority"), ("high", "High Priority")])
        },
    )
    untitledMulti: list[str] = Field(
        description="Multi-select without titles",
        json_schema_extra={"items": {"type": "string", "enum": ["read", "write", "execute"]}},
    )
    titledMulti: list[str] = Field(
        description="Multi-select with titled options",
        json_schema_extra={
            "items": {"anyOf": _titled([("feature", "New Feature"), ("bug", "Bug Fix"), ("docs", "Documentation")])}
        },
    )
    legacyEnum: str = Field(
        description="Legacy enum with enumNames",
        json_schema_extra={
            "enum": ["small", "medium", "large"],
            "enumNames": ["Small Size", "Medium Size", "Large Size"],
        },
    )


def _elicit(message: str, schema: dict[str, Any] = NAME_SCHEMA) -> ElicitRequest:
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(text: str, max_tokens: int) -> CreateMessageRequest:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=text))
    return CreateMessageRequest(params=CreateMessageRequestParams(messages=[message], max_tokens=max_tokens))


def _elicited(answer: object, field: str) -> Any:
    return answer.content.get(field) if isinstance(answer, ElicitResult) and answer.content else None


def _add_content_tools(server: MCPServer) -> None:
    @server.tool()
    def fixture_process_id() -> str:
        """The fixture process's id: tells whether two calls reached one upstream process"""
        return str(os.getpid())

    @server.tool()
    def test_simple_text() -> str:
        """Tests simple text content response"""
        return "This is a simple text response for testing."

    @server.tool()
    def test_image_content() -> list[ImageContent]:
        """Tests image content response"""
        return [ImageContent(type="image", data=IMAGE_PNG, mime_type="image/png")]

    @server.tool()
    def test_audio_content() -> list[AudioContent]:
        """Tests audio content response"""
        return [AudioContent(type="audio", data=AUDIO_WAV, mime_type="audio/wav")]

    @server.tool()
    def test_embedded_resource() -> list[EmbeddedResource]:
        """Tests embedded resource content response"""
        text = "This is an embedded resource content."
        contents = TextResourceContents(uri="test://embedded-resource", mime_type="text/plain", text=text)
        return [EmbeddedResource(type="resource", resource=contents)]

    @server.tool()
    def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
        """Tests response with multiple content types (text, image, resource)"""
        data = '{"test": "data", "value": 123}'
        contents = TextResourceContents(uri="test://mixed-content-resource", mime_type="application/json", text=data)
        return [
            TextContent(type="text", text="Multiple content types test:"),
            ImageContent(type="image", data=IMAGE_PNG, mime_type="image/png"),
            EmbeddedResource(type="resource", resource=contents),
        ]

    @server.tool()
    def test_error_handling() -> str:
        """Tests error response handling"""
        raise RuntimeError("This tool intentionally returns an error for testing")

    @server.tool()
    def test_x_mcp_header(
        region: Annotated[
            str, Field(description="Mirrored into Mcp-Param-Region", json_schema_extra={"x-mcp-header": "Region"})
        ] = "<none>",
    ) -> str:
        """Tests SEP-2243 Mcp-Param-* headers (x-mcp-header)"""
        return f"region={region}"

    @server.tool(name="json_schema_2020_12_tool")
    def json_schema_2020_12_tool() -> str:
        """Tests JSON Schema 2020-12 keyword preservation in tools/list"""
        return "json_schema_2020_12_tool"

    # The decorator derives the schema from the signature; this tool must list the 2020-12 schema verbatim.
    server._tool_manager._tools["json_schema_2020_12_tool"].parameters = JSON_SCHEMA_2020_12


def _add_notifying_tools(server: MCPServer) -> None:
    @server.tool()
    async def test_tool_with_logging(ctx: Context) -> str:
        """Tests tool that emits log messages during execution"""
        for message in ("Tool execution started", "Tool processing data", "Tool execution completed"):
            await ctx.info(message)
            await asyncio.sleep(0.05)
        return "Tool with logging executed successfully"

    @server.tool()
    async def test_logging_tool(ctx: Context) -> str:
        """Logs once: a 2026-07-28 request without a logLevel in _meta must see no notifications/message"""
        await ctx.info("test_logging_tool ran")
        return "logged"

    @server.tool()
    async def test_tool_with_progress(ctx: Context) -> str:
        """Tests tool that reports progress notifications"""
        for step in (0, 50, 100):
            await ctx.report_progress(progress=step, total=100, message=f"Completed step {step} of 100")
            await asyncio.sleep(0.05)
        meta = ctx.request_context.meta if ctx.request_context else None
        return str(meta.get("progress_token") if meta else 0)

    @server.tool()
    async def test_reconnection(ctx: Context) -> str:
        """Tests SSE polling by closing the stream mid-call (SEP-1699)"""
        await ctx.info("Before disconnect")
        await ctx.close_sse_stream()
        await asyncio.sleep(0.2)
        await ctx.info("After reconnect")
        return "Reconnection test completed"

    def dynamic() -> str:
        """Added and removed again by the trigger tools"""
        return "dynamic"

    @server.tool()
    async def test_trigger_tool_change(ctx: Context) -> str:
        """Changes the tool list and announces it (SEP-2575 subscriptions/listen)"""
        server.add_tool(dynamic, name="test_dynamic_tool")
        server.remove_tool("test_dynamic_tool")
        await ctx.notify_tools_changed()
        return "tool list changed"

    @server.tool()
    async def test_trigger_prompt_change(ctx: Context) -> str:
        """Changes the prompt list and announces it (SEP-2575 subscriptions/listen)"""
        server.add_prompt(Prompt.from_function(dynamic, name="test_dynamic_prompt", description="dynamic"))
        server.remove_prompt("test_dynamic_prompt")
        await ctx.notify_prompts_changed()
        return "prompt list changed"


def _add_asking_tools(server: MCPServer) -> None:
    """Tools that ask the client mid-call: legacy clients are asked on the call's stream."""

    @server.tool()
    async def test_sampling(prompt: str, ctx: Context) -> str:
        """Tests server-initiated sampling (LLM completion request)"""
        try:
            result = await ctx.session.create_message(
                messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
                max_tokens=100,
                related_request_id=ctx.request_id,
            )
        except Exception as exc:
            return f"Sampling not supported or error: {exc}"
        text = result.content.text if result.content.type == "text" else "No response"
        return f"LLM response: {text}"

    async def elicited(ctx: Context, message: str, schema: type[BaseModel], label: str) -> str:
        try:
            result = await ctx.elicit(message=message, schema=schema)
        except Exception as exc:
            return f"Elicitation not supported or error: {exc}"
        content = result.data.model_dump_json() if result.action == "accept" else "{}"
        return f"{label}: action={result.action}, content={content}"

    @server.tool()
    async def test_elicitation(message: str, ctx: Context) -> str:
        """Tests server-initiated elicitation (user input request)"""
        return await elicited(ctx, message, UserResponse, "User response")

    @server.tool()
    async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
        """Tests elicitation with default values for all primitive types (SEP-1034)"""
        return await elicited(ctx, "Please provide user information", Sep1034Defaults, "Elicitation result")

    @server.tool()
    async def test_elicitation_sep1330_enums(ctx: Context) -> str:
        """Tests elicitation with enum schema variations per SEP-1330"""
        message = "Please select values using different enum schema types"
        return await elicited(ctx, message, Sep1330Enums, "Elicitation completed")

    @server.tool()
    async def test_missing_capability(ctx: Context) -> str:
        """Needs the client's sampling capability: without it, a -32021 protocol error"""
        caps = ctx.client_capabilities
        if caps is None or caps.sampling is None:
            raise MCPError(
                code=MISSING_REQUIRED_CLIENT_CAPABILITY,
                message="This tool requires the client 'sampling' capability",
                data={"requiredCapabilities": {"sampling": {}}},
            )
        return "Client declared sampling capability; proceeding."


Step = Callable[[dict[str, Any], str | None], Awaitable[Any]]
#: names the ``inputRequests`` key a request asked mid-call stands for (a gateway bridging eras keeps it)
INPUT_KEY_META = "dev.ledgergate/inputKey"
ANSWER_TYPES: dict[str, type[BaseModel]] = {
    "elicitation/create": ElicitResult,
    "sampling/createMessage": CreateMessageResult,
    "roots/list": ListRootsResult,
}


async def _ask_mid_call(ctx: Context, requests: dict[str, InputRequest]) -> dict[str, Any]:
    """A legacy session has no ``input_required``: each request goes to the client on the call's stream,
    all at once, naming its key in ``_meta``; the answers come back keyed as ``inputResponses`` would."""

    async def one(key: str, request: InputRequest) -> Any:
        wire = request.model_dump(by_alias=True, exclude_none=True, mode="json")
        wire["params"] = {**(wire.get("params") or {}), "_meta": {INPUT_KEY_META: key}}
        typed = type(request).model_validate(wire)
        metadata = ServerMessageMetadata(related_request_id=ctx.request_id)
        return await ctx.session.send_request(typed, ANSWER_TYPES[request.method], metadata=metadata)  # type: ignore[arg-type]

    answers = await asyncio.gather(*(one(key, request) for key, request in requests.items()))
    return dict(zip(requests, answers, strict=True))


async def _drive(ctx: Context, step: Step) -> Any:
    """Runs a multi-round tool in the client's era: a 2026-07-28 request runs one round (``input_required``
    back to the client, which retries); a legacy one asks each round's requests mid-call until complete."""
    if (ctx.protocol_version or "") >= "2026-07-28":
        return await step(ctx.input_responses or {}, ctx.request_state)
    responses: dict[str, Any] = {}
    state: str | None = None
    for _ in range(8):
        outcome = await step(responses, state)
        if not isinstance(outcome, InputRequiredResult):
            return outcome
        responses, state = await _ask_mid_call(ctx, dict(outcome.input_requests or {})), outcome.request_state
    raise RuntimeError("too many rounds")


def _add_input_required_tools(server: MCPServer) -> None:
    """Tools that need the client's input (SEP-2322): 2026-07-28 clients get ``input_required`` and retry;
    legacy clients are asked mid-call (see :func:`_drive`)."""

    @server.tool()
    async def test_input_required_result_elicitation(ctx: Context) -> str | InputRequiredResult:
        """Tests InputRequiredResult with a single elicitation request"""

        async def step(responses: dict[str, Any], state: str | None) -> Any:
            if "user_name" in responses:
                return f"Hello, {_elicited(responses['user_name'], 'name') or 'stranger'}!"
            return InputRequiredResult(input_requests={"user_name": _elicit("What is your name?")})

        return await _drive(ctx, step)  # type: ignore[no-any-return]

    @server.tool()
    async def test_streaming_elicitation(ctx: Context) -> str | InputRequiredResult:
        """Needs elicitation; its response stream carries progress and an input_required, never a request"""

        async def step(responses: dict[str, Any], state: str | None) -> Any:
            if "user_name" in responses:
                return f"Hello, {_elicited(responses['user_name'], 'name') or 'stranger'}!"
            await ctx.report_progress(progress=50, total=100, message="asking")
            return InputRequiredResult(input_requests={"user_name": _elicit("What is your name?")})

        return await _drive(ctx, step)  # type: ignore[no-any-return]

    @server.tool()
    async def test_input_required_result_sampling(ctx: Context) -> str | InputRequiredResult:
        """Tests InputRequiredResult with a single sampling request"""

        async def step(responses: dict[str, Any], state: str | None) -> Any:
            answer = responses.get("capital_question")
            if answer is not None:
                ok = isinstance(answer, CreateMessageResult) and answer.content.type == "text"
                return f"Model said: {answer.content.text if ok else '?'}"  # type: ignore[union-attr]
            return InputRequiredResult(
                input_requests={"capital_question": _sample("What is the capital of France?", 100)}
            )

        return await _drive(ctx, step)  # type: ignore[no-any-return]

    @server.tool()
    async def test_input_required_result_list_roots(ctx: Context) -> str | InputRequiredResult:
        """Tests InputRequiredResult with a single roots/list request"""

        async def step(responses: dict[str, Any], state: str | None) -> Any:
            answer = responses.get("client_roots")
            if answer is not None:
                return f"Client exposed {len(answer.roots) if isinstance(answer, ListRootsResult) else 0} root(s)."
            return InputRequiredResult(input_requests={"client_roots": ListRootsRequest()})

        return await _drive(ctx, step)  # type: ignore[no-any-return]

    @server.tool()
    async def test_input_required_result_request_state(ctx: Context) -> str | InputRequiredResult:
        """Tests requestState round-tripping in the InputRequiredResult flow"""

        async def step(responses: dict[str, Any], state: str | None) -> Any:
            if "confirm" in responses and state == "request-state-nonce":
                return "state-ok: confirmation received"
            confirm = _elicit("Please confirm", CONFIRM_SCHEMA)
            return InputRequiredResult(input_requests={"confirm": confirm}, request_state="request-state-nonce")

        return await _drive(ctx, step)  # type: ignore[no-any-return]

    @server.tool()
    async def test_input_required_result_multiple_inputs(ctx: Context) -> str | InputRequiredResult:
        """Tests InputRequiredResult carrying elicitation, sampling and roots requests together"""

        async def step(responses: dict[str, Any], state: str | None) -> Any:
            if {"user_name", "greeting", "client_roots"} <= responses.keys():
                return "All inputs received."
            requests: dict[str, InputRequest] = {
                "user_name": _elicit("What is your name?"),
                "greeting": _sample("Generate a greeting", 50),
                "client_roots": ListRootsRequest(),
            }
            return InputRequiredResult(input_requests=requests, request_state="multiple-inputs")

        return await _drive(ctx, step)  # type: ignore[no-any-return]

    @server.tool()
    async def test_input_required_result_multi_round(ctx: Context) -> str | InputRequiredResult:
        """Tests a three-round InputRequiredResult flow with evolving requestState"""

        async def step(responses: dict[str, Any], request_state: str | None) -> Any:
            state = json.loads(request_state) if request_state else {"round": 0}
            if state["round"] == 1 and "step1" in responses:
                color = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
                name = _elicited(responses["step1"], "name")
                return InputRequiredResult(
                    input_requests={"step2": _elicit("Step 2: What is your favorite color?", color)},
                    request_state=json.dumps({"round": 2, "name": name}),
                )
            if state["round"] == 2 and "step2" in responses:
                return f"{state.get('name')} likes {_elicited(responses['step2'], 'color')}."
            return InputRequiredResult(
                input_requests={"step1": _elicit("Step 1: What is your name?")}, request_state=json.dumps({"round": 1})
            )

        return await _drive(ctx, step)  # type: ignore[no-any-return]

    @server.tool()
    async def test_input_required_result_tampered_state(ctx: Context) -> str | InputRequiredResult:
        """Tests that a tampered requestState echo is refused (the SDK's sealed-state boundary does it)"""

        async def step(responses: dict[str, Any], state: str | None) -> Any:
            if state is None:
                confirm = _elicit("Please confirm", CONFIRM_SCHEMA)
                return InputRequiredResult(input_requests={"confirm": confirm}, request_state="round-1")
            return f"state-ok: {state}"

        return await _drive(ctx, step)  # type: ignore[no-any-return]

    @server.tool()
    async def test_input_required_result_capabilities(ctx: Context) -> str | InputRequiredResult:
        """Tests that inputRequests only ask for what the client declared"""

        async def step(responses: dict[str, Any], state: str | None) -> Any:
            if responses:
                return f"Answered: {', '.join(sorted(responses))}."
            caps = ctx.client_capabilities
            requests: dict[str, InputRequest] = {}
            if caps is None or caps.sampling is not None:
                requests["sample"] = _sample("Say hello", 50)
            if caps is None or caps.elicitation is not None:
                requests["ask"] = _elicit("What is your name?")
            return InputRequiredResult(input_requests=requests, request_state="capability-gated")

        return await _drive(ctx, step)  # type: ignore[no-any-return]


def _add_resources(server: MCPServer) -> None:
    @server.resource("test://static-text")
    def static_text() -> str:
        """A static text resource for testing"""
        return "This is the content of the static text resource."

    @server.resource("test://static-binary")
    def static_binary() -> bytes:
        """A static binary resource (image) for testing"""
        return base64.b64decode(IMAGE_PNG)

    @server.resource("test://template/{id}/data")
    def template_data(id: str) -> str:
        """A resource template with parameter substitution"""
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})

    @server.resource("test://watched-resource")
    def watched() -> str:
        """A resource that can be subscribed to for updates"""
        return "Watched resource content"


def _add_prompts(server: MCPServer) -> None:
    @server.prompt()
    def test_simple_prompt() -> list[UserMessage]:
        """A simple prompt without arguments"""
        return [UserMessage(role="user", content=TextContent(type="text", text="This is a simple prompt for testing."))]

    @server.prompt()
    def test_prompt_with_arguments(arg1: str, arg2: str) -> list[UserMessage]:
        """A prompt with required arguments"""
        text = f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
        return [UserMessage(role="user", content=TextContent(type="text", text=text))]

    @server.prompt()
    def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:
        """A prompt that includes an embedded resource"""
        text = "Embedded resource content for testing."
        contents = TextResourceContents(uri=resourceUri, mime_type="text/plain", text=text)
        return [
            UserMessage(role="user", content=EmbeddedResource(type="resource", resource=contents)),
            UserMessage(
                role="user", content=TextContent(type="text", text="Please process the embedded resource above.")
            ),
        ]

    @server.prompt()
    def test_prompt_with_image() -> list[UserMessage]:
        """A prompt that includes image content"""
        return [
            UserMessage(role="user", content=ImageContent(type="image", data=IMAGE_PNG, mime_type="image/png")),
            UserMessage(role="user", content=TextContent(type="text", text="Please analyze the image above.")),
        ]

    @server.prompt()
    async def test_input_required_result_prompt(ctx: Context) -> list[UserMessage] | InputRequiredResult:
        """Tests InputRequiredResult from prompts/get (SEP-2322 non-tool request)"""

        async def step(responses: dict[str, Any], state: str | None) -> Any:
            answer = responses.get("user_context")
            if answer is not None:
                text = f"Use the following context: {_elicited(answer, 'context') or '?'}"
                return [UserMessage(role="user", content=TextContent(type="text", text=text))]
            schema = {"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}
            return InputRequiredResult(
                input_requests={"user_context": _elicit("What context should the prompt use?", schema)}
            )

        return await _drive(ctx, step)  # type: ignore[no-any-return]


def _add_handlers(server: MCPServer) -> None:
    """Logging level, subscriptions and completion: accepted, as the scenarios only check the answers."""

    async def set_level(ctx: ServerRequestContext, params: SetLevelRequestParams) -> EmptyResult:
        return EmptyResult()

    async def subscribe(ctx: ServerRequestContext, params: SubscribeRequestParams) -> EmptyResult:
        return EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext, params: UnsubscribeRequestParams) -> EmptyResult:
        return EmptyResult()

    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)

    @server.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion:
        return Completion(values=[], total=0, has_more=False)


def build() -> MCPServer:
    server = MCPServer(
        name="ledgergate-conformance-upstream",
        version="1.0.0",
        request_state_security=RequestStateSecurity(keys=[REQUEST_STATE_KEY]),
    )
    _add_content_tools(server)
    _add_notifying_tools(server)
    _add_asking_tools(server)
    _add_input_required_tools(server)
    _add_resources(server)
    _add_prompts(server)
    _add_handlers(server)
    return server


def main(argv: list[str]) -> None:
    transport = argv[1] if len(argv) > 1 else ""
    server = build()
    if transport == "stdio":
        server.run("stdio")
    elif transport == "http":
        server.run("streamable-http", port=int(argv[2]), event_store=MemoryEventStore(), retry_interval=100)
    elif transport == "sse":
        server.run("sse", port=int(argv[2]))
    else:
        raise SystemExit("usage: python -m tests.support.conformance_upstream http PORT | sse PORT | stdio")


if __name__ == "__main__":
    main(sys.argv)
