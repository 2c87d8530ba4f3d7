"""A prompt: a Jinja template with declared arguments."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from eventsourcing.domain import event

from domain.catalog import CatalogEntity
from domain.values import check_mcp_name, check_prompt_arguments, check_tags, check_template
from domain.values_text import optional_text

__all__ = ["Prompt"]


class Prompt(CatalogEntity):
    KIND: ClassVar[str] = "prompt"
    RULES: ClassVar[dict[str, Any]] = {
        "name": partial(check_mcp_name, "name"),
        "title": partial(optional_text, "title", 256),
        "description": partial(optional_text, "description", 8192),
        "template": check_template,
        "arguments": check_prompt_arguments,
        "tags": check_tags,
    }
    DEFAULTS: ClassVar[dict[str, Any]] = {"title": None, "description": None, "arguments": [], "tags": []}

    @event("Created")
    def __init__(self, fields: dict[str, Any]) -> None:
        self._init_fields(fields)
