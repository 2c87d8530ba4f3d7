"""Signing and verifying Ledgergate's bearer tokens (HS256 JWTs) with pyjwt."""

from __future__ import annotations

from typing import Any

import jwt

from ledgergate.application.errors import InvalidTokenError
from ledgergate.application.ports import TokenClaims

__all__ = ["ISSUER", "InvalidTokenError", "JwtCodec", "TokenClaims"]

ISSUER = "ledgergate"
ALGORITHM = "HS256"


class JwtCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({**claims, "iss": ISSUER}, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, *, allow_expired: bool = False) -> TokenClaims:
        """The claims of a token this instance signed. ``allow_expired`` reads an expired one (to say when it
        expired, or to revoke it), never to authenticate. Raises: InvalidTokenError."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["sub", "jti", "iat", "iss"], "verify_exp": not allow_expired},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from None
        try:
            servers = claims.get("srv")
            return TokenClaims(
                token_id=str(claims["jti"]),
                subject=str(claims["sub"]),
                tenant_id=str(claims["tid"]),
                role=str(claims["role"]),
                server_ids=tuple(servers) if isinstance(servers, list) else None,
                expires_at=float(claims["exp"]) if "exp" in claims else None,
            )
        except KeyError as exc:
            raise InvalidTokenError(f"claim {exc} is missing") from None
