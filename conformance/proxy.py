"""A reverse proxy that adds ``Authorization: Bearer <token>`` and changes nothing else.

The conformance suite cannot send custom headers, so it talks to this proxy, which forwards every request
to the gateway with the bearer token added. Everything else is passed through as sent: method, path,
query, body and headers, ``Host`` and ``Origin`` included, so the gateway's own DNS-rebinding and origin
checks are what the suite tests. Responses stream back chunk by chunk (SSE included, nothing is buffered
or decompressed), and a client that goes away closes the upstream request too (a closed stream is a
cancellation in MCP 2026-07-28).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from aiohttp import web

# Hop-by-hop headers (RFC 9110 section 7.6.1) belong to one connection and are never forwarded.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding"}
    | {"upgrade", "content-length"}
)


def _forwardable(headers: object) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = list(headers.items())  # type: ignore[attr-defined]
    return [(k, v) for k, v in items if k.lower() not in HOP_BY_HOP]


class BearerProxy:
    def __init__(self, target: str, token: str, fresh_connections: bool = False) -> None:
        self.target = target.rstrip("/")
        self.token = token
        self.fresh_connections = fresh_connections
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = [(k, v) for k, v in _forwardable(request.headers) if k.lower() != "authorization"]
        headers.append(("Authorization", f"Bearer {self.token}"))
        body = await request.read()
        async with self._session.request(
            request.method,
            self.target + request.path_qs,
            headers=headers,
            data=body if body else None,
            allow_redirects=False,
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in _forwardable(upstream.headers):
                response.headers.add(key, value)
            if upstream.headers.get("Content-Length") is not None and "chunked" not in upstream.headers.get(
                "Transfer-Encoding", ""
            ):
                response.content_length = int(upstream.headers["Content-Length"])
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            except ConnectionResetError:
                pass  # the client went away: leaving the block closes the gateway's side too
            return response

    async def start(self, port: int) -> web.AppRunner:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
            # Send only what the client sent (plus the token): no default User-Agent, Accept-Encoding or Content-Type.
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type", "Accept"),
            connector=aiohttp.TCPConnector(limit=0, force_close=self.fresh_connections),
        )
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    async def stop(self, runner: web.AppRunner) -> None:
        await runner.cleanup()
        if self._session is not None:
            await self._session.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def bearer_proxy(target: str, token: str, fresh_connections: bool = False) -> Iterator[str]:
    """Serve the proxy on a free loopback port in a background thread: its base URL, until the block ends.

    ``fresh_connections``: one connection per request, so that with several workers consecutive requests of
    one session are spread over them rather than kept on one keep-alive connection."""
    proxy = BearerProxy(target, token, fresh_connections)
    port = free_port()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bearer-proxy", daemon=True)
    thread.start()
    runner = asyncio.run_coroutine_threadsafe(proxy.start(port), loop).result(timeout=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(runner), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
