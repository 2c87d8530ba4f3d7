"""Settings of an external OpenID Connect issuer whose access tokens the gateway accepts (``LEDGERGATE_OIDC_*``).

Unset ``LEDGERGATE_OIDC_ISSUER``: the gateway accepts only the tokens it issues itself, and its protected
resource metadata names no authorization server (there is none to send a client to).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ledgergate.infrastructure.settings import SettingsError, _int, _list

__all__ = ["ASYMMETRIC_ALGORITHMS", "GRANTABLE_ROLES", "OidcSettings", "load_oidc_settings"]

#: Signatures an issuer's token may carry: public-key ones only, so the JWKS can never be used as an HMAC secret.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
#: Roles an external token may be mapped to; platform administration stays with the gateway's own tokens.
GRANTABLE_ROLES = ("client", "viewer", "editor", "admin")


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audiences: tuple[str, ...]
    jwks_url: str | None  # None: the ``jwks_uri`` of the issuer's discovery document
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    tenant_claim: str = "tenant"
    tenant: str | None = None  # the tenant of tokens without the tenant claim (None: such tokens are refused)
    role_claim: str = "role"
    role_map: tuple[tuple[str, str], ...] = ()  # claim value -> role; empty: the value must be a role name
    default_role: str | None = None  # the role of tokens whose role claim maps to none (None: refused)
    subject_claim: str = "sub"
    jwks_cache_s: int = 300
    leeway_s: int = 30


def _url(name: str, value: str) -> str:
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise SettingsError(f"{name}={value!r}: must be an https:// URL (http:// only on loopback)")
    return value


def _role(name: str, value: str) -> str:
    if value not in GRANTABLE_ROLES:
        raise SettingsError(f"{name}: {value!r} is not one of {', '.join(GRANTABLE_ROLES)}")
    return value


def _role_map(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for entry in _list(env, "LEDGERGATE_OIDC_ROLE_MAP"):
        claim_value, sep, role = entry.rpartition("=")
        if not sep or not claim_value:
            raise SettingsError(f"LEDGERGATE_OIDC_ROLE_MAP: {entry!r} must be written claim-value=role")
        pairs.append((claim_value.strip(), _role("LEDGERGATE_OIDC_ROLE_MAP", role.strip())))
    return tuple(pairs)


def load_oidc_settings(env: dict[str, str]) -> OidcSettings | None:
    """Raises: SettingsError naming the variable that is wrong."""
    issuer = (env.get("LEDGERGATE_OIDC_ISSUER") or "").strip()
    if not issuer:
        return None
    _url("LEDGERGATE_OIDC_ISSUER", issuer)
    audiences = _list(env, "LEDGERGATE_OIDC_AUDIENCE")
    if not audiences:
        raise SettingsError(
            "LEDGERGATE_OIDC_AUDIENCE: must be set with LEDGERGATE_OIDC_ISSUER, to this gateway's resource URL "
            "(e.g. https://gateway.example.com/mcp), the audience the issuer puts in tokens meant for it"
        )
    jwks_url = (env.get("LEDGERGATE_OIDC_JWKS_URL") or "").strip() or None
    algorithms = _list(env, "LEDGERGATE_OIDC_ALGORITHMS") or ("RS256", "ES256")
    for algorithm in algorithms:
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise SettingsError(
                f"LEDGERGATE_OIDC_ALGORITHMS: {algorithm!r} is not one of {', '.join(ASYMMETRIC_ALGORITHMS)}"
            )
    default_role = (env.get("LEDGERGATE_OIDC_DEFAULT_ROLE") or "").strip() or None
    return OidcSettings(
        issuer=issuer,
        audiences=audiences,
        jwks_url=_url("LEDGERGATE_OIDC_JWKS_URL", jwks_url) if jwks_url else None,
        algorithms=algorithms,
        tenant_claim=(env.get("LEDGERGATE_OIDC_TENANT_CLAIM") or "tenant").strip(),
        tenant=(env.get("LEDGERGATE_OIDC_TENANT") or "").strip() or None,
        role_claim=(env.get("LEDGERGATE_OIDC_ROLE_CLAIM") or "role").strip(),
        role_map=_role_map(env),
        default_role=_role("LEDGERGATE_OIDC_DEFAULT_ROLE", default_role) if default_role else None,
        subject_claim=(env.get("LEDGERGATE_OIDC_SUBJECT_CLAIM") or "sub").strip(),
        jwks_cache_s=_int(env, "LEDGERGATE_OIDC_JWKS_CACHE_S", 300, 10, 86_400),
        leeway_s=_int(env, "LEDGERGATE_OIDC_LEEWAY_S", 30, 0, 300),
    )
