"""A prompt: a Jinja template with declared arguments."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from eventsourcing.domain import event

from domain.catalog import CatalogEntity
from domain.errors import InvalidValueError
from domain.values import (
    check_icons,
    check_mcp_name,
    check_meta,
    check_overrides,
    check_prompt_arguments,
    check_source,
    check_tags,
    check_template,
)
from domain.values_text import optional_text

__all__ = ["Prompt"]


def _optional_template(value: Any) -> str | None:
    return None if value is None else check_template(value)


class Prompt(CatalogEntity):
    KIND: ClassVar[str] = "prompt"
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

    @classmethod
    def normalise(cls, fields: dict[str, Any]) -> dict[str, Any]:
        normalised = super().normalise(fields)
        if (
            "template" in normalised
            and "source" in normalised
            and ((normalised["template"] is None) == (normalised["source"] is None))
        ):
            raise InvalidValueError("template", "a prompt has either a template or an upstream source")
        return normalised

    def update(self, fields: dict[str, Any]) -> dict[str, Any]:
        if "template" in fields and fields["template"] is None and getattr(self, "source", None) is None:
            raise InvalidValueError("template", "a prompt has either a template or an upstream source")
        if "template" in fields and fields["template"] is not None and getattr(self, "source", None) is not None:
            raise InvalidValueError("template", "a discovered prompt is rendered by its upstream")
        return super().update(fields)
