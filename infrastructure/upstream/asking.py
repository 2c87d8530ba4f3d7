"""Requests an upstream sends to the client mid-call (sampling, elicitation, roots), routed to the
downstream client whose call is in flight on the connection, and to no other."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

import mcp_types as types

__all__ = ["Ask", "Askers", "Notify"]

Ask = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Notify = Callable[[dict[str, Any]], Awaitable[None]]
_asking: ContextVar[Ask | None] = ContextVar("ledgergate_upstream_ask", default=None)


class Askers:
    """Who answers an upstream's requests to the client (sampling, elicitation, roots) on one connection.

    A modern upstream's ``input_required`` is fulfilled in the calling task, which names its asker. A legacy
    upstream's request arrives on the connection's reader task: it goes to the only call in flight that can
    ask, or, on a ``per_client`` connection, to any of them (they are the same client's). Several calls of
    different clients on a shared connection cannot be told apart, so the request is refused rather than
    shown to the wrong client.
    """

    def __init__(self, exclusive: bool) -> None:
        self.exclusive = exclusive
        self._active: dict[int, Ask] = {}
        self._listening: dict[int, Notify] = {}

    @contextlib.contextmanager
    def during(self, ask: Ask | None, notify: Notify | None = None) -> Iterator[None]:
        """``notify``: where log messages the upstream sends meanwhile go (attributed like its requests)."""
        if notify is not None:
            self._listening[id(notify)] = notify
        try:
            if ask is None:
                yield
                return
            key = id(ask)
            self._active[key] = ask
            token = _asking.set(ask)
            try:
                yield
            finally:
                _asking.reset(token)
                self._active.pop(key, None)
        finally:
            if notify is not None:
                self._listening.pop(id(notify), None)

    async def log(self, params: Any) -> None:
        """A log message arrives on the connection's reader: to the one call listening, never to a guess."""
        if len(self._listening) == 1 or (self.exclusive and self._listening):
            notify = next(reversed(self._listening.values()))
            wire = params.model_dump(by_alias=True, exclude_none=True, mode="json")
            await notify({"jsonrpc": "2.0", "method": "notifications/message", "params": wire})

    def pick(self) -> Ask | None:
        """A call held for its client's answers (``parked``) has its requests out: it is never picked."""
        ask = _asking.get()
        if ask is not None:
            return ask
        running = [ask for ask in self._active.values() if not getattr(ask, "parked", False)]
        if len(running) == 1 or (self.exclusive and running):
            return running[-1]
        return None

    async def _answer(self, method: str, params: Any, result_type: Any) -> Any:
        ask = self.pick()
        if ask is None:
            return types.ErrorData(code=types.INVALID_REQUEST, message=f"no client can answer {method} now")
        wire = params.model_dump(by_alias=True, exclude_none=True, mode="json") if params is not None else {}
        answer = await ask(method, wire)
        if "result" not in answer:
            error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
            return types.ErrorData(code=int(error.get("code", types.INTERNAL_ERROR)), message=str(error.get("message")))
        return result_type.model_validate(answer["result"])

    async def sampling(self, context: Any, params: Any) -> Any:
        return await self._answer("sampling/createMessage", params, types.CreateMessageResult)

    async def elicitation(self, context: Any, params: Any) -> Any:
        return await self._answer("elicitation/create", params, types.ElicitResult)

    async def roots(self, context: Any) -> Any:
        return await self._answer("roots/list", None, types.ListRootsResult)
