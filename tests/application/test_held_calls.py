"""Era bridging for a modern client and a legacy-only upstream, with fakes of the sealer and the courier.

The "upstream call" is a coroutine that asks through the asker it is given, as a legacy connection's
callbacks would; two ``HeldCalls`` sharing one courier stand for two workers of an instance.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ledgergate.application.errors import ToolCallError
from ledgergate.application.held_calls import INPUT_KEY_META, Binding, HeldAsker, HeldCalls, RequestStateRefusedError

BINDING = Binding("acme", "token-1", "tools/call", "upstream-1/greet")
ELICIT = {"message": "Your name?", "requestedSchema": {"type": "object", "properties": {}}}


class FakeSealer:
    """Readable, and authenticated by a plain checksum over the claims and the binding."""

    PREFIX = "fake."

    def seal(self, claims: dict[str, Any], context: bytes) -> str:
        body = json.dumps(claims, sort_keys=True)
        return f"{self.PREFIX}{body}|{hash((body, context))}"

    def open(self, sealed: str, context: bytes) -> dict[str, Any] | None:
        body, _, check = sealed[len(self.PREFIX) :].rpartition("|")
        if check != str(hash((body, context))):
            return None
        return json.loads(body)  # type: ignore[no-any-return]


class FakeCourier:
    """One in-memory bus for every worker: a message reaches the queue attached under its key."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[bytes]] = {}

    async def attach(self, key: str, queue: asyncio.Queue[bytes]) -> None:
        self.queues[key] = queue

    async def detach(self, key: str) -> None:
        self.queues.pop(key, None)

    async def deliver(self, key: str, message: bytes) -> bool:
        queue = self.queues.get(key)
        if queue is None:
            return False
        queue.put_nowait(message)
        return True


def _name(answer: dict[str, Any]) -> str:
    return str(answer["result"]["content"]["name"])


async def greet(asker: HeldAsker) -> dict[str, Any]:
    answer = await asker("elicitation/create", {**ELICIT, "_meta": {INPUT_KEY_META: "user_name"}})
    return {"content": [{"type": "text", "text": f"Hello, {_name(answer)}!"}]}


def _accept(**content: Any) -> dict[str, Any]:
    return {"action": "accept", "content": content}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_call_that_asks_is_held_and_its_retry_completes_it() -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        held = HeldCalls(FakeSealer())
        first = await held.start(BINDING, greet)
        done = await held.resume(BINDING, first["requestState"], {"user_name": _accept(name="Ada")})
        return first, done

    first, done = run(scenario())
    assert first["resultType"] == "input_required"
    assert first["inputRequests"] == {"user_name": {"method": "elicitation/create", "params": ELICIT}}
    assert done == {"content": [{"type": "text", "text": "Hello, Ada!"}]}


def test_a_call_that_never_asks_answers_its_result_and_an_upstream_failure_propagates() -> None:
    async def plain(asker: HeldAsker) -> dict[str, Any]:
        return {"content": []}

    async def failing(asker: HeldAsker) -> dict[str, Any]:
        raise ToolCallError("upstream gone")

    held = HeldCalls(FakeSealer())
    assert run(held.start(BINDING, plain)) == {"content": []}
    with pytest.raises(ToolCallError, match="upstream gone"):
        run(held.start(BINDING, failing))


def test_requests_sent_together_go_in_one_round_and_rounds_follow_each_other() -> None:
    async def call(asker: HeldAsker) -> dict[str, Any]:
        both = await asyncio.gather(asker("elicitation/create", ELICIT), asker("roots/list", {}))
        later = await asker("sampling/createMessage", {"messages": [], "maxTokens": 5})
        return {"answers": [*both, later]}

    async def scenario() -> tuple[Any, ...]:
        held = HeldCalls(FakeSealer())
        first = await held.start(BINDING, call)
        answers = {key: {"ok": key} for key in first["inputRequests"]}
        second = await held.resume(BINDING, first["requestState"], answers)
        done = await held.resume(BINDING, second["requestState"], {k: {"ok": k} for k in second["inputRequests"]})
        return first, second, done

    first, second, done = run(scenario())
    assert sorted(first["inputRequests"]) == ["elicitation-1", "roots-2"]
    assert list(second["inputRequests"]) == ["sampling-3"]
    assert second["requestState"] != first["requestState"]
    assert done == {
        "answers": [
            {"result": {"ok": "elicitation-1"}},
            {"result": {"ok": "roots-2"}},
            {"result": {"ok": "sampling-3"}},
        ]
    }


