"""A lean HTTP/1.1 load generator and a tiny echo service, for ``bench/mcp_serving.py``. Standard library only.

Both run in a process of their own, apart from the gateway and from the benchmark's driver:

    python bench/loadgen.py load < spec.json   # one JSON object of results on stdout
    python bench/loadgen.py echo               # prints "port N", then serves until SIGINT or SIGTERM

``load`` opens one keep-alive connection per unit of concurrency and sends the same pre-built request
bytes on each, over and over: first ``warmup_s`` untimed, then ``duration_s`` (or ``max_requests``)
timed. The client is a ``BufferedProtocol`` reading into one preallocated buffer, so that its own cost
per response stays small. Every response is framed by its status line and ``Content-Length`` (chunked
answers count as errors); anything but a 200, a body of the wrong length or one without the expected
text counts as an error, not as a sample.
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

RECV_BYTES = 256 * 1024  # one read at most (asyncio reads up to 256 kB); a 1,000-tool list is ~180 kB
MAX_HEAD = 64 * 1024
RECONNECT_PAUSE_S = 0.01


# -- load ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    host: str
    port: int
    request: bytes
    connections: int
    warmup_s: float
    duration_s: float
    max_requests: int
    expect_len: int | None = None  # exact body length of a good answer
    expect: bytes | None = None  # text a good answer contains
    grace_s: float = 10.0  # how long past the end a stuck request may take before the run is cut

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Spec:
        expect = raw.get("expect")
        return cls(
            host=raw["host"],
            port=int(raw["port"]),
            request=raw["request"].encode(),
            connections=int(raw["connections"]),
            warmup_s=float(raw["warmup_s"]),
            duration_s=float(raw["duration_s"]),
            max_requests=int(raw["max_requests"]),
            expect_len=raw.get("expect_len"),
            expect=expect.encode() if expect else None,
            grace_s=float(raw.get("grace_s", 10.0)),
        )


@dataclass
class Tally:
    measure_from: int  # perf_counter_ns: requests that start before this are warm-up
    measure_until: int  # no request starts after this
    max_requests: int
    latencies: list[int] = field(default_factory=list)  # ns, of good answers started in the timed window
    errors: dict[str, int] = field(default_factory=dict)
    completed: int = 0  # every answer, warm-up included (for CPU per request)
    last_end: int = 0
    body_len: int = 0

    def done(self, now: int) -> bool:
        return now >= self.measure_until or len(self.latencies) >= self.max_requests

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class ResponseError(Exception):
    """The answer is not HTTP/1.1 this client can frame (it needs a ``Content-Length``)."""


def content_length(head: bytes) -> int | None:
    """The ``Content-Length`` of a lower-cased header block, or None."""
    start = head.find(b"\r\ncontent-length:")
    if start < 0:
        return None
    end = head.find(b"\r\n", start + 2)
    return int(head[start + 17 : end if end >= 0 else None])


class LoadProtocol(asyncio.BufferedProtocol):
    """One keep-alive connection driven from the event loop's callbacks: a response's end sends the next request.

    The socket is read into one preallocated buffer; only the head is copied out, and the body only when
    ``expect`` asks for its text, so the client's cost per response stays small even for 180 kB answers.
    """

    def __init__(self, spec: Spec, tally: Tally, finished: asyncio.Future[str]) -> None:
        self.spec = spec
        self.tally = tally
        self.finished = finished
        self.buffer = bytearray(RECV_BYTES)
        self.view = memoryview(self.buffer)
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()  # a response head split over reads
        self.remaining = -1  # body bytes still to come; -1 while reading a head
        self.status = 0
        self.length = 0
        self.keep_alive = True
        self.body = bytearray()
        self.started = 0
        self.outcome: str | None = None  # why this side closed: "done" (the run ended) or "reconnect"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.outcome is None:  # the server closed, or the network failed, while a request was out
            self.tally.error(f"transport: {exc.__class__.__name__ if exc else 'closed by the server'}")
        if not self.finished.done():
            self.finished.set_result(self.outcome or "lost")

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        start = 0
        try:
            while start < nbytes and self.outcome is None:
                start = self._read_head(start, nbytes) if self.remaining < 0 else self._read_body(start, nbytes)
                if self.remaining == 0:
                    self._complete()
        except (ResponseError, ValueError) as exc:
            self.tally.error(f"bad response: {exc}")
            self._close("reconnect")

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost tells whether a response was cut

    def _send(self) -> None:
        assert self.transport is not None
        self.started = time.perf_counter_ns()
        self.transport.write(self.spec.request)

    def _read_head(self, start: int, end: int) -> int:
        """Where the body starts in the buffer, or ``end`` if the head goes on in the next read."""
        if self.head:  # rare: the head was split over reads
            carried = len(self.head)
            self.head += self.view[start:end]
            stop = self.head.find(b"\r\n\r\n", max(0, carried - 3))
            if stop < 0:
                return self._too_long(end)
            self._parse_head(bytes(self.head[: stop + 4]))
            return start + stop + 4 - carried
        stop = self.buffer.find(b"\r\n\r\n", start, end)
        if stop < 0:
            self.head += self.view[start:end]
            return end
        self._parse_head(bytes(self.view[start : stop + 4]))
        return stop + 4

    def _too_long(self, end: int) -> int:
        if len(self.head) > MAX_HEAD:
            raise ResponseError("a response head over 64 kB")
        return end

    def _parse_head(self, raw: bytes) -> None:
        head = raw.lower()
        if not head.startswith(b"http/1."):
            raise ResponseError(f"not HTTP/1.x: {raw[:30]!r}")
        self.head = bytearray()
        self.status = int(head[9:12])
        if head.startswith(b"http/1.0"):
            self.keep_alive = b"\r\nconnection: keep-alive" in head
        else:
            self.keep_alive = b"\r\nconnection: close" not in head
        length = content_length(head)
        if length is None and self.status not in (204, 304):
            raise ResponseError("no Content-Length (chunked or close-delimited answers are not supported)")
        self.length = self.remaining = length or 0

    def _read_body(self, start: int, end: int) -> int:
        take = min(self.remaining, end - start)
        if self.spec.expect is not None:
            self.body += self.view[start : start + take]
        self.remaining -= take
        return start + take

    def _complete(self) -> None:
        ended = time.perf_counter_ns()
        tally = self.tally
        tally.completed += 1
        if self._judge() and self.started >= tally.measure_from:
            tally.latencies.append(ended - self.started)
            tally.last_end = ended
            tally.body_len = self.length
        self.remaining = -1
        self.body.clear()
        if tally.done(ended):
            self._close("done")
        elif not self.keep_alive:
            self._close("reconnect")
        else:
            self._send()

    def _judge(self) -> bool:
        if self.status != 200:
            self.tally.error(f"http {self.status}")
        elif self.spec.expect_len is not None and self.length != self.spec.expect_len:
            self.tally.error("unexpected body length")
        elif self.spec.expect is not None and self.spec.expect not in self.body:
            self.tally.error("unexpected body")
        else:
            return True
        return False

    def _close(self, outcome: str) -> None:
        assert self.transport is not None
        self.outcome = outcome
        self.transport.close()


async def _connection(spec: Spec, tally: Tally) -> None:
    """Keeps one connection going (reconnecting when it is lost) until the run ends."""
    loop = asyncio.get_running_loop()
    while not tally.done(time.perf_counter_ns()):
        finished: asyncio.Future[str] = loop.create_future()
        try:
            transport, protocol = await loop.create_connection(
                lambda finished=finished: LoadProtocol(spec, tally, finished), spec.host, spec.port
            )
        except OSError as exc:
            tally.error(f"connect: {exc.__class__.__name__}")
            await asyncio.sleep(RECONNECT_PAUSE_S)
            continue
        try:
            outcome = await finished
        finally:
            if protocol.outcome is None:  # cut at the deadline: counted by run_load, not as a transport error
                protocol.outcome = "cut"
            transport.close()
        if outcome == "lost":
            await asyncio.sleep(RECONNECT_PAUSE_S)


def percentile(sorted_values: list[int], p: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))]


def _summary(spec: Spec, tally: Tally, cut: int, cpu_s: float, wall_s: float) -> dict[str, Any]:
    values = sorted(tally.latencies)
    elapsed_s = (tally.last_end - tally.measure_from) / 1e9 if values else 0.0
    latency = (
        {
            name: percentile(values, p) / 1e6
            for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9), ("max", 100))
        }
        | {"mean": sum(values) / len(values) / 1e6}
        if values
        else {}
    )
    errors = dict(tally.errors)
    if cut:
        errors["cut at the deadline"] = cut
    return {
        "connections": spec.connections,
        "requests": len(values),
        "errors": errors,
        "elapsed_s": elapsed_s,
        "rps": len(values) / elapsed_s if elapsed_s > 0 else 0.0,
        "latency_ms": latency,
        "body_bytes": tally.body_len,
        "completed_all": tally.completed,
        "client_cpu_s": cpu_s,
        "client_wall_s": wall_s,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_load(spec: Spec) -> dict[str, Any]:
    cpu_before, wall_before = _cpu_seconds(), time.perf_counter()
    now = time.perf_counter_ns()
    measure_from = now + int(spec.warmup_s * 1e9)
    tally = Tally(measure_from, measure_from + int(spec.duration_s * 1e9), spec.max_requests)
    tasks = [asyncio.create_task(_connection(spec, tally)) for _ in range(spec.connections)]
    _, pending = await asyncio.wait(tasks, timeout=spec.warmup_s + spec.duration_s + spec.grace_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return _summary(spec, tally, len(pending), _cpu_seconds() - cpu_before, time.perf_counter() - wall_before)


# -- echo ------------------------------------------------------------------------------------------

ECHO_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class EchoProtocol(asyncio.Protocol):
    """Answers every request with ``{"echo": "<request target>"}``; keep-alive and pipelining, no chunked bodies."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            if b"\r\ntransfer-encoding:" in head:
                self._refuse()
                return
            length = content_length(head) or 0
            if len(self.buffer) < end + 4 + length:
                return
            target = self.buffer[: self.buffer.find(b"\r\n")].split(b" ")
            self.buffer = self.buffer[end + 4 + length :]
            body = b'{"echo":' + json.dumps(target[1].decode("latin-1") if len(target) > 1 else "").encode() + b"}"
            self.transport.write(ECHO_HEAD % len(body) + body)
        if len(self.buffer) > MAX_HEAD:
            self._refuse()

    def _refuse(self) -> None:
        assert self.transport is not None
        self.transport.write(BAD_REQUEST)
        self.transport.close()


async def serve_echo(host: str = "127.0.0.1", port: int = 0) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(EchoProtocol, host, port, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    if argv[:1] == ["load"]:
        result = asyncio.run(run_load(Spec.from_json(json.load(sys.stdin))))
        json.dump(result, sys.stdout)
        return 0
    if argv[:1] == ["echo"]:
        asyncio.run(serve_echo())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
