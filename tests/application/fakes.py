"""Hand-written fakes of the application's ports, and a registry on the in-memory event store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledgergate.application.ports import ItemFilter, ItemPage
from ledgergate.application.registry import PLATFORM_TENANT, Registry
from ledgergate.domain.envelope import Envelope

TOOL = {
    "name": "search",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    "integration": {
        "method": "GET",
        "url": "https://api.example.com/search",
        "query": {"q": "q"},
        "headers": {"X-Api-Key": "k-plaintext-123"},
    },
}


def tool(**overrides: Any) -> dict[str, Any]:
    return {**TOOL, **overrides}


class FakeCipher:
    """Reversible and recognisable: the ciphertext is the plaintext reversed, tagged with the tenant."""

    def __init__(self) -> None:
        self.tenant_keys: set[str] = set()
        self.shredded: list[str] = []

    def encrypt(self, tenant_id: str, plaintext: str) -> dict[str, str]:
        return {"key_id": f"key-{tenant_id}", "ciphertext": plaintext[::-1]}

    def decrypt(self, tenant_id: str, sealed: dict[str, str]) -> str:
        if sealed["key_id"] != f"key-{tenant_id}":
            raise ValueError("sealed under another tenant's key")
        return sealed["ciphertext"][::-1]

    def ensure_tenant_key(self, tenant_id: str) -> None:
        self.tenant_keys.add(tenant_id)

    def shred(self, tenant_id: str) -> None:
        self.shredded.append(tenant_id)


class FakeSigner:
    def __init__(self) -> None:
        self.signed: list[dict[str, Any]] = []

    def sign(self, claims: dict[str, Any]) -> str:
        self.signed.append(claims)
        return f"jwt-{len(self.signed)}"


def envelope(tenant: str = "acme", actor: str = "alice", correlation_id: str = "corr-1") -> Envelope:
    return Envelope(tenant, actor, correlation_id, "req-1")


def new_registry(
    tenants: tuple[str, ...] = ("acme",), on_saved: Callable[[int], None] | None = None, **kwargs: Any
) -> Registry:
    registry = Registry(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        cipher=FakeCipher(),
        signer=FakeSigner(),
        on_saved=on_saved,
        **kwargs,
    )
    for slug in tenants:
        registry.create_tenant(envelope(PLATFORM_TENANT, actor="root"), {"name": slug})
    return registry


def head(registry: Registry) -> int:
    return registry.recorder.max_notification_id() or 0


def raw_log(registry: Registry) -> bytes:
    """Every stored event's state, as the store holds it."""
    return b"\n".join(n.state for n in registry.recorder.select_notifications(start=1, limit=10_000))


@dataclass
class FakeCatalog:
    """The CatalogQueries port over a dict of rows; remembers the pages it was asked for."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    asked_after: list[tuple[str, str] | None] = field(default_factory=list)

    def get_item(self, tenant_id: str | None, kind: str, item_id: str) -> dict[str, Any] | None:
        row = self.rows.get(item_id)
        if row is None or row["kind"] != kind or (tenant_id is not None and row["tenant_id"] != tenant_id):
            return None
        return row

    def list_items(
        self, tenant_id: str | None, kind: str, flt: ItemFilter, after: tuple[str, str] | None, limit: int
    ) -> ItemPage:
        self.asked_after.append(after)
        rows = sorted(
            (r for r in self.rows.values() if r["kind"] == kind and r["tenant_id"] == tenant_id),
            key=lambda r: (r["name"], r["id"]),
        )
        rows = [r for r in rows if after is None or (r["name"], r["id"]) > after]
        page = rows[:limit]
        more = len(rows) > limit
        return ItemPage(items=page, next_after=(page[-1]["name"], page[-1]["id"]) if more else None)

    def member_ids(self, server_id: str) -> dict[str, list[str]]:
        return {}

    def is_token_revoked(self, token_id: str) -> bool:
        return False
