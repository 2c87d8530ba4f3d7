"""Era bridging for a 2026-07-28 client calling an upstream that speaks only the legacy handshake.

Such an upstream asks the client mid-call (``elicitation/create``, ``sampling/createMessage``,
``roots/list``), which a modern client cannot be asked. So the gateway holds the upstream call: the
requests it sends are answered to the client as ``input_required`` with a ``requestState`` of the
gateway's own, sealed (authenticated encryption with the instance's key, bound to tenant, token and
call, expiring), and the client's retry hands its ``inputResponses`` to the waiting upstream call.

The held call lives in the process that made it. A retry that reaches another worker is routed to the
holder through the courier (Redis pub/sub when configured) and the holder's answer comes back the same
way; nothing but the sealed state and the client's answers travels, and only to the one holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledgergate.application.errors import ToolCallError

__all__ = [
    "Binding",
    "Courier",
    "HeldCalls",
    "RequestStateRefusedError",
    "StateSealer",
]

#: an upstream may name the ``inputRequests`` key a mid-call request stands for in its ``_meta``
INPUT_KEY_META = "dev.ledgergate/inputKey"
SHORT = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}
Answer = dict[str, Any]  # {"result": ...} or {"error": {...}}
Run = Callable[["HeldAsker"], Awaitable[dict[str, Any]]]


class RequestStateRefusedError(ToolCallError):
    """A ``requestState`` the gateway sealed failed its check (tampered, expired, another caller's, used)."""

    code = -32602


@dataclass(frozen=True)
class Binding:
    """What a sealed state is bound to: the tenant, the caller's token and the call."""

    tenant_id: str
    caller: str
    method: str
    name: str

    def context(self) -> bytes:
        return "\x1f".join((self.tenant_id, self.caller, self.method, self.name)).encode()


class StateSealer(Protocol):
    PREFIX: str

    def seal(self, claims: dict[str, Any], context: bytes) -> str: ...

    def open(self, sealed: str, context: bytes) -> dict[str, Any] | None:
        """The claims, or None when ``sealed`` fails authentication (tampered, another context)."""
        ...


class Courier(Protocol):
    """Delivers a message to the queue attached under a key, in this process or another."""

    async def attach(self, key: str, queue: asyncio.Queue[bytes]) -> None: ...

    async def detach(self, key: str) -> None: ...

    async def deliver(self, key: str, message: bytes) -> bool: ...


class HeldAsker:
    """Answers the upstream's mid-call requests of one held call. ``parked`` while the client has them:
    the connection then sends the upstream's other requests to the calls still running, never here."""

    def __init__(self) -> None:
        self.parked = False
        #: where the upstream's progress and notifications about the call go this round (None: dropped)
        self.progress: Callable[..., Awaitable[None]] | None = None
        self.notify: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self.pending: dict[str, tuple[dict[str, Any], asyncio.Future[Answer]]] = {}
        self.news = asyncio.Event()
        self._count = 0

    async def __call__(self, method: str, params: dict[str, Any]) -> Answer:
        given = params.get("_meta")
        meta: dict[str, Any] = given if isinstance(given, dict) else {}
        self._count += 1
        named = meta.get(INPUT_KEY_META)
        key = named if isinstance(named, str) and named else f"{SHORT.get(method, 'input')}-{self._count}"
        forwarded: dict[str, Any] = {k: v for k, v in params.items() if k != "_meta"}
        rest = {k: v for k, v in meta.items() if k != INPUT_KEY_META}
        if rest:
            forwarded["_meta"] = rest
        request = {"method": method, "params": forwarded}
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.pending[key] = (request, future)
        self.news.set()
        return await future

    async def relay_progress(self, *args: Any) -> None:
        if self.progress is not None:
            await self.progress(*args)

    async def relay_notify(self, message: dict[str, Any]) -> None:
        if self.notify is not None:
            await self.notify(message)

    def streams(self, progress: Any, notify: Any) -> None:
        """This round's request stream (the retry's): its progress and notifications go there."""
        self.progress, self.notify = progress, notify


@dataclass
class _Held:
    id: str
    binding: Binding
    asker: HeldAsker
    task: asyncio.Task[dict[str, Any]]
    round: int = 0
    busy: bool = False
    expiry: asyncio.TimerHandle | None = None
    serving: asyncio.Task[None] | None = None  # answers retries routed here from other workers
    asked: set[str] = field(default_factory=set)


class HeldCalls:
    """``gather_s``: requests the upstream sends within this long of each other go to the client together."""

    def __init__(
        self, sealer: StateSealer, courier: Courier | None = None, ttl_s: float = 120.0, gather_s: float = 0.02
    ) -> None:
        self.sealer = sealer
        self.courier = courier
        self.ttl_s = ttl_s
        self.gather_s = gather_s
        self._held: dict[str, _Held] = {}
        self._background: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def is_sealed(self, state: Any) -> bool:
        return isinstance(state, str) and state.startswith(self.sealer.PREFIX)

    async def start(self, binding: Binding, run: Run, progress: Any = None, notify: Any = None) -> dict[str, Any]:
        """Run the upstream call, holding it when it asks for input: its result, or ``input_required``.
        ``progress``/``notify``: this request's stream, for the upstream's progress and notifications."""
        asker = HeldAsker()
        asker.streams(progress, notify)
        held = _Held(secrets.token_urlsafe(18), binding, asker, asyncio.ensure_future(run(asker)))
        return await self._outcome(held)

    async def resume(
        self, binding: Binding, state: str, responses: dict[str, Any], progress: Any = None, notify: Any = None
    ) -> dict[str, Any]:
        """The client's retry: its answers go to the held call (here or in the worker holding it).
        ``progress``/``notify``: the retry's stream (a call held in another worker cannot reach it).

        Raises: RequestStateRefusedError."""
        claims = self.sealer.open(state, binding.context())
        if claims is None:
            raise RequestStateRefusedError("requestState failed its integrity check")
        if float(claims.get("e", 0)) < time.time():
            raise RequestStateRefusedError("requestState has expired")
        held = self._held.get(str(claims.get("h")))
        if held is not None:
            if int(claims.get("r", -1)) == held.round and not held.busy:
                held.asker.streams(progress, notify)
            return await self._continue(held, int(claims.get("r", -1)), responses)
        if self.courier is None:
            raise RequestStateRefusedError("the call this requestState belongs to is no longer held")
        return await self._forward(claims, responses)

    # -- the holder ---------------------------------------------------------------------------------

    async def _outcome(self, held: _Held) -> dict[str, Any]:
        """Wait until the upstream call completes or asks; asked requests not yet with the client go out."""
        asker = held.asker
        while True:
            news = asyncio.ensure_future(asker.news.wait())
            try:
                await asyncio.wait({held.task, news}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                news.cancel()
            if held.task.done():
                await self._release(held)
                return held.task.result()
            while True:  # gather the requests sent together
                asker.news.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asker.news.wait(), self.gather_s)
                if not asker.news.is_set() or held.task.done():
                    break
            fresh = {k: request for k, (request, _) in asker.pending.items() if k not in held.asked}
            if not fresh:
                continue
            held.asked |= fresh.keys()
            return await self._park(held, {k: request for k, (request, _) in asker.pending.items()})

    async def _park(self, held: _Held, requests: dict[str, Any]) -> dict[str, Any]:
        held.round += 1
        held.asker.parked = True
        if held.id not in self._held:
            self._held[held.id] = held
            if self.courier is not None:
                queue: asyncio.Queue[bytes] = asyncio.Queue()
                await self.courier.attach(self._key(held.id), queue)
                held.serving = asyncio.ensure_future(self._serve_forwarded(held, queue))
        if held.expiry is not None:
            held.expiry.cancel()
        held.expiry = asyncio.get_running_loop().call_later(self.ttl_s, self._expire, held)
        claims = {"h": held.id, "r": held.round, "e": int(time.time() + self.ttl_s)}
        state = self.sealer.seal(claims, held.binding.context())
        return {"resultType": "input_required", "inputRequests": requests, "requestState": state}

    async def _continue(self, held: _Held, round_: int, responses: dict[str, Any]) -> dict[str, Any]:
        if round_ != held.round or held.busy:
            raise RequestStateRefusedError("requestState was already used")
        held.busy = True
        try:
            asker = held.asker
            answered = [k for k in asker.pending if k in responses and isinstance(responses[k], dict)]
            asker.parked = False
            for key in answered:
                _, future = asker.pending.pop(key)
                held.asked.discard(key)
                if not future.done():
                    future.set_result({"result": responses[key]})
            if asker.pending:  # some answers are missing: ask for them again
                return await self._park(held, {k: request for k, (request, _) in asker.pending.items()})
            return await self._outcome(held)
        finally:
            held.busy = False

    def _expire(self, held: _Held) -> None:
        if held.asker.parked:
            held.task.cancel()  # the SDK tells the upstream the request is cancelled
            self._spawn(self._release(held))

    async def _release(self, held: _Held) -> None:
        if self._held.pop(held.id, None) is not None:
            if held.expiry is not None:
                held.expiry.cancel()
            if held.serving is not None and held.serving is not asyncio.current_task():
                held.serving.cancel()
            if self.courier is not None:
                await self.courier.detach(self._key(held.id))

    # -- a retry reaching another worker --------------------------------------------------------------

    @staticmethod
    def _key(held_id: str) -> str:
        return f"held:{held_id}"

    async def _forward(self, claims: dict[str, Any], responses: dict[str, Any]) -> dict[str, Any]:
        assert self.courier is not None
        reply = f"reply:{secrets.token_urlsafe(12)}"
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        await self.courier.attach(reply, queue)
        try:
            message = {"r": int(claims.get("r", -1)), "responses": responses, "reply": reply}
            if not await self.courier.deliver(self._key(str(claims.get("h"))), json.dumps(message).encode()):
                raise RequestStateRefusedError("the call this requestState belongs to is no longer held")
            async with asyncio.timeout(self.ttl_s):
                answer = json.loads(await queue.get())
        except TimeoutError:
            raise ToolCallError("the worker holding the call did not answer") from None
        finally:
            await self.courier.detach(reply)
        if "refused" in answer:
            raise RequestStateRefusedError(str(answer["refused"]))
        if "failed" in answer:
            raise ToolCallError(str(answer["failed"]))
        return answer["outcome"]  # type: ignore[no-any-return]

    async def _serve_forwarded(self, held: _Held, queue: asyncio.Queue[bytes]) -> None:
        """Retries routed here from other workers, until the call is released (completed or expired)."""
        assert self.courier is not None
        while held.id in self._held:
            message = json.loads(await queue.get())
            held.asker.streams(None, None)
            answer: dict[str, Any]
            try:
                answer = {"outcome": await self._continue(held, int(message["r"]), message["responses"])}
            except RequestStateRefusedError as exc:
                answer = {"refused": str(exc)}
            except Exception as exc:  # the upstream call failed: the retrying worker reports it
                answer = {"failed": str(exc)}
            await self.courier.deliver(str(message["reply"]), json.dumps(answer).encode())
