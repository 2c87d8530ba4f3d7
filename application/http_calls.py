"""The HTTP path of forwarding: negotiating a channel with a streamable-HTTP upstream and sending one request.

Negotiation happens once per upstream and settings fingerprint (and, for ``per_client`` upstreams, per
client: the channel is kept in the client's session record). A refused session or credential never ran
the request, so it is renewed and the request sent again; a broken connection is retried only for calls
that are safe to repeat. Each request takes a slot of the upstream's call limit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledgergate.application.errors import ToolCallError
from ledgergate.application.input_relay import askable_capabilities
from ledgergate.application.ports import (
    Channel,
    HttpUpstream,
    SessionExpiredError,
    SessionRecords,
    UnauthorizedError,
    UpstreamCallLimits,
    UpstreamCredentials,
    UpstreamRpcError,
    UpstreamTransportError,
    UpstreamUnavailableError,
)
from ledgergate.application.sessions import McpSession

__all__ = ["HttpCalls", "Upstream", "UpstreamRefusedError"]


class UpstreamRefusedError(ToolCallError):
    """The upstream answered the request with a JSON-RPC error: the client gets that error as it came
    (``-32021`` for a capability the client did not declare, a refused ``requestState``...)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


@dataclass
class Upstream:
    """An upstream's connection settings (secrets unsealed)."""

    spec: dict[str, Any]
    fingerprint: int

    @property
    def limit(self) -> int:
        """Concurrent calls to this upstream from this process."""
        return int(self.spec.get("concurrency_limit") or 64)


class HttpCalls:
    def __init__(
        self,
        http: HttpUpstream,
        credentials: UpstreamCredentials,
        limits: UpstreamCallLimits,
        sessions: SessionRecords | None = None,
    ) -> None:
        self.http = http
        self.credentials = credentials
        self.limits = limits
        self.sessions = sessions
        self._channels: dict[tuple[str, int, str], Channel] = {}
        self._negotiating: dict[tuple[str, int, str], asyncio.Lock] = {}

    # -- the HTTP path -----------------------------------------------------------------------------

    async def _auth(self, upstream: Upstream, fresh: bool = False) -> dict[str, str]:
        # the adapter keeps OAuth tokens until shortly before they expire, shared by every connection
        return await self.credentials(upstream.spec, fresh=fresh)

    async def _channel(
        self,
        upstream: Upstream,
        client: str,
        session: McpSession | None,
        renew: bool = False,
        asks: dict[str, Any] | None = None,
    ) -> Channel:
        """``asks``: what a legacy client that can be asked declared; its calls go over a legacy upstream
        session initialized with those capabilities (shared by the clients declaring the same), so the
        upstream can ask it mid-call; an upstream without legacy sessions is spoken to in 2026-07-28 and
        its ``input_required`` fulfilled by asking the client."""
        spec = upstream.spec
        per_client = spec.get("session_mode") == "per_client"
        if per_client and session is not None:
            kept = session.upstreams.get(spec["id"])
            if not renew and kept and kept.get("fingerprint") == upstream.fingerprint:
                return Channel(version=kept["version"], session_id=kept.get("session_id"))
        if not per_client and asks:
            return await self._asking_channel(upstream, asks, renew)
        key = (spec["id"], upstream.fingerprint, client if per_client else "")
        channel = self._channels.get(key)
        if channel is not None and not renew:
            return channel
        lock = self._negotiating.setdefault(key, asyncio.Lock())
        async with lock:
            if not renew and (channel := self._channels.get(key)) is not None:
                return channel
            # A client's own upstream session declares what the client can be asked; a shared one nothing.
            asks = askable_capabilities(session.client_capabilities) if per_client and session is not None else {}
            try:
                channel = await self.http.negotiate(spec["url"], await self._auth(upstream), not per_client, asks)
            except UnauthorizedError:
                fresh = await self._auth(upstream, fresh=True)
                channel = await self.http.negotiate(spec["url"], fresh, not per_client, asks)
            if per_client and session is not None:
                kept = {"fingerprint": upstream.fingerprint, "version": channel.version}
                keep = _keeping_upstream(spec["id"], kept | {"session_id": channel.session_id})
                keep(session)
                if self.sessions is not None:
                    await self.sessions.change(session.id, keep)
            else:
                if len(self._channels) > 10_000:
                    self._channels.clear()
                self._channels[key] = channel
        return channel

    async def _asking_channel(self, upstream: Upstream, asks: dict[str, Any], renew: bool) -> Channel:
        spec = upstream.spec
        key = (spec["id"], upstream.fingerprint, "asks:" + json.dumps(asks, sort_keys=True))
        channel = self._channels.get(key)
        if channel is not None and not renew:
            return channel
        async with self._negotiating.setdefault(key, asyncio.Lock()):
            if not renew and (channel := self._channels.get(key)) is not None:
                return channel
            try:
                channel = await self.http.negotiate(spec["url"], await self._auth(upstream), False, asks)
            except UnauthorizedError:
                channel = await self.http.negotiate(spec["url"], await self._auth(upstream, True), False, asks)
            except UpstreamTransportError:  # no legacy sessions there: the modern channel, input_required fulfilled
                channel = await self._channel(upstream, "", None, renew)
            if len(self._channels) > 10_000:
                self._channels.clear()
            self._channels[key] = channel
        return channel

    async def _http_request(
        self,
        upstream: Upstream,
        method: str,
        params: dict[str, Any],
        client: str,
        session: McpSession | None,
        retry: bool,
        asks: dict[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """``options``: passed to ``HttpUpstream.request`` (progress, extra headers, capabilities...)."""
        spec = upstream.spec
        timeout = float(spec.get("timeout_s") or 60)
        renew = False
        attempts = 3 if retry else 2  # a refused session or credential never ran the request: always retry it
        for attempt in range(attempts):
            try:
                async with asyncio.timeout(timeout), self.limits.slot(spec["id"], upstream.limit):
                    channel = await self._channel(upstream, client, session, renew, asks)
                    return await self.http.request(
                        spec["url"],
                        await self._auth(upstream),
                        channel,
                        method,
                        params,
                        **options,
                    )
            except (SessionExpiredError, UnauthorizedError) as exc:
                renew = True
                if isinstance(exc, UnauthorizedError):
                    await self._auth(upstream, fresh=True)
                failure: str = "the upstream refused the session or credentials"
            except UpstreamRpcError as exc:
                raise UpstreamRefusedError(exc.code, exc.message, exc.data) from None
            except TimeoutError:
                raise ToolCallError(f"upstream {spec.get('name')} did not answer within {timeout:g} s") from None
            except (UpstreamTransportError, UpstreamUnavailableError) as exc:
                renew = True
                failure = str(exc)
                if not retry or attempt > 0:
                    break
        raise ToolCallError(f"upstream {spec.get('name')} is unreachable: {failure}")


def _keeping_upstream(upstream_id: str, kept: dict[str, Any]) -> Callable[[McpSession], None]:
    """The change that records a client's own upstream session in its gateway session."""

    def keep(session: McpSession) -> None:
        session.upstreams = {**session.upstreams, upstream_id: kept}

    return keep
