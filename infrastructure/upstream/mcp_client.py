"""Upstream MCP servers through the official SDK client: discovery, and a per-process pool for calls.

A pooled connection is an SDK ``Client`` held open by its own task (the SDK's task groups must be
entered and left in one task); requests from any request handler are multiplexed over it. A failed
connection is dropped and the next call reconnects. The downstream client's token is never used:
each upstream gets only its own credentials.

Every HTTP connection made here (the SDK's streamable HTTP and SSE transports, OAuth token fetches)
is an httpx2 client from ``guarded_http_client``: the outbound policy checks the resolved address
right before each connection, redirect hops included. A URL whose host is a refused literal is
refused before the SDK client is even built, so the error names the policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import PromptReference, ResourceTemplateReference
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ledgergate.application.errors import ToolCallError
from ledgergate.application.ports import UpstreamUnavailableError
from ledgergate.application.upstream_catalog import DiscoveredCatalog
from ledgergate.infrastructure.network.clients import blocked_cause, guarded_http_client
from ledgergate.infrastructure.network.egress import EgressBlockedError, EgressGuard
from ledgergate.infrastructure.upstream.asking import Ask, Askers, Notify
from ledgergate.infrastructure.upstream.http_client import UpstreamRpcError
from ledgergate.infrastructure.upstream.oauth import tokens_of

__all__ = [
    "McpUpstreamConnector",
    "UpstreamPool",
    "UpstreamUnavailableError",
    "auth_headers",
    "probe",
    "subscribe",
    "watch",
]

log = logging.getLogger("ledgergate.upstream")
SAFE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV", "PYTHONPATH")
MAX_PAGES = 1000
#: SDK codes for a closed connection (-32000) and a request timeout (-32001): the connection is dropped.
TRANSPORT_ERRORS = (-32000, -32001)


Key = tuple[str, int, str, str]  # (upstream, settings fingerprint, client or "", flavour)
Flavour = tuple[dict[str, Any], bool, Notify | None] | None
CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
#: the client capabilities a request on a modern connection declares (None: the connection's own)
_declaring: ContextVar[dict[str, Any] | None] = ContextVar("ledgergate_declaring", default=None)


async def auth_headers(spec: dict[str, Any], egress: EgressGuard | None = None, fresh: bool = False) -> dict[str, str]:
    """The headers that carry the upstream's own credentials. An OAuth token comes from the tokens kept
    for ``egress`` (fetched when there is none, it expires, or ``fresh``: the upstream refused it).

    Raises: UpstreamUnavailableError (the outbound policy refuses the token URL, or it gives no token)."""
    auth = spec.get("auth") or {"type": "none"}
    if auth["type"] == "bearer":
        return {"Authorization": f"Bearer {auth['token']}"}
    if auth["type"] == "headers":
        return dict(auth["headers"])
    if auth["type"] == "oauth_client_credentials":
        guard = egress or EgressGuard.default()
        return {"Authorization": await tokens_of(guard).header(auth, guard, spec.get("timeout_s") or 30, fresh)}
    return {}


def forget_token(spec: dict[str, Any], egress: EgressGuard | None) -> None:
    """A connection made with the upstream's OAuth token failed: the next one fetches another (the SDK does
    not tell a refused token from other failures, so any failure counts)."""
    auth = spec.get("auth") or {}
    if auth.get("type") == "oauth_client_credentials" and egress is not None:
        tokens_of(egress).forget(auth)


async def make_client(spec: dict[str, Any], egress: EgressGuard | None = None) -> Client:
    """An SDK client for the upstream (not yet connected). Raises: UpstreamUnavailableError."""
    transport = spec["transport"]
    timeout = float(spec.get("timeout_s") or 60)
    if transport == "stdio":
        env = {k: v for k, v in os.environ.items() if k in SAFE_ENV} | dict(spec.get("env") or {})
        params = StdioServerParameters(
            command=spec["command"], args=list(spec.get("args") or []), env=env, cwd=spec.get("cwd")
        )
        return Client(params, mode="auto", read_timeout_seconds=timeout)
    guard = egress or EgressGuard.default()
    try:
        guard.check_url(spec["url"])
    except EgressBlockedError as exc:
        raise UpstreamUnavailableError(str(exc)) from None
    headers = await auth_headers(spec, guard)
    if transport == "sse":
        return Client(
            sse_client(
                spec["url"],
                headers=headers,
                timeout=timeout,
                sse_read_timeout=300,
                httpx_client_factory=functools.partial(guarded_http_client, guard),
            ),
            mode="legacy",
            read_timeout_seconds=timeout,
        )
    http = guarded_http_client(guard, headers=headers, timeout=httpx2.Timeout(timeout, read=300))
    return Client(streamable_http_client(spec["url"], http_client=http), mode="auto", read_timeout_seconds=timeout)


def _wire(model: Any) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")  # type: ignore[no-any-return]


async def _all_pages(fetch: Callable[[str | None], Awaitable[Any]], attribute: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = await fetch(cursor)
        items += [_wire(item) for item in getattr(page, attribute)]
        cursor = getattr(page, "next_cursor", None)
        if not cursor:
            return items
    raise UpstreamUnavailableError(f"the upstream's {attribute} list did not end after {MAX_PAGES} pages")


def _first_cause(exc: BaseException) -> BaseException:
    """What to report of a failure: the policy's refusal wherever it is in the chain, else the first cause."""
    blocked = blocked_cause(exc)
    if blocked is not None:
        return blocked
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _reason(exc: BaseException) -> str:
    cause = _first_cause(exc)
    if isinstance(cause, EgressBlockedError | UpstreamUnavailableError):
        return str(cause)
    return f"{cause.__class__.__name__}: {cause}"


