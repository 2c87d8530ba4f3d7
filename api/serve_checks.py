"""What ``ledgergate serve`` checks before it starts: where running would break clients, it refuses, in one line.

- The port must be free. granian binds with ``SO_REUSEPORT``, so a second gateway on the port of a running
  one would bind too and silently take part of its connections; a port held by another program would
  fail only after "Serving on ..." with a traceback. A probe binds the address without ``SO_REUSEPORT``
  (with ``SO_REUSEADDR``, so an earlier run's connections in TIME_WAIT are no obstacle), which fails
  while anything listens there, whichever options it used.
- More than one worker needs Redis: without it, legacy MCP sessions and pending client requests live in
  the memory of the worker that created them, and a client whose next request reaches another worker
  loses its session.
"""

from __future__ import annotations

import errno
import socket
from typing import Protocol

from ledgergate.application.errors import SettingsError

__all__ = ["CannotServeError", "check_before_serving"]


class ServeSettings(Protocol):
    """The settings ``serve`` checks (the composition root hands its ``Settings``)."""

    @property
    def workers(self) -> int: ...
    @property
    def redis_url(self) -> str | None: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...


class CannotServeError(Exception):
    """``serve`` can't start; the message says why and what to do."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_port_free(host: str, port: int) -> None:
    """Raises: CannotServeError when something listens on ``host:port`` or it can't be bound."""
    where = _address(host, port)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise CannotServeError(
            f"cannot listen on {where}: LEDGERGATE_HOST={host!r} is not an address here ({exc.strerror})"
        ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CannotServeError(
                    f"{where} is already in use (by another Ledgergate or another program); stop it, or serve on "
                    "another port with --port or LEDGERGATE_PORT"
                ) from None
            raise CannotServeError(f"cannot listen on {where}: {exc.strerror}") from None


def check_workers(settings: ServeSettings) -> None:
    """Raises: SettingsError for more than one worker without Redis."""
    if settings.workers > 1 and not settings.redis_url:
        raise SettingsError(
            f"LEDGERGATE_WORKERS={settings.workers} needs LEDGERGATE_REDIS_URL (e.g. redis://127.0.0.1:6379/0): "
            "without Redis, MCP sessions live in the memory of one worker, and a client whose next request "
            "reaches another worker loses its session. Set it, or serve with one worker"
        )


def check_before_serving(settings: ServeSettings) -> None:
    """Raises: SettingsError, CannotServeError."""
    check_workers(settings)
    check_port_free(settings.host, settings.port)
