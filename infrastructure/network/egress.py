"""The outbound policy held to at connect time: every name is resolved here, every resolved address is
checked, and only checked addresses are connected to (so a DNS answer that changes between a check
and the connection cannot slip through: there is no second lookup).

``EgressGuard.resolve`` is the one door. The HTTP clients' adapters (``infrastructure/network/clients.py``)
call it from the place each library connects: aiohttp's connector resolution, httpcore's network backend.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address
from typing import Protocol

from ledgergate.domain.egress import EgressPolicy, IpAddress, Refusal, parse_host_literal

__all__ = ["EgressBlockedError", "EgressGuard", "Resolver", "SystemResolver"]


class EgressBlockedError(OSError):
    """The outbound policy refused the target; nothing was sent to it."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` (an IPv6 one with its zone id, ``fe80::1%2``). Raises: OSError."""
        ...


class SystemResolver:
    """``getaddrinfo``, as the HTTP libraries themselves would ask it."""

    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses: list[str] = []
        for family, _, _, _, sockaddr in infos:
            text = str(sockaddr[0])
            if family == socket.AF_INET6 and len(sockaddr) > 3 and sockaddr[3] and "%" not in text:
                text = f"{text}%{sockaddr[3]}"
            if text not in addresses:
                addresses.append(text)
        return addresses


class EgressGuard:
    """The policy and the resolver the gateway's outbound connections go through."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver: Resolver = resolver or SystemResolver()

    @classmethod
    def default(cls) -> EgressGuard:
        """The policy with its default settings and the system resolver."""
        return cls(EgressPolicy())

    def check_url(self, url: str) -> None:
        """Refuse what the URL alone shows refused (an address literal, a metadata name), before any
        lookup. Raises: EgressBlockedError."""
        refusal = self.policy.refusal_of_url(url)
        if refusal is not None:
            raise EgressBlockedError(refusal)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, every one allowed by the policy; a host with any
        refused address is refused whole (its DNS answer is not the tenant's to choose from).

        Raises: EgressBlockedError, OSError (the name does not resolve)."""
        literal = parse_host_literal(host)
        if literal is not None:
            self._refuse(self.policy.refusal(host, literal))
            return [str(literal)]  # the canonical text: loose forms such as 2130706433 become 127.0.0.1
        self._refuse(self.policy.refusal_of_name(host))
        addresses = await self.resolver.resolve(host, port)
        if not addresses:
            raise OSError(f"{host} has no address")
        for text in addresses:
            self._refuse(self.policy.refusal(host, _parsed(text)))
        return addresses

    @staticmethod
    def _refuse(refusal: Refusal | None) -> None:
        if refusal is not None:
            raise EgressBlockedError(refusal)


def _parsed(text: str) -> IpAddress:
    try:
        return ip_address(text)
    except ValueError:  # a resolver answering something that is no address: nothing to connect to
        raise OSError(f"the resolver answered {text!r}, which is not an address") from None
