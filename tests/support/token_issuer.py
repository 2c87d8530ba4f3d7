"""An OAuth 2.0 token endpoint on loopback for the client credentials grant: it records every grant asked
for and issues ``issued-N`` to client ``client_id``/``client_secret`` (``invalid_client`` to others)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


class TokenIssuer:
    """``lifetime``: the ``expires_in`` it gives (None: none); ``body``: an answer given instead of a token;
    ``delay_s``: how long it takes to answer."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.grants: list[dict[str, str]] = []
        self.lifetime: float | None = 3600
        self.body: bytes | None = None
        self.delay_s = 0.0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                issuer.grants.append(form)
                time.sleep(issuer.delay_s)
                good = (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) == (
                    "client_credentials",
                    client_id,
                    client_secret,
                )
                answer: dict[str, Any] = {"access_token": f"issued-{len(issuer.grants)}", "token_type": "Bearer"}
                if issuer.lifetime is not None:
                    answer["expires_in"] = issuer.lifetime
                body = json.dumps(answer if good else {"error": "invalid_client"}).encode()
                if good and issuer.body is not None:
                    body = issuer.body
                self.send_response(200 if good else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"


@contextmanager
def issuing(client_id: str, client_secret: str) -> Iterator[TokenIssuer]:
    issuer = TokenIssuer(client_id, client_secret)
    threading.Thread(target=issuer.server.serve_forever, daemon=True).start()
    try:
        yield issuer
    finally:
        issuer.server.shutdown()
        issuer.server.server_close()
