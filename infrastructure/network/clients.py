"""HTTP clients whose every connection goes through an ``EgressGuard``: aiohttp and httpx2.

aiohttp: the connector's resolution step. Names go to its resolver (ours); address literals skip the
resolver in aiohttp, so ``_resolve_host`` sends them through the guard too. What it answers is exactly
the list the connector connects to, for the first request and for every redirect hop.

httpx2 (the MCP SDK's client, and OAuth token fetches): httpcore's network backend. ``connect_tcp``
gets the URL's host, resolves it through the guard and connects to the checked address itself.
Neither client reads proxy settings from the environment: a proxy would make the connection the
policy checks, so it would check nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

import aiohttp
import anyio
import httpcore2
import httpx2
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address

from ledgergate.infrastructure.network.egress import EgressBlockedError, EgressGuard

__all__ = ["GuardedConnector", "blocked_cause", "guarded_http_client"]

# Both hooks are the libraries' own internals: fail at import, never silently unguarded, if they move.
if not callable(getattr(aiohttp.TCPConnector, "_resolve_host", None)):
    raise ImportError("aiohttp.TCPConnector._resolve_host is gone: the outbound policy cannot hold its connections")


class _GuardedResolver(AbstractResolver):
    def __init__(self, guard: EgressGuard) -> None:
        self.guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for address in await self.guard.resolve(host, port):
            kind = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                results.append(ResolveResult(hostname=host, host=address, port=port, family=kind, proto=0, flags=0))
        if not results:
            raise OSError(f"{host} has no address of the family asked for")
        return results

    async def close(self) -> None:
        return None


class GuardedConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that connects only to addresses the guard allowed."""

    def __init__(self, guard: EgressGuard, **options: Any) -> None:
        self._guarded = _GuardedResolver(guard)
        super().__init__(resolver=self._guarded, **options)

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> list[ResolveResult]:
        if is_ip_address(host):
            return await self._guarded.resolve(host, port, socket.AF_UNSPEC)
        return await super()._resolve_host(host, port, traces=traces)


class _GuardedBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self, guard: EgressGuard) -> None:
        self.guard = guard
        self.inner = httpcore2.AnyIOBackend()

    async def connect_tcp(  # httpcore's signature, timeout included
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self.guard.resolve(host, port)
        except EgressBlockedError:
            raise
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"resolving {host} took longer than {timeout} s") from None
        except OSError as exc:
            raise httpcore2.ConnectError(f"cannot resolve {host}: {exc}") from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("unix sockets are not an outbound target")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _GuardedTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, guard: EgressGuard, limits: httpx2.Limits) -> None:
        super().__init__(limits=limits)
        # The one place httpx2 lets a network backend in is the httpcore pool it builds; ours replaces it.
        if not isinstance(getattr(self, "_pool", None), httpcore2.AsyncConnectionPool):
            raise RuntimeError("httpx2 no longer keeps its pool in _pool: the outbound policy cannot hold it")
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(guard),
        )


def guarded_http_client(guard: EgressGuard, **options: Any) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` (``options`` as for it) whose connections the guard checks."""
    limits = options.pop("limits", httpx2.Limits(max_connections=100, max_keepalive_connections=20))
    return httpx2.AsyncClient(transport=_GuardedTransport(guard, limits), trust_env=False, **options)


def blocked_cause(exc: BaseException | None) -> EgressBlockedError | None:
    """The policy refusal behind ``exc`` (an aiohttp connector error, an exception group, a chained cause)."""
    seen = 0
    while exc is not None and seen < 20:
        seen += 1
        if isinstance(exc, EgressBlockedError):
            return exc
        if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, EgressBlockedError):
            return exc.os_error
        if isinstance(exc, BaseExceptionGroup):
            found = next((b for b in map(blocked_cause, exc.exceptions) if b is not None), None)
            if found is not None:
                return found
        exc = exc.__cause__ or exc.__context__
    return None
