"""Which verifier a bearer token goes to: the gateway's own (``iss`` = ledgergate) or the configured issuer's.

The ``iss`` read before verification only picks the verifier; that verifier then checks the signature with
its own keys and algorithms, so a token cannot choose how it is checked.
"""

from __future__ import annotations

import jwt

from ledgergate.infrastructure.auth.jwt_tokens import ISSUER, InvalidTokenError, JwtCodec, TokenClaims
from ledgergate.infrastructure.auth.oidc import OidcTokenVerifier

__all__ = ["BearerTokens"]


class BearerTokens:
    def __init__(self, codec: JwtCodec, external: OidcTokenVerifier | None = None) -> None:
        self.codec = codec
        self.external = external

    @property
    def authorization_servers(self) -> tuple[str, ...]:
        """Where clients get tokens for this gateway over OAuth: the external issuer, if there is one."""
        return (self.external.issuer,) if self.external is not None else ()

    def _external_for(self, token: str) -> OidcTokenVerifier | None:
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from None
        if issuer == ISSUER:
            return None
        if self.external is not None and issuer == self.external.issuer:
            return self.external
        raise InvalidTokenError(f"tokens of issuer {issuer!r} are not accepted here")

    def verify(self, token: str) -> TokenClaims:
        """From a thread without an event loop (fetches the issuer's keys if needed). Raises: InvalidTokenError."""
        external = self._external_for(token)
        return self.codec.verify(token) if external is None else external.verify_blocking(token)

    async def averify(self, token: str) -> TokenClaims:
        """Raises: InvalidTokenError."""
        external = self._external_for(token)
        return self.codec.verify(token) if external is None else await external.averify(token)
