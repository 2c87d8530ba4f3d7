"""What tools, resources, prompts and virtual servers share: lifecycle, updates, revert.

Each entity's mutable state is a flat dict of named fields (``FIELDS``). ``update`` records only the
fields that change; ``revert`` records the whole state of an earlier version, so a projection never
needs to load the aggregate to apply it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from eventsourcing.domain import event

from ledgergate.domain.envelope import RegistryAggregate
from ledgergate.domain.errors import EntityDeletedError, InvalidValueError
from ledgergate.domain.topics import keep_topics

__all__ = ["CatalogEntity"]


class CatalogEntity(RegistryAggregate):
    """Base of the catalog aggregates. Subclasses name their ``KIND`` and field rules."""

    KIND: ClassVar[str]
    #: field name -> check function returning the normalised value.
    RULES: ClassVar[dict[str, Callable[[Any], Any]]]
    #: the field whose value must be unique per tenant and kind (claimed with a NameClaim).
    NAME_FIELD: ClassVar[str] = "name"
    #: The field a hand-made item has where a discovered one has its upstream ``source`` (tools: the
    #: integration, prompts: the template); None where the kind has no such pair.
    OWN_BODY: ClassVar[str | None] = None
    #: defaults of fields added after a kind's first events (absent where a kind has none)
    DEFAULTS: ClassVar[dict[str, Any]]
    # The event classes the library makes from the decorated methods below, declared for type checkers.
    Updated: ClassVar[type[Any]]
    Enabled: ClassVar[type[Any]]
    Disabled: ClassVar[type[Any]]
    Deleted: ClassVar[type[Any]]
    Reverted: ClassVar[type[Any]]

    # Set by every subclass's creation event: ``enabled``, ``deleted``; by the envelope: ``tenant_id``.

    def _init_fields(self, fields: dict[str, Any]) -> None:
        """Called by each subclass's decorated ``__init__`` (the library needs one per class).

        Fields added to a kind after its first events were recorded take their default, so old
        creation events replay into complete state without rewriting them.
        """
        defaults: dict[str, Any] = getattr(self, "DEFAULTS", {})
        self.__dict__.update({name: defaults.get(name) for name in self.RULES})
        self.__dict__.update(fields)
        self.enabled = True
        self.deleted = False

    @classmethod
    def normalise(cls, fields: dict[str, Any]) -> dict[str, Any]:
        unknown = set(fields) - set(cls.RULES)
        if unknown:
            raise InvalidValueError(sorted(unknown)[0], f"is not a field of a {cls.KIND}")
        normalised = {name: cls.RULES[name](value) for name, value in fields.items()}
        body = cls.OWN_BODY
        if (
            body
            and body in normalised
            and "source" in normalised
            and ((normalised[body] is None) == (normalised["source"] is None))
        ):
            raise InvalidValueError(body, f"a {cls.KIND} has either its own {body} or an upstream source")
        return normalised

    def _check_origin(self, fields: dict[str, Any]) -> None:
        """A discovered item keeps its source and takes its body from the upstream; a hand-made one keeps a body."""
        source = getattr(self, "source", None)
        if "source" in fields and fields["source"] != source:
            raise InvalidValueError("source", "is set by discovery and can't be changed")
        body = self.OWN_BODY
        if body and body in fields:
            if source is not None:
                raise InvalidValueError(body, f"a discovered {self.KIND} gets its {body} from its upstream")
            if fields[body] is None:
                raise InvalidValueError(body, f"a {self.KIND} has either its own {body} or an upstream source")

    @property
    def unique_name(self) -> str:
        return str(getattr(self, self.NAME_FIELD))

    def state(self) -> dict[str, Any]:
        """The entity's fields and its enabled flag: what a revert restores."""
        return {**{name: getattr(self, name, None) for name in self.RULES}, "enabled": self.enabled}

    def _check_live(self) -> None:
        if self.deleted:
            raise EntityDeletedError(f"{self.KIND} {self.id} was deleted; revert it to an earlier version first")

    def update(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Record the fields whose value changes; returns them (empty: nothing recorded)."""
        self._check_live()
        self._check_origin(fields)
        changes = {k: v for k, v in self.normalise(fields).items() if getattr(self, k) != v}
        if changes:
            self._updated(changes=changes)
        return changes

    @event("Updated")
    def _updated(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    def enable(self) -> bool:
        self._check_live()
        if self.enabled:
            return False
        self._enabled()
        return True

    @event("Enabled")
    def _enabled(self) -> None:
        self.enabled = True

    def disable(self) -> bool:
        self._check_live()
        if not self.enabled:
            return False
        self._disabled()
        return True

    @event("Disabled")
    def _disabled(self) -> None:
        self.enabled = False

    def delete(self) -> None:
        self._check_live()
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True

    def revert(self, to_version: int, state: dict[str, Any]) -> None:
        """Restore the state the entity had at ``to_version`` (also undeletes it)."""
        if not 1 <= to_version <= self.version:
            raise InvalidValueError("version", f"must be between 1 and {self.version}")
        self._reverted(to_version=to_version, state=state)

    @event("Reverted")
    def _reverted(self, to_version: int, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self.deleted = False


keep_topics(__name__, globals())