class McpUpstreamConnector:
    """Implements the application's upstream discovery with the SDK client."""

    def __init__(self, egress: EgressGuard | None = None) -> None:
        self.egress = egress

    async def discover(self, spec: dict[str, Any]) -> DiscoveredCatalog:
        """Raises: UpstreamUnavailableError."""
        try:
            client = await make_client(spec, self.egress)
            async with asyncio.timeout(float(spec.get("timeout_s") or 60)), client as session:
                caps = session.server_capabilities
                tools = await _all_pages(lambda c: session.list_tools(cursor=c), "tools") if caps.tools else []
                if not _passes_tasks(spec, caps):
                    tools = [{k: v for k, v in tool.items() if k != "execution"} for tool in tools]
                resources = (
                    await _all_pages(lambda c: session.list_resources(cursor=c), "resources") if caps.resources else []
                )
                templates = (
                    await _all_pages(lambda c: session.list_resource_templates(cursor=c), "resource_templates")
                    if caps.resources
                    else []
                )
                prompts = await _all_pages(lambda c: session.list_prompts(cursor=c), "prompts") if caps.prompts else []
                info = _wire(session.server_info) if session.server_info else {}
                return DiscoveredCatalog(
                    protocol_version=str(session.protocol_version),
                    server_info=info,
                    tools=tools,
                    resources=resources,
                    prompts=prompts,
                    resource_templates=templates,
                )
        except Exception as exc:  # the SDK raises from task groups; report the first cause
            forget_token(spec, self.egress)
            raise UpstreamUnavailableError(_reason(exc)) from None


def _passes_tasks(spec: dict[str, Any], caps: Any) -> bool:
    """Whether the gateway can run this upstream's tools as tasks (2025-11-25): it declares task-augmented
    ``tools/call`` and is reached over streamable HTTP, the one hop that carries a ``task`` (the SDK has no
    tasks); otherwise its tools' ``execution`` is not kept, so they are listed as plain tools."""
    tasks = getattr(caps, "tasks", None)
    requests = getattr(tasks, "requests", None)
    tools = getattr(requests, "tools", None)
    return spec.get("transport") == "streamable_http" and getattr(tools, "call", None) is not None


async def probe(spec: dict[str, Any], egress: EgressGuard | None = None) -> tuple[bool, str | None, float]:
    """Connect and initialize once: (reachable, what failed, seconds taken)."""
    started = asyncio.get_running_loop().time()
    try:
        client = await make_client(spec, egress)
        async with asyncio.timeout(float(spec.get("timeout_s") or 60)), client:
            pass
    except Exception as exc:  # any failure to connect is the finding, not an error of ours
        forget_token(spec, egress)
        return False, _reason(exc)[:500], asyncio.get_running_loop().time() - started
    return True, None, asyncio.get_running_loop().time() - started


