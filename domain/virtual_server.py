"""A virtual server: a named selection of a tenant's tools, resources and prompts, and of whole upstreams."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from eventsourcing.domain import event

from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.topics import keep_topics
from ledgergate.domain.values import check_slug, check_tags
from ledgergate.domain.values_text import optional_text

__all__ = ["VirtualServer"]

MAX_MEMBERS = 10_000


def _member_ids(field: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value) or len(value) > MAX_MEMBERS:
        raise InvalidValueError(field, f"must be a list of at most {MAX_MEMBERS} ids")
    return sorted(set(value))


class VirtualServer(CatalogEntity):
    """Members are ids; the application checks they exist in the same tenant when it records them.

    ``upstream_ids`` include everything an upstream offers, now and after its catalog changes.
    """

    KIND: ClassVar[str] = "server"
    RULES: ClassVar[dict[str, Any]] = {
        "name": partial(check_slug, "name"),
        "description": partial(optional_text, "description", 8192),
        "tool_ids": partial(_member_ids, "tool_ids"),
        "resource_ids": partial(_member_ids, "resource_ids"),
        "prompt_ids": partial(_member_ids, "prompt_ids"),
        "upstream_ids": partial(_member_ids, "upstream_ids"),
        "tags": check_tags,
    }
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "description": None,
        "tool_ids": [],
        "resource_ids": [],
        "prompt_ids": [],
        "upstream_ids": [],
        "tags": [],
    }

    @event("Created")
    def __init__(self, fields: dict[str, Any]) -> None:
        self._init_fields(fields)


keep_topics(__name__, globals())
