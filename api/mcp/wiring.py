"""Builds the MCP endpoints' collaborators for one process, and closes them."""

from __future__ import annotations

import functools
import os
import socket
import uuid

from ledgergate.api.mcp.admission import TokenSlots
from ledgergate.api.mcp.auth import McpTokenVerifier
from ledgergate.api.mcp.cancellation import InFlight
from ledgergate.api.mcp.client_requests import ClientRequests
from ledgergate.api.mcp.gateway import McpGateway
from ledgergate.api.mcp.methods import CallLimits, McpMethods
from ledgergate.api.mcp.notifications import NotificationHub
from ledgergate.api.mcp.resource_updates import ResourceUpdates
from ledgergate.api.mcp.sse_relay import SseRelay
from ledgergate.api.mcp.state import KEEPALIVE_S, McpState
from ledgergate.api.metrics import McpMetrics
from ledgergate.api.runtime import Runtime
from ledgergate.application.forwarding import UpstreamForwarder
from ledgergate.application.held_calls import HeldCalls
from ledgergate.application.prompt_rendering import PromptRenderer
from ledgergate.application.sessions import MessageChannels, SessionLimits, SessionStore
from ledgergate.application.upstream_service import UpstreamService
from ledgergate.application.upstream_supervisor import Leases, UpstreamSupervisor
from ledgergate.application.upstream_tasks import TaskIds
from ledgergate.infrastructure.crypto.request_state import RequestStateSealer, TaskIdSealer
from ledgergate.infrastructure.memory_sessions import InMemorySessionStore
from ledgergate.infrastructure.rate_limits import InMemoryRateLimiter, RedisRateLimiter
from ledgergate.infrastructure.redis.channels import RedisChannels
from ledgergate.infrastructure.redis.health import RedisHealth
from ledgergate.infrastructure.redis.leases import RedisLeases
from ledgergate.infrastructure.redis.sessions import RedisSessionStore
from ledgergate.infrastructure.sql.leases import SqlLeases
from ledgergate.infrastructure.telemetry import tracing_enabled
from ledgergate.infrastructure.upstream.call_limits import ProcessCallLimits
from ledgergate.infrastructure.upstream.http_client import HttpUpstreamClient
from ledgergate.infrastructure.upstream.mcp_client import UpstreamPool, auth_headers, probe, subscribe, watch
from ledgergate.infrastructure.upstream.rest_tool import RestToolCaller

__all__ = ["close_mcp_state", "open_mcp_state"]


def redis_health(runtime: Runtime) -> RedisHealth | None:
    """The process's one record of whether Redis answers (None without Redis), shared by every adapter."""
    if runtime.settings.redis_url is None:
        return None
    health = runtime.extras.get("redis_health")
    if health is None:
        health = runtime.extras["redis_health"] = RedisHealth(runtime.settings.redis_url)
    return health  # type: ignore[no-any-return]


def open_mcp_state(runtime: Runtime) -> McpState:
    settings = runtime.settings
    if runtime.hot is None:
        raise RuntimeError("MCP serving needs a runtime that follows the log")
    health = redis_health(runtime)
    limits = SessionLimits(
        per_token=settings.sessions_per_token,
        per_tenant=settings.sessions_per_tenant,
        idle_s=settings.session_idle_s,
        per_process=settings.max_sessions,
    )

    def channels() -> MessageChannels | None:
        return RedisChannels(health.url, health) if health is not None else None

    sessions: SessionStore = (
        RedisSessionStore(health.url, health, limits) if health is not None else InMemorySessionStore(limits)
    )
    egress = runtime.egress
    rest = RestToolCaller(runtime.registry.cipher, egress)
    metrics = McpMetrics(settings.metrics_label_limit)
    renderer = PromptRenderer()
    pool = UpstreamPool(egress=egress)
    # calls of modern clients held for a legacy upstream's input; a retry on another worker is routed here
    held_courier = SseRelay(channels(), prefix="ledgergate:held:")
    held = HeldCalls(RequestStateSealer(runtime.keys.master_key), held_courier if health is not None else None)
    http = HttpUpstreamClient(egress=egress)
    forwarder = UpstreamForwarder(
        runtime.hot,
        pool,
        runtime.registry.cipher,
        http,
        functools.partial(auth_headers, egress=egress),
        ProcessCallLimits(),
        sessions,
        held,
    )
    limiter = RedisRateLimiter(health.url, health) if health is not None else InMemoryRateLimiter()
    rates = CallLimits(limiter, settings.token_calls_per_minute, settings.tenant_calls_per_minute)
    methods = McpMethods(rest.call, renderer, metrics, forwarder, rates, settings.log_payloads, tracing_enabled)
    methods.tasks = TaskIds(TaskIdSealer(runtime.keys.master_key))  # upstream tasks, routed by their sealed ids
    hub = NotificationHub()
    runtime.hot.add_listener(hub.publish)
    relay = SseRelay(channels())
    updates = ResourceUpdates(forwarder, functools.partial(subscribe, egress=egress))
    methods.subscriptions = (updates, sessions, relay)
    inflight = InFlight(channels())
    client_requests = ClientRequests(SseRelay(channels(), prefix="ledgergate:answer:"))
    calls = TokenSlots(settings.calls_in_flight_per_token, "tool calls in flight")
    state = McpState(
        gateway=McpGateway(runtime.hot, sessions, methods, metrics, client_requests, inflight, calls),
        verifier=McpTokenVerifier(runtime.tokens, runtime.hot),
        hub=hub,
        sessions=sessions,
        metrics=metrics,
        allowed_origins=frozenset(settings.allowed_origins),
        relay=relay,
        updates=updates,
        streams=TokenSlots(settings.streams_per_token, "streams"),
        # a stream keeps its session in use well within the idle time
        touch_s=min(KEEPALIVE_S, settings.session_idle_s / 3),
    )
    runtime.extras["mcp_closers"] = [
        rest.close,
        sessions.close,
        renderer.close,
        updates.close,
        relay.close,
        client_requests.close,
        held_courier.close,
        inflight.close,
        pool.close,
        forwarder.close,
        limiter.close,
    ]
    return state


async def close_mcp_state(runtime: Runtime) -> None:
    for close in runtime.extras.pop("mcp_closers", []):
        result = close()
        if hasattr(result, "__await__"):
            await result


def start_supervisor(runtime: Runtime, service: UpstreamService) -> UpstreamSupervisor:
    """The upstream supervisor of this process; leases make one process per upstream do the work."""
    settings = runtime.settings
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    health = redis_health(runtime)
    leases: Leases = (
        RedisLeases(health.url, holder, health) if health is not None else SqlLeases(runtime.connector, holder)
    )
    hot = runtime.hot
    assert hot is not None
    return UpstreamSupervisor(
        lambda: hot.rows_of_kind("upstream"),
        runtime.registry,
        service,
        leases,
        functools.partial(probe, egress=runtime.egress),
        functools.partial(watch, egress=runtime.egress),
        probe_interval_s=settings.probe_interval_s,
    )