async def watch(
    spec: dict[str, Any],
    on_list_changed: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    egress: EgressGuard | None = None,
) -> None:
    """Hold a connection and call ``on_list_changed`` when the upstream says its catalog changed."""
    kinds = (
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
        "notifications/resources/list_changed",
    )

    async def on_message(message: Any) -> None:
        if getattr(getattr(message, "root", message), "method", None) in kinds:
            await on_list_changed()

    try:
        client = await make_client(spec, egress)
        client.message_handler = on_message
        client.mode = "legacy"  # server-to-client notifications need a session
        async with client:
            await stop.wait()
    except Exception as exc:  # the SDK raises from task groups; report the first cause
        forget_token(spec, egress)
        raise UpstreamUnavailableError(_reason(exc)) from None


async def subscribe(
    spec: dict[str, Any],
    uri: str,
    on_updated: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    live: asyncio.Event | None = None,
    egress: EgressGuard | None = None,
) -> None:
    """Subscribe to one resource of the upstream and call ``on_updated`` on each of its updates, until ``stop``;
    ``live`` is set once the upstream has accepted the subscription."""

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        updated = getattr(root, "method", None) == "notifications/resources/updated"
        if updated and str(getattr(getattr(root, "params", None), "uri", "")) == uri:
            await on_updated()

    try:
        client = await make_client(spec, egress)
        client.message_handler = on_message
        client.mode = "legacy"  # legacy sessions carry resources/subscribe on every upstream revision
        async with client as session:
            await session.subscribe_resource(uri)
            if live is not None:
                live.set()
            await stop.wait()
    except Exception as exc:  # the SDK raises from task groups; report the first cause
        forget_token(spec, egress)
        raise UpstreamUnavailableError(_reason(exc)) from None


def _declare_per_request(client: Client) -> None:
    """A modern connection declares, in each request's ``_meta``, the capabilities of the client the request
    is made for (``_declaring``), so one connection serves clients of every capability set and no new
    connection (for stdio: no new process) is started for a new set. The SDK stamps its own declaration
    on each request; this runs after it."""
    session = client.session
    stamp = getattr(session, "_stamp", None)
    if stamp is None:
        return

    def declaring(data: dict[str, Any], opts: Any) -> None:
        stamp(data, opts)
        declared = _declaring.get()
        meta = (data.get("params") or {}).get("_meta")
        if declared is not None and isinstance(meta, dict):
            meta[CAPABILITIES_META] = declared

    session._stamp = declaring


class _Connection:
    """``asks``: the client capabilities this connection declares (only what its callers declared);
    ``legacy``: a handshake session even where the upstream speaks 2026-07-28, so it can ask mid-call."""

    def __init__(
        self, spec: dict[str, Any], egress: EgressGuard | None, asks: dict[str, Any] | None = None, legacy: bool = False
    ) -> None:
        self.spec = spec
        self.egress = egress
        self.asks = asks or {}
        self.legacy = legacy
        self.askers = Askers(exclusive=spec.get("session_mode") == "per_client")
        self.client: Client | None = None
        self.ready = asyncio.Event()
        self.closed = asyncio.Event()
        self.error: BaseException | None = None
        self.limit = asyncio.Semaphore(int(spec.get("concurrency_limit") or 64))
        self.task = asyncio.create_task(self._hold(), name=f"upstream-{spec.get('name')}")

    async def _hold(self) -> None:
        try:
            client = await make_client(self.spec, self.egress)
            if "sampling" in self.asks:
                client.sampling_callback = self.askers.sampling
            if "elicitation" in self.asks:
                client.elicitation_callback = self.askers.elicitation
            if "roots" in self.asks:
                client.list_roots_callback = self.askers.roots
            client.logging_callback = self.askers.log
            if self.legacy:
                client.mode = "legacy"
            async with client:
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    _declare_per_request(client)
                self.client = client
                self.ready.set()
                await self.closed.wait()
        except BaseException as exc:
            self.error = exc
            forget_token(self.spec, self.egress)
        finally:
            self.client = None
            self.ready.set()

    @property
    def modern(self) -> bool:
        """Connected in 2026-07-28: each request declares its own client's capabilities."""
        return self.client is not None and self.client.protocol_version in MODERN_PROTOCOL_VERSIONS

    async def session(self) -> Client:
        await asyncio.wait_for(self.ready.wait(), timeout=float(self.spec.get("timeout_s") or 60))
        if self.client is None:
            raise UpstreamUnavailableError(f"cannot connect: {_reason(self.error) if self.error else 'closed'}")
        return self.client

    async def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, timeout=5)


