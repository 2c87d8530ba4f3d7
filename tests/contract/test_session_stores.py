"""The session store contract, on memory and on Redis: quotas per token and per tenant, eviction only
within the token at its quota, idle expiry, ownership; and a Redis that is away is the port's error."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgergate.application.sessions import (
    McpSession,
    SessionLimits,
    SessionQuotaError,
    SessionStore,
    SessionStoreUnavailableError,
)
from ledgergate.infrastructure.memory_sessions import InMemorySessionStore
from ledgergate.infrastructure.rate_limits import RedisRateLimiter
from ledgergate.infrastructure.redis.channels import RedisChannels
from ledgergate.infrastructure.redis.health import RedisHealth
from ledgergate.infrastructure.redis.leases import RedisLeases
from ledgergate.infrastructure.redis.log_signal import RedisLogSignal
from ledgergate.infrastructure.redis.sessions import RedisSessionStore
from tests.api.conftest import free_port

LIMITS = SessionLimits(per_token=3, per_tenant=5, idle_s=3600, per_process=1000)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Subject:
    store: SessionStore
    kind: str
    clock: Clock | None = None

    async def pass_idle_time(self, idle_s: float) -> None:
        if self.clock is not None:
            self.clock.now += idle_s
            return
        await asyncio.sleep(idle_s + 0.05)  # Redis keeps time itself: the TTL has to run out for real


def _session(tenant: str, token: str) -> McpSession:
    return McpSession(id=secrets.token_hex(16), tenant_id=tenant, server_id=None, token_id=token, protocol_version="x")


def _ids() -> Callable[[str], str]:
    """Tenant and token ids unique to one test, so runs sharing a Redis never meet."""
    run = secrets.token_hex(4)
    return lambda name: f"{name}-{run}"


def _make(kind: str, limits: SessionLimits, request: pytest.FixtureRequest) -> Subject:
    if kind == "memory":
        clock = Clock()
        return Subject(InMemorySessionStore(limits, clock=clock), kind, clock)
    url = request.getfixturevalue("redis_url")
    return Subject(RedisSessionStore(url, RedisHealth(url), limits), kind)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    made = _make(request.param, LIMITS, request)
    yield made
    await made.store.close()


async def _alive(store: SessionStore, session: McpSession) -> bool:
    return await store.use(session.id, session.tenant_id, session.token_id) is not None


async def test_a_token_at_its_quota_gives_up_its_least_recently_used_session_and_no_one_elses(
    subject: Subject,
) -> None:
    name = _ids()
    other = _session(name("calm"), name("calm-token"))
    neighbour = _session(name("busy"), name("neighbour"))
    await subject.store.open(other)
    await subject.store.open(neighbour)
    mine = [_session(name("busy"), name("flood")) for _ in range(LIMITS.per_token)]
    for session in mine:
        assert await subject.store.open(session) == []
    assert await _alive(subject.store, mine[0])  # now mine[1] is the least recently used

    extra = _session(name("busy"), name("flood"))
    assert await subject.store.open(extra) == [mine[1].id]

    assert [await _alive(subject.store, s) for s in (mine[0], mine[1], mine[2], extra)] == [True, False, True, True]
    assert await _alive(subject.store, other) and await _alive(subject.store, neighbour)


async def test_a_tenant_at_its_quota_gets_no_new_session_and_keeps_the_ones_it_has(subject: Subject) -> None:
    name = _ids()
    tenant = name("tenant")
    held = [_session(tenant, name("a")) for _ in range(3)] + [_session(tenant, name("b")) for _ in range(2)]
    for session in held:
        await subject.store.open(session)

    with pytest.raises(SessionQuotaError) as refused:
        await subject.store.open(_session(tenant, name("c")))

    assert refused.value.scope == "tenant" and "5" in refused.value.message
    assert all([await _alive(subject.store, s) for s in held])
    assert await subject.store.open(_session(tenant, name("a"))) == [held[0].id]  # at its own quota: its own goes
    assert await subject.store.delete(held[3].id)
    assert await subject.store.open(_session(tenant, name("c"))) == []  # an ended session frees its place
    await subject.store.open(_session(name("elsewhere"), name("c")))


async def test_a_session_serves_only_its_own_token_and_tenant(subject: Subject) -> None:
    name = _ids()
    session = _session(name("tenant"), name("token"))
    await subject.store.open(session)
    assert await subject.store.use(session.id, session.tenant_id, name("other-token")) is None
    assert await subject.store.use(session.id, name("other-tenant"), session.token_id) is None
    used = await subject.store.use(session.id, session.tenant_id, session.token_id)
    assert used is not None and used.id == session.id


async def test_saving_changes_keeps_them_but_never_brings_an_ended_session_back(subject: Subject) -> None:
    name = _ids()
    session = _session(name("tenant"), name("token"))
    await subject.store.open(session)
    session.subscriptions = ["docs://a"]
    await subject.store.put(session)
    stored = await subject.store.get(session.id)
    assert stored is not None and stored.subscriptions == ["docs://a"]
    assert await subject.store.delete(session.id)
    await subject.store.put(session)
    assert await subject.store.get(session.id) is None
    assert not await subject.store.delete(session.id)


async def test_changes_made_at_once_by_several_workers_all_hold_and_an_ended_session_stays_ended(
    subject: Subject, request: pytest.FixtureRequest
) -> None:
    """Each change reads, applies and writes only if nothing changed in between: 40 subscriptions, a log
    level and an upstream session, made concurrently through two stores (two workers on one Redis), all kept."""
    name = _ids()
    session = _session(name("tenant"), name("token"))
    await subject.store.open(session)
    other = _make(subject.kind, LIMITS, request).store if subject.kind == "redis" else subject.store

    def subscribing(uri: str) -> Callable[[McpSession], None]:
        def apply(stored: McpSession) -> None:
            stored.subscriptions = [*[u for u in stored.subscriptions if u != uri], uri]

        return apply

    def keeping_upstream(stored: McpSession) -> None:
        stored.upstreams = {**stored.upstreams, "up-1": {"session_id": "u-1"}}

    changes = [(subject.store if n % 2 else other).change(session.id, subscribing(f"docs://{n}")) for n in range(40)]
    changes.append(other.change(session.id, lambda stored: setattr(stored, "log_level", "debug")))
    changes.append(subject.store.change(session.id, keeping_upstream))
    await asyncio.gather(*changes)
    stored = await subject.store.get(session.id)
    assert stored is not None
    assert sorted(stored.subscriptions) == sorted(f"docs://{n}" for n in range(40))
    assert stored.log_level == "debug" and stored.upstreams == {"up-1": {"session_id": "u-1"}}
    assert await subject.store.delete(session.id)
    assert await other.change(session.id, keeping_upstream) is None
    assert await subject.store.get(session.id) is None
    if other is not subject.store:
        await other.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def idle_subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    made = _make(request.param, SessionLimits(per_token=2, per_tenant=2, idle_s=1.0), request)
    yield made
    await made.store.close()


async def test_a_session_unused_for_the_idle_time_expires_and_frees_its_place(idle_subject: Subject) -> None:
    name = _ids()
    store = idle_subject.store
    tenant = name("tenant")
    first, second = _session(tenant, name("a")), _session(tenant, name("b"))
    await store.open(first)
    await store.open(second)
    with pytest.raises(SessionQuotaError):
        await store.open(_session(tenant, name("c")))

    await idle_subject.pass_idle_time(1.0)

    assert await store.get(first.id) is None and not await _alive(store, second)
    assert await store.open(_session(tenant, name("c"))) == []  # expired sessions hold no place
    assert await store.open(_session(tenant, name("d"))) == []


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    """(open | use | delete, tenant 0-2, token 0-5 or which session) sequences."""
    return draw(
        st.lists(
            st.tuples(st.sampled_from(["open", "open", "use", "delete"]), st.integers(0, 2), st.integers(0, 5)),
            max_size=40,
        )
    )


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations())
def test_no_sequence_takes_a_token_or_tenant_past_its_quota_or_ends_anothers_session(
    kind: str, request: pytest.FixtureRequest, ops: list[tuple[str, int, int]]
) -> None:
    async def run() -> None:
        subject = _make(kind, LIMITS, request)
        name = _ids()
        live: dict[str, McpSession] = {}
        try:
            for op, tenant_n, n in ops:
                tenant, token = name(f"tenant{tenant_n}"), name(f"tenant{tenant_n}-token{n}")
                if op == "open":
                    session = _session(tenant, token)
                    held = [s for s in live.values() if s.tenant_id == tenant]
                    own = [s for s in held if s.token_id == token]
                    try:
                        evicted = await subject.store.open(session)
                    except SessionQuotaError:
                        assert len(held) >= LIMITS.per_tenant and len(own) < LIMITS.per_token
                        continue
                    assert not (len(held) >= LIMITS.per_tenant and len(own) < LIMITS.per_token)
                    assert all(live[e].token_id == token for e in evicted)  # only its own
                    assert len(evicted) == (1 if len(own) >= LIMITS.per_token else 0)
                    for e in evicted:
                        del live[e]
                    live[session.id] = session
                elif live:
                    target = list(live.values())[n % len(live)]
                    if op == "use":
                        assert await _alive(subject.store, target)
                    else:
                        assert await subject.store.delete(target.id)
                        del live[target.id]
                for check in list(live.values()):
                    assert await subject.store.get(check.id) is not None
        finally:
            await subject.store.close()

    asyncio.run(run())


# -- Redis away --------------------------------------------------------------------------------------


@pytest.fixture
def nowhere() -> str:
    """A loopback port nothing listens on: every connection is refused at once."""
    return f"redis://127.0.0.1:{free_port()}/0"


async def test_a_redis_that_is_away_is_the_stores_unavailable_error_and_one_log_line(
    nowhere: str, caplog: pytest.LogCaptureFixture
) -> None:
    health = RedisHealth(nowhere, retry_s=60)
    store = RedisSessionStore(nowhere, health, LIMITS)
    session = _session("t", "k")
    caplog.set_level(logging.WARNING, "ledgergate.redis")
    try:
        calls = [
            lambda: store.open(session),
            lambda: store.use(session.id, "t", "k"),
            lambda: store.get(session.id),
            lambda: store.put(session),
            lambda: store.delete(session.id),
        ]
        for call in calls * 3:
            with pytest.raises(SessionStoreUnavailableError):
                await call()
        assert not health.up
        assert health.check() == "unreachable"
    finally:
        await store.close()
        health.close()
    assert [r.getMessage()[:17] for r in caplog.records] == ["Redis unreachable"]


async def test_the_other_redis_users_degrade_instead_of_failing(nowhere: str) -> None:
    health = RedisHealth(nowhere, retry_s=0)  # every call tries Redis
    limiter = RedisRateLimiter(nowhere, health)
    channels = RedisChannels(nowhere, health)
    leases = RedisLeases(nowhere, "me", health)
    signal = RedisLogSignal(nowhere, health=health)
    try:
        assert [await limiter.hit("token:x", 2, 60) for _ in range(3)] == [True, True, False]  # counted here
        assert leases.try_acquire("upstream:x", 5) is False
        signal.publish(7)  # a write never fails for want of its wake-up
        await channels.listen("ledgergate:test", lambda message: None)  # returns; listening resumes later
        with pytest.raises(SessionStoreUnavailableError):
            await channels.publish("ledgergate:test", b"x")
        await channels.unlisten("ledgergate:test")
    finally:
        await limiter.close()
        await channels.close()
        leases.close()
        signal.close()
        health.close()


def test_the_circuit_lets_one_trial_through_per_interval_and_closes_on_success() -> None:
    clock = Clock()
    health = RedisHealth("redis://127.0.0.1:1/0", retry_s=1.0, clock=clock)
    assert health.available()
    health.failed(ConnectionError("refused"))
    assert [health.available() for _ in range(3)] == [False, False, False]
    clock.now += 1.0
    assert [health.available() for _ in range(3)] == [True, False, False]
    health.succeeded()
    assert health.up and all(health.available() for _ in range(3))


@pytest.mark.redis
async def test_a_listener_resubscribes_by_itself_after_losing_its_connection(redis_url: str) -> None:
    health = RedisHealth(redis_url)
    channels = RedisChannels(redis_url, health)
    sender = RedisChannels(redis_url, health)
    channel = f"ledgergate:test:{secrets.token_hex(4)}"
    got: asyncio.Queue[bytes] = asyncio.Queue()
    try:
        await channels.listen(channel, got.put_nowait)

        async def delivered(message: bytes) -> None:
            deadline = time.monotonic() + 10
            while got.empty():
                await sender.publish(channel, message)
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert await got.get() == message
            while not got.empty():
                got.get_nowait()

        await delivered(b"one")
        # the listening connection breaks, as it does when Redis restarts
        await channels._pubsub.connection.disconnect()
        await delivered(b"two")
    finally:
        await channels.close()
        await sender.close()
        health.close()
