"""A tenant: the unit of isolation. Its id derives from its slug, so two tenants can't share one."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.envelope import SYSTEM_ACTOR_NAMESPACES
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.topics import keep_topics
from ledgergate.domain.values import check_slug
from ledgergate.domain.values_text import optional_text

__all__ = ["Tenant", "tenant_stream_id"]

NAMESPACE = uuid5(NAMESPACE_URL, "urn:ledgergate")


def tenant_stream_id(slug: str) -> UUID:
    return uuid5(NAMESPACE, f"tenant:{slug}")


def _check_tenant_slug(value: Any) -> str:
    slug = check_slug("name", value)
    if slug in SYSTEM_ACTOR_NAMESPACES:  # a token actor of such a tenant would read as a system actor
        raise InvalidValueError("name", f"{slug!r} is reserved for the gateway's own actors")
    return slug


class Tenant(CatalogEntity):
    """Tenants are catalog entities of the platform; their slug (``name``) is fixed at creation."""

    KIND: ClassVar[str] = "tenant"
    name: str
    RULES: ClassVar[dict[str, Any]] = {
        "name": _check_tenant_slug,
        "display_name": partial(optional_text, "display_name", 256),
        "description": partial(optional_text, "description", 8192),
    }
    DEFAULTS: ClassVar[dict[str, Any]] = {"display_name": None, "description": None}

    @staticmethod
    def create_id(fields: dict[str, Any]) -> UUID:
        return tenant_stream_id(fields["name"])

    @event("Created")
    def __init__(self, fields: dict[str, Any]) -> None:
        self._init_fields(fields)

    def update(self, fields: dict[str, Any]) -> dict[str, Any]:
        if "name" in fields and fields["name"] != self.name:
            raise InvalidValueError("name", "a tenant's slug can't change; create a new tenant instead")
        return super().update(fields)


keep_topics(__name__, globals())
