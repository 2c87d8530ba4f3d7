"""The SSE streams of the MCP endpoints: a call's progress, list_changed and relayed messages.

A stream of a legacy session keeps the session in use while it is open (each quiet ``touch_s`` it
restarts the idle time) and ends when the session has ended elsewhere (deleted, expired, or given up
to its token's quota). Every stream holds one of its token's stream slots until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from litestar import Response
from litestar.response import Stream

from ledgergate.api.mcp.admission import Slot, over_limit_reply
from ledgergate.api.mcp.gateway import EventsReply, StreamReply
from ledgergate.api.mcp.notifications import Subscriber
from ledgergate.api.mcp.protocol import notification_body
from ledgergate.api.mcp.replies import Reply
from ledgergate.api.mcp.resource_updates import LIVE_WAIT_S, StreamSink
from ledgergate.api.mcp.state import KEEPALIVE_S, McpState
from ledgergate.application.errors import ToolCallError
from ledgergate.application.sessions import SessionStoreUnavailableError

__all__ = ["SSE_HEADERS", "Touch", "call_stream", "events", "listen_stream", "response", "subscribed_stream", "toucher"]

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
#: keeps a stream's session in use; False when the session has ended
Touch = Callable[[], Awaitable[bool]]


def call_stream(state: McpState, reply: EventsReply, sse_session: str | None) -> Any:
    """A call reporting progress: its messages as SSE on this response, or on the client's HTTP+SSE stream."""
    if sse_session is None:

        async def sse() -> AsyncIterator[bytes]:
            async for message in reply.messages:
                yield b"event: message\ndata: " + message + b"\n\n"

        return Stream(sse(), media_type="text/event-stream", headers=SSE_HEADERS)

    async def pump() -> None:
        async for message in reply.messages:
            with contextlib.suppress(SessionStoreUnavailableError):  # the stream's worker is out of reach
                await state.relay.deliver(sse_session, message)

    state.background.add(task := asyncio.create_task(pump()))
    task.add_done_callback(state.background.discard)
    return Response(content=b"", status_code=202, media_type="text/plain")


def response(reply: Reply) -> Response[bytes]:
    return Response(content=reply.body, status_code=reply.status, media_type=reply.media_type, headers=reply.headers)


async def events(
    queue: asyncio.Queue[bytes],
    first: list[bytes],
    event: str = "message",
    touch: Touch | None = None,
    keepalive_s: float = KEEPALIVE_S,
) -> AsyncIterator[bytes]:
    """The stream's messages; a keep-alive comment when it is quiet, when ``touch`` also keeps the
    session in use (the stream ends when it answers False: the session ended elsewhere)."""
    for message in first:
        yield message
    while True:
        try:
            message = await asyncio.wait_for(queue.get(), timeout=keepalive_s)
        except TimeoutError:
            if touch is not None and not await touch():
                return
            yield b": keep-alive\n\n"
            continue
        yield b"event: " + event.encode() + b"\ndata: " + message + b"\n\n"


def toucher(state: McpState, session_id: str, tenant_id: str, token_id: str) -> Touch:
    async def touch() -> bool:
        try:
            return await state.sessions.use(session_id, tenant_id, token_id) is not None
        except SessionStoreUnavailableError:  # keep the stream through the outage
            return True

    return touch


def subscribed_stream(
    state: McpState,
    subscriber: Subscriber,
    first: list[bytes],
    channel: str | None = None,
    ends_session: bool = True,
    on_close: Any = None,
    slot: Slot | None = None,
    touch: Touch | None = None,
) -> Stream:
    """``channel``: the session whose relayed messages this stream carries; the session ends with the
    stream if ``ends_session`` (HTTP+SSE). ``on_close``: called when the stream ends. ``slot``: the
    token's stream slot, given back when the stream ends (or is dropped before it starts)."""

    async def stream() -> AsyncIterator[bytes]:
        try:
            state.hub.subscribe(subscriber)
            if channel is not None:
                await state.relay.attach(channel, subscriber.queue)
            async for chunk in events(subscriber.queue, first, touch=touch, keepalive_s=state.touch_s):
                yield chunk
        finally:
            if slot is not None:
                slot.release()
            state.hub.unsubscribe(subscriber)
            if on_close is not None:
                on_close()
            if channel is not None:
                await state.relay.detach(channel)
                if ends_session:
                    with contextlib.suppress(SessionStoreUnavailableError):  # it expires by itself
                        await state.sessions.delete(channel)

    body = stream()
    if slot is not None:
        slot.bind(body)
    return Stream(body, media_type="text/event-stream", headers=SSE_HEADERS)


async def listen_stream(state: McpState, reply: StreamReply, token_id: str) -> Stream | Response[bytes]:
    slot = state.streams.take(token_id)
    if slot is None:
        return response(over_limit_reply(reply.subscription_id, state.streams))
    try:
        return await _listen(state, reply, slot)
    except BaseException:
        slot.release()
        raise


async def _listen(state: McpState, reply: StreamReply, slot: Slot) -> Stream:
    meta = {"io.modelcontextprotocol/subscriptionId": reply.subscription_id}
    subscriber = Subscriber(
        reply.snapshot.tenant_id,
        reply.snapshot.server_id,
        reply.kinds,
        lambda method: notification_body(method, {"_meta": meta}),
        asyncio.get_running_loop(),
    )
    sink = StreamSink(subscriber.offer, reply.subscription_id)
    watches = []
    try:
        for row in reply.resources:
            if not row["doc"].get("source"):
                continue
            try:
                watches.append(state.updates.add(reply.snapshot.tenant_id, row, sink))
            except ToolCallError:  # its upstream went away after the snapshot was taken: nothing to watch
                continue
        # acknowledge once the upstream subscriptions are live, so a change made right after is not missed
        await asyncio.gather(*(watch.until_live(LIVE_WAIT_S) for watch in watches))
    except BaseException:  # no stream will end them: let go of the subscriptions taken so far
        state.updates.discard(sink)
        raise

    def closed() -> None:
        sink.open = False
        state.updates.discard(sink)

    first = [b"event: message\ndata: " + reply.first + b"\n\n"]
    return subscribed_stream(state, subscriber, first, on_close=closed, slot=slot)