class UpstreamPool:
    """Connections to upstreams in this process: one shared per upstream (and fingerprint of its settings), or
    one per downstream client for ``per_client`` upstreams (at most ``max_per_client`` each, oldest closed).
    """

    def __init__(self, max_per_client: int = 256, egress: EgressGuard | None = None) -> None:
        self._connections: dict[Key, _Connection] = {}
        self.max_per_client = max_per_client
        self.egress = egress or EgressGuard.default()

    @staticmethod
    def _key(spec: dict[str, Any], version: int, client_key: str, asks: dict[str, Any], legacy: bool) -> Key:
        flavour = ("legacy:" if legacy else "auto:") + ",".join(sorted(asks))
        return (spec["id"], version, client_key, flavour)

    def _connection(self, key: Key, spec: dict[str, Any], asks: dict[str, Any], legacy: bool) -> _Connection:
        connection = self._connections.get(key)
        if connection is None or connection.task.done():
            stale = [k for k in self._connections if k[0] == spec["id"] and k[1] != key[1]]
            if key[2]:
                mine = [k for k in self._connections if k[0] == spec["id"] and k[2]]
                stale += mine[: max(0, len(mine) - self.max_per_client + 1)]
            for old_key in stale:
                asyncio.create_task(self._connections.pop(old_key).close())  # noqa: RUF006 - fire and forget
            connection = self._connections[key] = _Connection(spec, self.egress, asks, legacy)
        return connection

    async def _pick(
        self, spec: dict[str, Any], version: int, client_key: str, asks: dict[str, Any], legacy: bool
    ) -> tuple[Key, _Connection]:
        """The upstream's one ``auto`` connection when it is modern (capabilities go per request), else
        a connection declaring ``asks`` at its handshake."""
        if not legacy:
            key = self._key(spec, version, client_key, {}, False)
            shared = self._connection(key, spec, {}, False)
            with contextlib.suppress(UpstreamUnavailableError, TimeoutError):
                await shared.session()
            if shared.modern or not asks:
                return key, shared
        key = self._key(spec, version, client_key, asks, legacy)
        return key, self._connection(key, spec, asks, legacy)

    async def speaks_modern(self, spec: dict[str, Any], version: int, client: str = "") -> bool:
        """Whether the upstream's connection is 2026-07-28 (else a modern client's call must be held for input).

        Raises: ToolCallError (it cannot be reached)."""
        if spec["transport"] == "sse":
            return False
        _, connection = await self._pick(spec, version, self._client_key(spec, client), {}, False)
        try:
            await connection.session()
        except (UpstreamUnavailableError, TimeoutError) as exc:
            raise ToolCallError(f"upstream {spec.get('name')} is unreachable: {exc}") from None
        return connection.modern

    async def _drop(self, key: Key, connection: _Connection) -> None:
        if self._connections.get(key) is connection:
            del self._connections[key]
        await connection.close()

    async def _run(
        self,
        spec: dict[str, Any],
        version: int,
        call: Callable[[Client], Awaitable[Any]],
        client_key: str = "",
        retry: bool = False,
        ask: Ask | None = None,
        flavour: Flavour = None,
    ) -> Any:
        """Run ``call`` on a connection; a broken connection is dropped, and retried once if ``retry``.
        ``ask``: asks this call's client what the upstream requests of it meanwhile. ``flavour``: (the client
        capabilities the connection declares, a legacy session?, where log messages go); None: none, auto.

        Raises: ToolCallError, UpstreamRpcError (the upstream's JSON-RPC error)."""
        asks, legacy, notify = flavour or ({}, False, None)
        for attempt in range(2 if retry else 1):
            key, connection = await self._pick(spec, version, client_key, asks, legacy)
            try:
                async with connection.limit:
                    session = await connection.session()
                    declared = _declaring.set(asks if connection.modern else None)
                    try:
                        with connection.askers.during(ask, notify):
                            return await call(session)
                    finally:
                        _declaring.reset(declared)
            except MCPError as exc:
                if exc.code not in TRANSPORT_ERRORS:
                    raise UpstreamRpcError(exc.code, exc.error.message, exc.error.data) from None
                failure: Exception = exc
            except (UpstreamUnavailableError, TimeoutError, OSError, httpx2.HTTPError) as exc:
                failure = exc
            await self._drop(key, connection)
            if attempt + 1 >= (2 if retry else 1):
                raise ToolCallError(f"upstream {spec.get('name')} is unreachable: {failure}") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _client_key(spec: dict[str, Any], client: str) -> str:
        return client if spec.get("session_mode") == "per_client" else ""

    async def call_tool(
        self,
        spec: dict[str, Any],
        version: int,
        name: str,
        arguments: dict[str, Any],
        meta: dict[str, Any] | None = None,
        client: str = "",
        retry: bool = False,
        progress: Any = None,
        ask: Ask | None = None,
        flavour: Flavour = None,
        passthrough: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """``retry``: the tool is idempotent or read-only, so a call lost with its connection may be repeated.
        ``timeout_s``: how long the upstream may take (a held call waits for its client meanwhile).
        ``passthrough``: a 2026-07-28 client's ``inputResponses``/``requestState``; its upstream's
        ``input_required`` is then answered as it came, for the client to fulfil and retry.
        Cancelling the awaiting task cancels the upstream request (the SDK sends notifications/cancelled).
        ``ask``: the client's answers to the upstream's sampling, elicitation and roots requests."""
        result = await self._run(
            spec,
            version,
            lambda c: (
                c.call_tool(name, arguments, read_timeout_seconds=timeout_s, progress_callback=progress, meta=meta)
                if passthrough is None
                else c.session.call_tool(
                    name,
                    arguments,
                    progress_callback=progress,
                    input_responses=passthrough.get("inputResponses"),
                    request_state=passthrough.get("requestState"),
                    meta=meta,
                    allow_input_required=True,
                )
            ),
            self._client_key(spec, client),
            retry,
            ask,
            flavour,
        )
        return _wire(result)

    async def read_resource(self, spec: dict[str, Any], version: int, uri: str, client: str = "") -> dict[str, Any]:
        return _wire(
            await self._run(spec, version, lambda c: c.read_resource(uri), self._client_key(spec, client), retry=True)
        )

    async def get_prompt(
        self,
        spec: dict[str, Any],
        version: int,
        name: str,
        arguments: dict[str, Any],
        client: str = "",
        ask: Ask | None = None,
        flavour: Flavour = None,
        passthrough: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``passthrough``: as for :meth:`call_tool`."""
        return _wire(
            await self._run(
                spec,
                version,
                lambda c: (
                    c.get_prompt(name, arguments)
                    if passthrough is None
                    else c.session.get_prompt(
                        name,
                        arguments,
                        input_responses=passthrough.get("inputResponses"),
                        request_state=passthrough.get("requestState"),
                        allow_input_required=True,
                    )
                ),
                self._client_key(spec, client),
                True,
                ask,
                flavour,
            )
        )

    async def complete(
        self,
        spec: dict[str, Any],
        version: int,
        ref: dict[str, Any],
        argument: dict[str, str],
        context: dict[str, str] | None,
        client: str = "",
    ) -> dict[str, Any]:
        model = PromptReference(**ref) if ref.get("type") == "ref/prompt" else ResourceTemplateReference(**ref)
        return _wire(
            await self._run(
                spec,
                version,
                lambda c: c.complete(model, argument, context),
                self._client_key(spec, client),
                retry=True,
            )
        )

    async def close(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.close()
