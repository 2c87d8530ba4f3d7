"""Ports: what the application needs from the outside world, named by role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "CatalogQueries",
    "ItemFilter",
    "ItemPage",
    "ProjectionPositions",
    "SecretCipher",
    "TokenSigner",
]


class SecretCipher(Protocol):
    """Encrypts secrets with a per-tenant data key kept outside the event log."""

    def encrypt(self, tenant_id: str, plaintext: str) -> dict[str, str]:
        """Returns ``{"key_id": ..., "ciphertext": ...}``."""
        ...

    def decrypt(self, tenant_id: str, sealed: dict[str, str]) -> str: ...

    def ensure_tenant_key(self, tenant_id: str) -> None: ...

    def shred(self, tenant_id: str) -> None:
        """Destroy the tenant's data key (crypto-shredding)."""
        ...


class TokenSigner(Protocol):
    def sign(self, claims: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class ItemFilter:
    enabled: bool | None = None
    tag: str | None = None
    name_prefix: str | None = None
    #: only the items an upstream brought (its discovered tools, resources and prompts)
    upstream_id: str | None = None


@dataclass(frozen=True)
class ItemPage:
    items: Sequence[dict[str, Any]]
    next_after: tuple[str, str] | None = None


class CatalogQueries(Protocol):
    """Reads of the catalog read model (rows as built by ``projections.catalog``)."""

    def get_item(self, tenant_id: str | None, kind: str, item_id: str) -> dict[str, Any] | None: ...

    def list_items(
        self, tenant_id: str | None, kind: str, flt: ItemFilter, after: tuple[str, str] | None, limit: int
    ) -> ItemPage: ...

    def member_ids(self, server_id: str) -> dict[str, list[str]]: ...

    def is_token_revoked(self, token_id: str) -> bool: ...


class ProjectionPositions(Protocol):
    """The position the catalog projection has reached, as this process sees it."""

    def current(self) -> int: ...

    def wait_for(self, position: int, timeout_s: float) -> bool: ...
