"""Name claims make a name unique per tenant and kind without a check-then-act race.

A claim's id derives from (tenant, kind, name). Two commands that claim the same free name both
try to write version 1 (or the same next version) of one stream, and the store's unique
(stream, version) key lets exactly one of them commit.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import event

from ledgergate.domain.envelope import RegistryAggregate
from ledgergate.domain.errors import DomainError
from ledgergate.domain.tenant import NAMESPACE
from ledgergate.domain.topics import keep_topics

__all__ = ["NameClaim", "NameTakenError", "claim_id"]


class NameTakenError(DomainError):
    def __init__(self, kind: str, name: str, owner_id: str) -> None:
        super().__init__(f"a {kind} named {name!r} already exists ({owner_id})")
        self.kind = kind
        self.name = name
        self.owner_id = owner_id


def claim_id(tenant_id: str, kind: str, name: str) -> UUID:
    return uuid5(NAMESPACE, f"claim:{tenant_id}/{kind}/{name}")


class NameClaim(RegistryAggregate):
    @staticmethod
    def create_id(tenant_id: str, kind: str, name: str) -> UUID:
        return claim_id(tenant_id, kind, name)

    @event("Claimed")
    def __init__(self, tenant_id: str, kind: str, name: str, owner_id: str) -> None:
        self.kind = kind
        self.name = name
        self.owner_id: str | None = owner_id

    def claim(self, owner_id: str) -> None:
        if self.owner_id is not None and self.owner_id != owner_id:
            raise NameTakenError(self.kind, self.name, self.owner_id)
        if self.owner_id is None:
            self._reclaimed(owner_id=owner_id)

    @event("Reclaimed")
    def _reclaimed(self, owner_id: str) -> None:
        self.owner_id = owner_id

    def release(self, owner_id: str) -> None:
        if self.owner_id == owner_id:
            self._released()

    @event("Released")
    def _released(self) -> None:
        self.owner_id = None


keep_topics(__name__, globals())
