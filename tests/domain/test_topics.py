"""Stored topics do not move with the import name: the log written before and after installing as ``ledgergate``
names every domain class the same way."""

from __future__ import annotations

import importlib
import pkgutil

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

import ledgergate.domain
from ledgergate.domain.catalog import CatalogEntity


def domain_classes() -> list[type]:
    """The aggregates and their event classes: what the log names by topic."""
    found: list[type] = []
    for info in pkgutil.iter_modules(ledgergate.domain.__path__, "ledgergate.domain."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Aggregate) and value.__module__ == module.__name__:
                found.append(value)
                found += [v for v in vars(value).values() if isinstance(v, type) and v.__module__ == module.__name__]
    return found


def test_every_domain_class_and_event_keeps_the_topic_it_was_first_written_with() -> None:
    classes = domain_classes()
    assert len(classes) > 40
    for cls in classes:
        topic = get_topic(cls)
        assert topic == f"{cls.__module__.removeprefix('ledgergate.')}:{cls.__qualname__}"
        assert resolve_topic(topic) is cls


def test_event_classes_inherited_by_each_kind_have_their_own_topic() -> None:
    from ledgergate.domain.tool import Tool

    assert get_topic(Tool) == "domain.tool:Tool"
    assert get_topic(Tool.Deleted) == "domain.tool:Tool.Deleted"
    assert get_topic(CatalogEntity.Deleted) == "domain.catalog:CatalogEntity.Deleted"
    assert resolve_topic("domain.tool:Tool.Created") is Tool.Created
