"""Requests the gateway makes of a legacy client while one of its calls runs (sampling, elicitation, roots).

An upstream working on a ``tools/call`` may need the client: a legacy upstream sends
``sampling/createMessage``, ``elicitation/create`` or ``roots/list`` mid-call; a modern one answers
``input_required``. For a legacy client that declared the capability, the gateway asks it on the
call's SSE stream and waits for its answer, which the client POSTs on its session and which may reach
any worker: answers travel like the HTTP+SSE relay's messages, to the worker that asked.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ledgergate.api.mcp.sse_relay import SseRelay
from ledgergate.application.input_relay import ASKABLE, askable_capabilities

__all__ = ["ASKABLE", "ClientRequests", "askable_capabilities"]

ID_PREFIX = "lg-"
Send = Callable[[bytes], None]


class ClientRequests:
    def __init__(self, relay: SseRelay, timeout_s: float = 600.0) -> None:
        self.relay = relay
        self.timeout_s = timeout_s

    async def ask(self, session_id: str, method: str, params: dict[str, Any], send: Send) -> dict[str, Any]:
        """Send a request to the client with ``send`` and wait for its answer: ``{"result": ...}`` or
        ``{"error": ...}`` (also when the client does not answer within ``timeout_s``)."""
        request_id = ID_PREFIX + secrets.token_hex(12)
        key = f"{session_id}/{request_id}"
        answers: asyncio.Queue[bytes] = asyncio.Queue()
        await self.relay.attach(key, answers)
        try:
            send(msgspec.json.encode({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
            async with asyncio.timeout(self.timeout_s):
                answer = msgspec.json.decode(await answers.get())
        except TimeoutError:
            return {"error": {"code": -32001, "message": f"the client did not answer {method} in time"}}
        finally:
            await self.relay.detach(key)
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            return {"error": answer["error"]}
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, dict):
            return {"error": {"code": -32603, "message": f"the client's answer to {method} has no result"}}
        return {"result": result}

    async def answer(self, session_id: str, message: dict[str, Any]) -> bool:
        """A response the client POSTed: hand it to the call waiting for it, here or in another worker."""
        request_id = message.get("id")
        if not isinstance(request_id, str) or not request_id.startswith(ID_PREFIX):
            return False
        return await self.relay.deliver(f"{session_id}/{request_id}", msgspec.json.encode(message))

    def asker(
        self, session_id: str, capabilities: dict[str, Any], send: Send
    ) -> Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]:
        """``ask(method, params)`` for one call: refuses what the client did not declare."""

        async def ask(method: str, params: dict[str, Any]) -> dict[str, Any]:
            if ASKABLE.get(method) not in capabilities:
                return {"error": {"code": -32601, "message": f"the client did not declare support for {method}"}}
            return await self.ask(session_id, method, params, send)

        return ask

    async def close(self) -> None:
        await self.relay.close()
