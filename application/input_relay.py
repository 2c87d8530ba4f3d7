"""What an upstream may need from the client during one forwarded call: the input relay.

A legacy client that declared sampling, elicitation or roots can be asked mid-call (``ask``, served by
the transport on the call's stream); a modern client gets an upstream's ``input_required`` and retries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ledgergate.application.errors import ToolCallError
from ledgergate.application.ports import Ask, Notification

__all__ = ["ASKABLE", "MAX_INPUT_ROUNDS", "InputRelay", "askable_capabilities"]

#: server-to-client methods, and the client capability each needs
ASKABLE = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation", "roots/list": "roots"}
MAX_INPUT_ROUNDS = 8


def askable_capabilities(capabilities: dict[str, Any] | None) -> dict[str, Any]:
    """The client's capabilities the gateway can serve on its behalf: sampling, elicitation, roots."""
    wanted = set(ASKABLE.values())
    return {k: v for k, v in (capabilities or {}).items() if k in wanted}


@dataclass
class InputRelay:
    """What an upstream may need from the client during one call.

    ``capabilities``: the client capabilities declared to a modern upstream (so it may answer
    ``input_required``). ``retry_params``: ``inputResponses``/``requestState`` of a modern client's
    retry, passed through. ``ask``: for a legacy client that declared sampling, elicitation or roots,
    asks it; requests of a legacy upstream and ``input_required`` of a modern one are then fulfilled
    by the gateway. Without ``ask``, ``input_required`` goes back to the (modern) client as it came.
    """

    capabilities: dict[str, Any] = field(default_factory=dict)
    retry_params: dict[str, Any] = field(default_factory=dict)
    ask: Ask | None = None
    #: the client's log level (None: it asked for no log messages) and where its call's notifications go
    log_level: str | None = None
    notify: Notification | None = None
    #: a 2026-07-28 client: an upstream's ``input_required`` is passed to it and its retry passed back
    modern: bool = False
    #: the caller's token: a requestState the gateway seals for a held call is bound to it
    caller: str = ""

    @property
    def on_request(self) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None:
        ask = self.ask
        if ask is None:
            return None

        async def answer(message: dict[str, Any]) -> dict[str, Any]:
            params = message.get("params")
            return await ask(str(message.get("method")), params if isinstance(params, dict) else {})

        return answer

    async def fulfil(self, result: dict[str, Any]) -> dict[str, Any]:
        """Ask the client each of an ``input_required`` result's requests: the retry's extra params.

        Raises: ToolCallError when the client refuses one."""
        assert self.ask is not None
        responses = {}
        requests = result.get("inputRequests")
        for key, request in (requests if isinstance(requests, dict) else {}).items():
            params = request.get("params") if isinstance(request, dict) else None
            method = str(request.get("method")) if isinstance(request, dict) else "?"
            answer = await self.ask(method, params if isinstance(params, dict) else {})
            if "result" not in answer:
                raise ToolCallError(f"the client did not fulfil {method}: {answer.get('error')}")
            responses[key] = answer["result"]
        retry: dict[str, Any] = {"inputResponses": responses}
        if result.get("requestState") is not None:
            retry["requestState"] = result["requestState"]
        return retry
