"""Access tokens of an external OpenID Connect issuer, checked as a resource server checks them.

A token is accepted when its signature verifies with a key of the issuer's JWKS under one of the configured
public-key algorithms (never HS* or ``none``: the key set is public), ``iss`` is the issuer, ``aud`` names
this gateway (RFC 8707: a token meant for another resource is refused), and ``exp`` / ``nbf`` hold (with a
small leeway for clock skew). Its tenant and role come from claims, mapped by configuration; platform
administration is never granted to an external token.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jwt

from ledgergate.infrastructure.auth.jwks import JwksCache, KeysUnavailableError
from ledgergate.infrastructure.auth.jwt_tokens import InvalidTokenError, TokenClaims
from ledgergate.infrastructure.oidc_settings import GRANTABLE_ROLES, OidcSettings

__all__ = ["KeysNotLoadedError", "OidcTokenVerifier"]


class KeysNotLoadedError(InvalidTokenError):
    """The key the token names is not cached yet: refresh the key set, then verify again."""


class OidcTokenVerifier:
    def __init__(self, settings: OidcSettings, keys: JwksCache) -> None:
        self.settings = settings
        self.keys = keys

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def needs_keys(self, token: str) -> bool:
        """Whether verifying ``token`` needs the key set fetched (first use, expiry, or an unknown key id)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return False
        return self.keys.needs_refresh(kid if isinstance(kid, str) else None)

    def verify(self, token: str) -> TokenClaims:
        """Raises: InvalidTokenError (KeysNotLoadedError when the key set must be fetched first)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from None
        algorithm = header.get("alg")
        if algorithm not in self.settings.algorithms:
            raise InvalidTokenError(
                f"the signature algorithm {algorithm!r} is not accepted (only {', '.join(self.settings.algorithms)})"
            )
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        key = self.keys.key(kid)
        if key is None:
            if self.keys.needs_refresh(kid):
                raise KeysNotLoadedError("the issuer's keys are not loaded")
            raise InvalidTokenError(f"the issuer has no signing key {kid!r}")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(self.settings.algorithms),
                audience=list(self.settings.audiences),
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_s,
                options={"require": ["exp", "iss", "aud", self.settings.subject_claim]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from None
        return self._mapped(token, claims)

    async def averify(self, token: str) -> TokenClaims:
        """``verify``, fetching the issuer's keys first when they are needed. Raises: InvalidTokenError."""
        if self.needs_keys(token):
            try:
                await self.keys.refresh()
            except KeysUnavailableError as exc:
                raise InvalidTokenError(f"the issuer's keys are unavailable: {exc}") from None
        return self.verify(token)

    def verify_blocking(self, token: str) -> TokenClaims:
        """``averify`` from a thread that runs no event loop. Raises: InvalidTokenError."""
        if self.needs_keys(token):
            try:
                self.keys.refresh_blocking()
            except KeysUnavailableError as exc:
                raise InvalidTokenError(f"the issuer's keys are unavailable: {exc}") from None
        return self.verify(token)

    def _mapped(self, token: str, claims: dict[str, Any]) -> TokenClaims:
        settings = self.settings
        tenant = claims.get(settings.tenant_claim, settings.tenant)
        if not isinstance(tenant, str) or not tenant:
            raise InvalidTokenError(f"the token has no {settings.tenant_claim!r} claim naming a tenant")
        role = self._role(claims.get(settings.role_claim))
        if role is None:
            raise InvalidTokenError(f"the token's {settings.role_claim!r} claim maps to no role")
        jti = claims.get("jti")
        token_id = (
            f"oidc:{jti}" if isinstance(jti, str) and jti else "oidc:" + hashlib.sha256(token.encode()).hexdigest()[:32]
        )
        # a token's subject never holds ":" (actors are "<tenant>:<subject>"); the issuer's may
        subject = str(claims[settings.subject_claim]).replace("%", "%25").replace(":", "%3A")
        return TokenClaims(
            token_id=token_id,
            subject=subject,
            tenant_id=tenant,
            role=role,
            server_ids=None,
            expires_at=float(claims["exp"]),
        )

    def _role(self, value: Any) -> str | None:
        """The highest role the claim's values map to (a claim may hold one value or a list, e.g. groups)."""
        values = value if isinstance(value, list) else [value] if value is not None else []
        mapping = dict(self.settings.role_map)
        roles = []
        for item in values:
            if not isinstance(item, str):
                continue
            role = mapping.get(item) if mapping else item
            if role in GRANTABLE_ROLES:
                roles.append(role)
        if not roles:
            return self.settings.default_role
        return max(roles, key=GRANTABLE_ROLES.index)