def test_a_missing_answer_is_asked_again() -> None:
    async def call(asker: HeldAsker) -> dict[str, Any]:
        answers = await asyncio.gather(asker("elicitation/create", ELICIT), asker("roots/list", {}))
        return {"answers": list(answers)}

    async def scenario() -> tuple[Any, Any]:
        held = HeldCalls(FakeSealer())
        first = await held.start(BINDING, call)
        again = await held.resume(BINDING, first["requestState"], {"elicitation-1": {"a": 1}, "stray": {}})
        done = await held.resume(BINDING, again["requestState"], {"roots-2": {"roots": []}})
        return again, done

    again, done = run(scenario())
    assert list(again["inputRequests"]) == ["roots-2"]
    assert done == {"answers": [{"result": {"a": 1}}, {"result": {"roots": []}}]}


def test_a_tampered_a_foreign_or_a_used_state_is_refused_and_changes_nothing() -> None:
    async def scenario() -> list[str]:
        held = HeldCalls(FakeSealer())
        first = await held.start(BINDING, greet)
        state = first["requestState"]
        refused = []
        for binding, sealed in (
            (BINDING, state.replace('"r": 1', '"r": 2')),  # tampered
            (Binding("acme", "token-2", "tools/call", "upstream-1/greet"), state),  # another token
            (Binding("other", "token-1", "tools/call", "upstream-1/greet"), state),  # another tenant
            (Binding("acme", "token-1", "prompts/get", "upstream-1/greet"), state),  # another call
        ):
            with pytest.raises(RequestStateRefusedError) as caught:
                await held.resume(binding, sealed, {"user_name": _accept(name="Eve")})
            refused.append(str(caught.value))
        done = await held.resume(BINDING, state, {"user_name": _accept(name="Ada")})
        assert done["content"][0]["text"] == "Hello, Ada!"
        with pytest.raises(RequestStateRefusedError) as caught:  # the call completed: its state is spent
            await held.resume(BINDING, state, {"user_name": _accept(name="Ada")})
        refused.append(str(caught.value))
        return refused

    refused = run(scenario())
    assert refused[:4] == ["requestState failed its integrity check"] * 4
    assert "no longer held" in refused[4]
    assert RequestStateRefusedError.code == -32602


def test_a_held_call_expires_and_its_upstream_call_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def call(asker: HeldAsker) -> dict[str, Any]:
        try:
            await asker("elicitation/create", ELICIT)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    async def scenario() -> None:
        held = HeldCalls(FakeSealer(), ttl_s=0.05)
        first = await held.start(BINDING, call)
        await asyncio.wait_for(cancelled.wait(), 5)
        with pytest.raises(RequestStateRefusedError):
            await held.resume(BINDING, first["requestState"], {"elicitation-1": {}})

    run(scenario())


def test_a_retry_reaching_another_worker_is_routed_to_the_holder() -> None:
    async def scenario() -> tuple[Any, Any]:
        courier = FakeCourier()
        holder, other = HeldCalls(FakeSealer(), courier), HeldCalls(FakeSealer(), courier)

        async def two_rounds(asker: HeldAsker) -> dict[str, Any]:
            first = await asker("elicitation/create", ELICIT)
            second = await asker("elicitation/create", ELICIT)
            return {"names": [_name(first), _name(second)]}

        first = await holder.start(BINDING, two_rounds)
        second = await other.resume(BINDING, first["requestState"], {"elicitation-1": _wrap("Ada")})
        done = await other.resume(BINDING, second["requestState"], {"elicitation-2": _wrap("Bob")})
        with pytest.raises(RequestStateRefusedError):  # completed: the holder no longer listens
            await other.resume(BINDING, second["requestState"], {"elicitation-2": _wrap("Bob")})
        return second, done

    second, done = run(scenario())
    assert second["resultType"] == "input_required"
    assert done == {"names": ["Ada", "Bob"]}


def _wrap(name: str) -> dict[str, Any]:
    return {"content": {"name": name}}
