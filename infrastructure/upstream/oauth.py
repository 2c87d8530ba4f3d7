"""OAuth 2.0 client credentials for upstreams: one token per credentials, shared by everything that
connects with them (discovery, health probes, ``list_changed`` watches, subscriptions, pooled connections
and forwarded HTTP calls) and kept until shortly before the issuer says it expires.

Tokens are kept per ``EgressGuard``: a token fetched through one outbound policy is never handed out
under another. A refused token (HTTP 401 from the upstream) is dropped and fetched again, and so is
the token of any SDK connection that fails (the SDK does not tell a refused token from other failures
over streamable HTTP); concurrent fetches of the same credentials on one event loop share one request
to the token endpoint.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import httpx2

from ledgergate.application.ports import UpstreamUnavailableError
from ledgergate.infrastructure.network.clients import guarded_http_client
from ledgergate.infrastructure.network.egress import EgressBlockedError, EgressGuard

__all__ = ["DEFAULT_LIFETIME_S", "KEPT_LIMIT", "ClientCredentialTokens", "tokens_of"]

#: how long a token without ``expires_in`` is kept
DEFAULT_LIFETIME_S = 300.0
#: a token is fetched again this long before it expires (at most a tenth of its lifetime)
EARLY_S = 60.0
#: credentials kept per guard; beyond it the expired ones go, then all
KEPT_LIMIT = 4096

Key = tuple[str, str, str, str]  # (token URL, client id, client secret, scope)


def _key(auth: dict[str, Any]) -> Key:
    return (auth["token_url"], auth["client_id"], auth["client_secret"], auth.get("scope") or "")


@dataclass
class _Kept:
    header: str
    until: float  # time.monotonic()


@dataclass
class ClientCredentialTokens:
    """The tokens fetched through one egress guard."""

    kept: dict[Key, _Kept] = field(default_factory=dict)
    flights: dict[Key, asyncio.Task[_Kept]] = field(default_factory=dict)

    async def header(self, auth: dict[str, Any], guard: EgressGuard, wait_s: float, fresh: bool = False) -> str:
        """The ``Authorization`` value for these credentials. ``fresh``: the upstream refused the kept token.

        Raises: UpstreamUnavailableError (the outbound policy refuses the token URL, or it gives no token)."""
        key = _key(auth)
        if fresh:
            self.kept.pop(key, None)
        else:
            kept = self.kept.get(key)
            if kept is not None and time.monotonic() < kept.until:
                return kept.header
        flight = self.flights.get(key)
        if flight is None or flight.done() or flight.get_loop() is not asyncio.get_running_loop():
            flight = self.flights[key] = asyncio.get_running_loop().create_task(self._fetch(auth, guard, wait_s))
            flight.add_done_callback(_retrieved)
        try:
            kept = await asyncio.shield(flight)
        finally:
            if flight.done() and self.flights.get(key) is flight:
                del self.flights[key]
        if len(self.kept) >= KEPT_LIMIT:
            now = time.monotonic()
            self.kept = {k: v for k, v in self.kept.items() if v.until > now}
            if len(self.kept) >= KEPT_LIMIT:
                self.kept.clear()
        self.kept[key] = kept
        return kept.header

    def forget(self, auth: dict[str, Any]) -> None:
        """Drop the token kept for these credentials (a connection made with it failed)."""
        self.kept.pop(_key(auth), None)

    async def _fetch(self, auth: dict[str, Any], guard: EgressGuard, wait_s: float) -> _Kept:
        form = {
            "grant_type": "client_credentials",
            "client_id": auth["client_id"],
            "client_secret": auth["client_secret"],
            **({"scope": auth["scope"]} if auth.get("scope") else {}),
        }
        try:
            guard.check_url(auth["token_url"])
            async with guarded_http_client(guard, timeout=wait_s) as http:
                response = await http.post(auth["token_url"], data=form)
        except EgressBlockedError as exc:
            raise UpstreamUnavailableError(f"the token URL is {exc}") from None
        except httpx2.HTTPError as exc:
            raise UpstreamUnavailableError(f"the token endpoint cannot be reached: {exc}") from None
        try:
            body = response.json() if response.status_code == 200 else None
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise UpstreamUnavailableError(f"the token endpoint answered HTTP {response.status_code} with no token")
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        seconds = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else DEFAULT_LIFETIME_S
        return _Kept(f"Bearer {token}", time.monotonic() + seconds - min(EARLY_S, seconds / 10))


def _retrieved(task: asyncio.Task[_Kept]) -> None:
    """A fetch whose every waiter was cancelled leaves no unretrieved exception behind."""
    if not task.cancelled():
        task.exception()


_by_guard: weakref.WeakKeyDictionary[EgressGuard, ClientCredentialTokens] = weakref.WeakKeyDictionary()


def tokens_of(guard: EgressGuard) -> ClientCredentialTokens:
    """The tokens kept for connections made through ``guard`` (one guard per worker in production)."""
    tokens = _by_guard.get(guard)
    if tokens is None:
        tokens = _by_guard[guard] = ClientCredentialTokens()
    return tokens
