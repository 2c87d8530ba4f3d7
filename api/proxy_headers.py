"""The request as the client made it, behind a TLS-terminating proxy: scheme, host and client address.

Only a peer in ``LEDGERGATE_TRUSTED_PROXIES`` (CIDRs; none by default, loopback included) is believed:
from it, ``Forwarded`` (RFC 7239) or else ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` /
``X-Forwarded-For`` rewrite the ASGI scope's scheme, ``Host`` header and client, so the RFC 9728
metadata URLs, the admin UI's ``Secure`` cookie and its Origin check see ``https://gateway.example.com``.
From any other peer those headers are ignored. The last value counts (the one the nearest proxy set);
the client is the right-most address in the chain that is not itself a trusted proxy.

Why not a library's: granian's ``wrap_asgi_with_proxy_headers`` and uvicorn's ``ProxyHeadersMiddleware``
handle only ``X-Forwarded-For`` and ``-Proto`` (granian only with ``-For`` present), neither ``Forwarded``
nor ``X-Forwarded-Host`` (granian issue #389 and uvicorn pull request #2811 are open).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

__all__ = ["ProxyHeaders", "trusted_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = {"http", "https"}


def trusted_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """Raises: ValueError naming the value that is not an address or a network."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


def _trusted(host: str | None, networks: tuple[Network, ...]) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(address in network for network in networks)


def _forwarded(value: str) -> list[dict[str, str]]:
    """``Forwarded: for=1.2.3.4;proto=https;host=a.example, for=...`` as one dict per hop (RFC 7239 section 4)."""
    hops = []
    for element in value.split(","):
        pairs: dict[str, str] = {}
        for pair in element.split(";"):
            name, _, raw = pair.partition("=")
            if raw:
                pairs[name.strip().lower()] = raw.strip().strip('"')
        hops.append(pairs)
    return hops


def _for_host(node: str) -> str:
    """``192.0.2.1:80``, ``"[2001:db8::1]:80"``, ``unknown`` -> the address part."""
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else node
    return node.rsplit(":", 1)[0] if node.count(":") == 1 else node


class ProxyHeaders:
    """ASGI middleware: wraps the app; ``networks`` empty means it changes nothing."""

    def __init__(self, app: Any, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.networks and scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if client and _trusted(client[0], self.networks):
                self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: dict[str, Any]) -> None:
        headers: dict[bytes, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, []).append(value.decode("latin-1"))
        proto, host, chain = None, None, []
        if b"forwarded" in headers:
            hops = _forwarded(",".join(headers[b"forwarded"]))
            proto, host = hops[-1].get("proto"), hops[-1].get("host")
            chain = [_for_host(hop["for"]) for hop in hops if "for" in hop]
        else:
            proto = _last(headers.get(b"x-forwarded-proto"))
            host = _last(headers.get(b"x-forwarded-host"))
            chain = [item.strip() for item in ",".join(headers.get(b"x-forwarded-for", [])).split(",") if item.strip()]
        if proto and proto.lower() in SCHEMES:
            proto = proto.lower()
            scope["scheme"] = proto.replace("http", "ws") if scope["type"] == "websocket" else proto
        if host:
            kept = [(n, v) for n, v in scope["headers"] if n != b"host"]
            scope["headers"] = [(b"host", host.encode("latin-1")), *kept]
        for address in reversed(chain):
            if not _trusted(address, self.networks):
                scope["client"] = (address, 0)
                break


def _last(values: list[str] | None) -> str | None:
    if not values:
        return None
    items = [item.strip() for item in ",".join(values).split(",") if item.strip()]
    return items[-1] if items else None
