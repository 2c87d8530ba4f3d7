"""A real local HTTP service for REST tools to call: it echoes what it received as JSON."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["HITS", "echo_service"]


#: How many requests each path received (tests read it to count retries).
HITS: dict[str, int] = {}


class _Echo(BaseHTTPRequestHandler):
    """``/status/<code>/...`` answers that status; ``/slow/...`` answers after a second; anything else 200."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        HITS[self.path] = HITS.get(self.path, 0) + 1
        parts = self.path.split("/")
        status = int(parts[2]) if len(parts) > 2 and parts[1] == "status" and parts[2].isdigit() else 200
        if parts[1:2] == ["slow"]:
            time.sleep(1.0)
        payload = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "body": json.loads(body) if body else None,
                "api_key": self.headers.get("X-Api-Key"),
                "authorization": self.headers.get("Authorization"),
                "traceparent": self.headers.get("traceparent"),
            }
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        return


@contextmanager
def echo_service() -> Iterator[str]:
    """Serve on a free loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
