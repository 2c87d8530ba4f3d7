"""Who is calling an MCP endpoint: bearer JWTs, checked against the hot catalog, never forwarded."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ledgergate.application.errors import InvalidTokenError
from ledgergate.application.ports import BearerVerifier, TokenClaims
from ledgergate.projections.hot_catalog import HotCatalogs

__all__ = ["McpAuthError", "McpCaller", "McpTokenVerifier", "protected_resource_metadata"]

QUERY_TOKEN_NAMES = ("access_token", "token", "api_key", "apikey")


class McpAuthError(Exception):
    def __init__(self, status: int, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error  # "invalid_token" | "insufficient_scope" | None


@dataclass(frozen=True)
class McpCaller:
    claims: TokenClaims


class McpTokenVerifier:
    """Verifies a JWT once and caches the claims until expiry; revocation is checked on every request."""

    def __init__(self, tokens: BearerVerifier, hot: HotCatalogs, cache_size: int = 10_000) -> None:
        self.tokens = tokens
        self.hot = hot
        self.cache_size = cache_size
        self._cache: dict[str, tuple[TokenClaims, float]] = {}

    async def _claims(self, token: str) -> TokenClaims:
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None and cached[1] > now:
            return cached[0]
        claims = await self.tokens.averify(token)
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[token] = (claims, min(now + 300, claims.expires_at or now + 300))
        return claims

    async def authenticate(
        self, authorization: str | None, query: dict[str, Any], tenant_path: str | None, server_id: str | None
    ) -> McpCaller:
        if any(name in query for name in QUERY_TOKEN_NAMES):
            raise McpAuthError(
                400, "tokens in the query string are refused; send Authorization: Bearer", "invalid_request"
            )
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise McpAuthError(401, "a bearer token is required")
        try:
            claims = await self._claims(authorization[7:].strip())
        except InvalidTokenError as exc:
            raise McpAuthError(401, f"invalid token: {exc}", "invalid_token") from None
        if self.hot.token_revoked(claims.token_id):
            raise McpAuthError(401, "this token was revoked", "invalid_token")
        if not self.hot.tenant_active(claims.tenant_id):
            raise McpAuthError(403, f"tenant {claims.tenant_id!r} is disabled, deleted or unknown")
        if server_id is not None and claims.server_ids is not None and server_id not in claims.server_ids:
            raise McpAuthError(403, "this token is not valid for this virtual server", "insufficient_scope")
        if server_id is None and claims.server_ids is not None:
            raise McpAuthError(
                403, "this token is limited to virtual servers; use /servers/{id}/mcp", "insufficient_scope"
            )
        return McpCaller(claims=claims)


def protected_resource_metadata(
    base_url: str, resource_path: str, authorization_servers: tuple[str, ...] = ()
) -> dict[str, Any]:
    """RFC 9728 metadata. It names an authorization server only when one exists: the external OpenID Connect
    issuer the operator configured. Without one, tokens are issued by the gateway itself (``ledgergate token
    create`` or the REST API), which runs no OAuth endpoints, so naming it would send clients to a 404."""
    metadata: dict[str, Any] = {
        "resource": base_url + resource_path,
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["mcp"],
        "resource_name": "Ledgergate MCP gateway",
        "resource_documentation": base_url + "/docs",
    }
    if authorization_servers:
        metadata["authorization_servers"] = list(authorization_servers)
    return metadata
