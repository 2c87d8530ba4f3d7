"""Every outbound connection of the test process, intercepted: SSRF tests see what the code tried to reach,
and nothing but loopback is ever reached.

``Outbound`` patches the calls every TCP connection of this process ends in: ``socket.socket.connect`` /
``connect_ex`` (blocking code) and the event loop's ``sock_connect`` (asyncio's ``create_connection``,
aiohttp's happy eyeballs and anyio all end there). Each attempt is recorded with its destination; one to
a loopback address goes through, any other is refused before the system call, so no packet leaves.
``socket.getaddrinfo`` answers numeric hosts as the system does (no lookup) and names only from the
table, so no DNS query leaves either.
"""

from __future__ import annotations

import asyncio.selector_events
import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["Attempt", "Outbound", "TableResolver", "outbound_fixture", "reached", "report"]

_real_getaddrinfo = socket.getaddrinfo


def reached(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address a socket address really reaches (zone dropped, IPv4-mapped and -compatible reduced)."""
    parsed = ipaddress.ip_address(address.split("%")[0])
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return parsed.ipv4_mapped
        if int(parsed) >> 32 == 0 and int(parsed) > 1:
            return ipaddress.IPv4Address(int(parsed))
    return parsed


@dataclass(frozen=True)
class Attempt:
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        try:
            return reached(self.address).is_loopback
        except ValueError:
            return False


@dataclass
class Outbound:
    """What the code under test tried to connect to, and the names it may resolve."""

    names: dict[str, list[str]] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)

    def to(self, address: str, port: int | None = None) -> list[Attempt]:
        wanted = reached(address)
        return [a for a in self.attempts if reached(a.address) == wanted and (port is None or a.port == port)]

    def non_loopback(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.loopback]

    def _record(self, address: Any) -> None:
        if not isinstance(address, tuple):  # a unix socket path
            return
        attempt = Attempt(str(address[0]), int(address[1]))
        self.attempts.append(attempt)
        if not attempt.loopback:
            raise ConnectionRefusedError(f"the test refuses to connect to {attempt.address}:{attempt.port}")

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        name = (host.decode() if isinstance(host, bytes) else str(host or "")).lower().rstrip(".")
        if name in self.names or name == "localhost":
            out = []
            for address in self.names.get(name, ["127.0.0.1"]):
                kind = socket.AF_INET6 if ":" in address else socket.AF_INET
                if family in (0, kind):
                    sockaddr = (address, int(port or 0), 0, 0) if kind == socket.AF_INET6 else (address, int(port or 0))
                    out.append((kind, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return out
        try:
            return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, f"{name} is not in the test's table of names") from None


@pytest.fixture(name="outbound")
def outbound_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Outbound]:
    record = Outbound()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_sock_connect = asyncio.selector_events.BaseSelectorEventLoop.sock_connect

    def connect(sock: socket.socket, address: Any) -> None:
        record._record(address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        record._record(address)
        return real_connect_ex(sock, address)

    async def sock_connect(loop: Any, sock: socket.socket, address: Any) -> None:
        record._record(address)
        await real_sock_connect(loop, sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(asyncio.selector_events.BaseSelectorEventLoop, "sock_connect", sock_connect)
    monkeypatch.setattr(socket, "getaddrinfo", record.getaddrinfo)
    yield record


class TableResolver:
    """The resolver port answered from a table, as a DNS server controlled by a tenant would answer."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        name = host.lower().rstrip(".")
        if name not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the test's table of names")
        return list(self.names[name])


def report(request: pytest.FixtureRequest, line: str) -> None:
    """Write a suite's counts to the terminal, past output capture."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)
