"""A small OpenID Connect issuer on a loopback port: its own RSA and EC keys, discovery, a JWKS, and minting.

It serves ``/.well-known/openid-configuration`` and ``/jwks`` (counting how often each is fetched) and signs
access tokens with its keys, so tests check the gateway against a real key set fetched over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["LocalIssuer", "local_issuer"]


@dataclass
class LocalIssuer:
    url: str
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    fetches: Counter[str] = field(default_factory=Counter)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key, alg in (("rsa-1", self.rsa_key, "RS256"), ("ec-1", self.ec_key, "ES256")):
            public = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            keys.append({**public, "kid": kid, "use": "sig", "alg": alg})
        return {"keys": keys}

    def mint(self, audience: str, *, algorithm: str = "RS256", kid: str | None = None, **claims: Any) -> str:
        """A token signed with the issuer's key for ``algorithm`` (``claims`` override the defaults)."""
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": audience,
            "sub": f"user-{uuid.uuid4().hex[:8]}",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        key = self.ec_key if algorithm.startswith("ES") else self.rsa_key
        default_kid = "ec-1" if algorithm.startswith("ES") else "rsa-1"
        return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid or default_kid})


@contextmanager
def local_issuer() -> Iterator[LocalIssuer]:
    issuer: LocalIssuer | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert issuer is not None
            issuer.fetches[self.path] += 1
            if self.path == "/.well-known/openid-configuration":
                body: dict[str, Any] = {
                    "issuer": issuer.url,
                    "jwks_uri": issuer.url + "/jwks",
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                }
            elif self.path == "/jwks":
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = LocalIssuer(
        url=f"http://127.0.0.1:{server.server_address[1]}",
        rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec_key=ec.generate_private_key(ec.SECP256R1()),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
