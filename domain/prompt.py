"""A prompt: a Jinja template with declared arguments."""

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
    check_prompt_arguments,
    check_source,
    check_tags,
    check_template,
)
from ledgergate.domain.values_text import optional_text

__all__ = ["Prompt"]


def _optional_template(value: Any) -> str | None:
    return None if value is None else check_template(value)


class Prompt(CatalogEntity):
    KIND: ClassVar[str] = "prompt"
    OWN_BODY: ClassVar[str | None] = "template"
    RULES: ClassVar[dict[str, Any]] = {
        "name": partial(check_mcp_name, "name"),
        "title": partial(optional_text, "title", 256),
        "description": partial(optional_text, "description", 8192),
        "template": _optional_template,
        "arguments": check_prompt_arguments,
        "tags": check_tags,
        "source": check_source,
        "icons": check_icons,
        "meta": check_meta,
        "overrides": check_overrides,
    }
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "title": None,
        "description": None,
        "arguments": [],
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
