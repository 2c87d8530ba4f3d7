"""Builders shared by the domain tests: an envelope, valid fields of each kind, sealed secrets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledgergate.domain.envelope import Envelope, recording
from ledgergate.domain.prompt import Prompt
from ledgergate.domain.resource import Resource
from ledgergate.domain.tool import Tool
from ledgergate.domain.values import SECRET_KEY

ENVELOPE = Envelope(tenant_id="acme", actor="alice", correlation_id="corr-1", causation_id="req-1")


def sealed(ciphertext: str = "c1pher") -> dict[str, Any]:
    """A secret as it is recorded: already encrypted."""
    return {SECRET_KEY: {"key_id": "k1", "ciphertext": ciphertext}}


def integration(**overrides: Any) -> dict[str, Any]:
    return {"method": "GET", "url": "https://api.example.com/search", "headers": {"X-Api-Key": sealed()}, **overrides}


def tool_fields(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "search",
        "description": "Search the web",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        "integration": integration(),
        **overrides,
    }


def new_tool(**overrides: Any) -> Tool:
    with recording(ENVELOPE):
        return Tool(fields=Tool.normalise({**Tool.DEFAULTS, **tool_fields(**overrides)}))


def new_prompt(**overrides: Any) -> Prompt:
    fields = {"name": "greet", "template": "Hello {{ who }}", "arguments": [{"name": "who"}], **overrides}
    with recording(ENVELOPE):
        return Prompt(fields=Prompt.normalise({**Prompt.DEFAULTS, **fields}))


def new_resource(**overrides: Any) -> Resource:
    fields = {"uri": "file:///readme.md", "name": "readme", "text": "# Readme", **overrides}
    with recording(ENVELOPE):
        return Resource(fields=Resource.normalise({**Resource.DEFAULTS, **fields}))


def event_names(events: Iterable[Any]) -> list[str]:
    return [type(event).__name__ for event in events]


def replay(events: Iterable[Any]) -> Any:
    """The aggregate rebuilt from its events, as a repository would."""
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate
