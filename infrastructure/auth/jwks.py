"""An external issuer's signing keys (its JWKS), fetched through the outbound policy and cached.

The keys are fetched on first use, kept ``cache_s`` seconds, and fetched again sooner only when a token
names a key id the cache does not hold (the issuer rotated its keys), at most once per ``min_refresh_s``, so
tokens with made-up key ids cannot make the gateway hammer the issuer. When a fetch fails the keys it had
stay in use.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx2
import jwt

from ledgergate.domain.egress import EgressPolicy
from ledgergate.infrastructure.network.clients import guarded_http_client
from ledgergate.infrastructure.network.egress import EgressGuard

__all__ = ["GuardedJsonFetcher", "JsonFetcher", "JwksCache", "KeysUnavailableError", "issuer_egress"]

log = logging.getLogger("ledgergate.auth")
MAX_DOCUMENT_BYTES = 1_048_576


class KeysUnavailableError(Exception):
    """The issuer's keys could not be fetched (and none were fetched before)."""


class JsonFetcher(Protocol):
    """The port the key cache fetches documents through."""

    async def get_json(self, url: str) -> dict[str, Any]:
        """Raises: KeysUnavailableError."""
        ...


def issuer_egress(policy: EgressPolicy, *urls: str) -> EgressGuard:
    """The outbound policy for the issuer's URLs: the tenants' one, with the hosts the operator configured
    allowed whatever their class (an identity provider on the private network is common)."""
    hosts = {urlsplit(url).hostname or "" for url in urls} - {""}
    return EgressGuard(
        EgressPolicy(
            allow_loopback=policy.allow_loopback,
            allow_private=policy.allow_private,
            allowed_hosts=policy.allowed_hosts | frozenset(hosts),
            allowed_networks=policy.allowed_networks,
        )
    )


class GuardedJsonFetcher:
    """GET of a JSON document over a client whose every connection is checked by ``guard``; no redirects."""

    def __init__(self, guard: EgressGuard, timeout_s: float = 5.0) -> None:
        self.guard = guard
        self.timeout_s = timeout_s

    async def get_json(self, url: str) -> dict[str, Any]:
        try:
            self.guard.check_url(url)
            async with guarded_http_client(self.guard, timeout=self.timeout_s, follow_redirects=False) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
        except (OSError, httpx2.HTTPError) as exc:
            raise KeysUnavailableError(f"cannot fetch {url}: {exc}") from None
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise KeysUnavailableError(f"{url} answered {response.status_code}")
        try:
            document = json.loads(response.content)
        except ValueError:
            raise KeysUnavailableError(f"{url} did not answer JSON") from None
        if not isinstance(document, dict):
            raise KeysUnavailableError(f"{url} did not answer a JSON object")
        return document


class JwksCache:
    def __init__(
        self,
        issuer: str,
        fetcher: JsonFetcher,
        jwks_url: str | None = None,
        cache_s: float = 300,
        min_refresh_s: float = 30,
    ) -> None:
        self.issuer = issuer
        self.fetcher = fetcher
        self.jwks_url = jwks_url
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The cached key for ``kid`` (with no ``kid``: the only key, if there is one)."""
        with self._lock:
            if kid is None:
                return next(iter(self._keys.values())) if len(self._keys) == 1 else None
            return self._keys.get(kid)

    def needs_refresh(self, kid: str | None) -> bool:
        now = time.monotonic()
        with self._lock:
            stale = now - self._fetched_at > self.cache_s
            unknown = (kid is None and len(self._keys) != 1) or (kid is not None and kid not in self._keys)
            # a failing or a rotating issuer is asked at most once per min_refresh_s
            return (stale or unknown) and now - self._attempted_at >= self.min_refresh_s

    async def refresh(self) -> None:
        """Fetch the key set (and, without a configured JWKS URL, the discovery document naming it)."""
        with self._lock:
            self._attempted_at = time.monotonic()
        try:
            url = self.jwks_url or await self._discover()
            keys = self._parse(await self.fetcher.get_json(url))
        except KeysUnavailableError as exc:
            log.warning("the issuer's keys could not be fetched", extra={"issuer": self.issuer, "error": str(exc)})
            if not self._keys:
                raise
            return
        with self._lock:
            self._keys = keys
            self._fetched_at = time.monotonic()

    def refresh_blocking(self) -> None:
        """``refresh`` from a thread that runs no event loop (a REST handler's worker thread)."""
        asyncio.run(self.refresh())

    async def _discover(self) -> str:
        document = await self.fetcher.get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        if document.get("issuer") != self.issuer:
            raise KeysUnavailableError(f"the discovery document names issuer {document.get('issuer')!r}")
        url = document.get("jwks_uri")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("https", "http"):
            raise KeysUnavailableError("the discovery document has no jwks_uri")
        return url

    @staticmethod
    def _parse(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
        keys: dict[str, jwt.PyJWK] = {}
        for n, entry in enumerate(document.get("keys") or []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") == "oct":
                continue  # encryption keys and shared secrets never verify a signature here
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type this library cannot use: tokens signed with it are refused
            keys[str(entry.get("kid", f"#{n}"))] = key
        if not keys:
            raise KeysUnavailableError("the key set holds no signing key")
        return keys
