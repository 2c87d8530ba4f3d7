"""A resource: a URI and stored content clients can read."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from eventsourcing.domain import event

from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.topics import keep_topics
from ledgergate.domain.values import (
    check_icons,
    check_mcp_name,
    check_meta,
    check_overrides,
    check_source,
    check_tags,
    check_uri,
)
from ledgergate.domain.values_text import optional_text

__all__ = ["Resource"]


def _mime_type(value: Any) -> str:
    return str(optional_text("mime_type", 255, value) or "text/plain")


class Resource(CatalogEntity):
    """Unique per tenant by URI. Content is ``text`` or base64 ``blob``, checked against ``max_bytes``."""

    KIND: ClassVar[str] = "resource"
    NAME_FIELD: ClassVar[str] = "uri"
    RULES: ClassVar[dict[str, Any]] = {
        "uri": partial(check_uri, "uri"),
        "name": partial(check_mcp_name, "name"),
        "title": partial(optional_text, "title", 256),
        "description": partial(optional_text, "description", 8192),
        "mime_type": _mime_type,
        "text": partial(optional_text, "text", 16 * 1024 * 1024),
        "blob": partial(optional_text, "blob", 32 * 1024 * 1024),
        "tags": check_tags,
        "source": check_source,
        "icons": check_icons,
        "meta": check_meta,
        "overrides": check_overrides,
    }
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "title": None,
        "description": None,
        "mime_type": "text/plain",
        "text": None,
        "blob": None,
        "tags": [],
        "source": None,
        "icons": None,
        "meta": None,
        "overrides": [],
    }

    @event("Created")
    def __init__(self, fields: dict[str, Any]) -> None:
        self._init_fields(fields)


keep_topics(__name__, globals())
