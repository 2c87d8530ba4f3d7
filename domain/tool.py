"""A tool: a name and schema clients call, and how Ledgergate performs the call."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from eventsourcing.domain import event

from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.envelope import upcast_credential
from ledgergate.domain.topics import keep_topics
from ledgergate.domain.values import (
    check_annotations,
    check_execution,
    check_icons,
    check_input_schema,
    check_integration,
    check_mcp_name,
    check_meta,
    check_output_schema,
    check_overrides,
    check_source,
    check_tags,
)
from ledgergate.domain.values_text import optional_text

__all__ = ["Tool"]


def _optional_integration(value: Any) -> dict[str, Any] | None:
    return None if value is None else check_integration(value)


class Tool(CatalogEntity):
    KIND: ClassVar[str] = "tool"
    OWN_BODY: ClassVar[str | None] = "integration"
    RULES: ClassVar[dict[str, Any]] = {
        "name": partial(check_mcp_name, "name"),
        "title": partial(optional_text, "title", 256),
        "description": partial(optional_text, "description", 8192),
        "input_schema": check_input_schema,
        "output_schema": check_output_schema,
        "annotations": check_annotations,
        "tags": check_tags,
        "integration": _optional_integration,
        "source": check_source,
        "icons": check_icons,
        "meta": check_meta,
        "execution": check_execution,
        "overrides": check_overrides,
    }
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "title": None,
        "description": None,
        "output_schema": None,
        "annotations": {},
        "tags": [],
        "integration": None,
        "source": None,
        "icons": None,
        "meta": None,
        "execution": None,
        "overrides": [],
    }

    class Registered(CatalogEntity.Created):
        """A tool was registered. Version 2 added ``title`` and ``output_schema`` to the fields; version 3
        the envelope's credential (``actor_token_id``, ``actor_tenant``)."""

        class_version = 3
        fields: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["fields"].setdefault("title", None)
            state["fields"].setdefault("output_schema", None)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            upcast_credential(state)

    @event(Registered)
    def __init__(self, fields: dict[str, Any]) -> None:
        self._init_fields(fields)


keep_topics(__name__, globals())
