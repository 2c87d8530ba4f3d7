"""Event topics that do not depend on the name the package is installed under.

A stored event names its class by topic, ``module:qualname``. The domain is imported as
``ledgergate.domain``, but the log, export files and every existing data directory name its classes as
they were first written (``domain.tool:Tool.Created``): each domain class keeps that topic, when it is
written and when it is read, wherever the package lives. Renaming or moving a domain class still needs
its old topic registered (``eventsourcing.utils.register_topic``), as before.
"""

from __future__ import annotations

from typing import Any

from eventsourcing import utils as topics
from eventsourcing.utils import register_topic

__all__ = ["INSTALLED_UNDER", "keep_topics", "stable_topic"]

INSTALLED_UNDER = "ledgergate."


def stable_topic(cls: type[Any]) -> str:
    return f"{cls.__module__.removeprefix(INSTALLED_UNDER)}:{cls.__qualname__}"


def keep_topics(module_name: str, namespace: dict[str, Any]) -> None:
    """Give every class defined in the module (and the event classes nested in it) its stable topic."""
    for value in list(namespace.values()):
        if isinstance(value, type) and value.__module__ == module_name:
            _keep(value)


def _keep(cls: type[Any]) -> None:
    topic = stable_topic(cls)
    # eventsourcing's explicit ``TOPIC`` attribute would oblige every event class of every subclass to
    # declare one; its topic cache (what get_topic reads first; eventsourcing is pinned to one release, and
    # a test checks the topics) gives each class its own without that. Registered, so a stored topic
    # resolves without importing a module of that name.
    topics._type_cache[cls] = topic
    register_topic(topic, cls)
    for nested in list(vars(cls).values()):
        if isinstance(nested, type) and nested.__qualname__.startswith(cls.__qualname__ + "."):
            _keep(nested)
