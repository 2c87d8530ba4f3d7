"""Custody: the audited record of what happened to a tenant's keys and archives, never the keys themselves.

One stream per tenant (and one for the platform, ``_platform``): key rotations, re-seals and imports are
events like any other, in the log and in the audit feed, carrying key ids, counts and who did it.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import event

from ledgergate.domain.envelope import RegistryAggregate
from ledgergate.domain.tenant import NAMESPACE
from ledgergate.domain.topics import keep_topics

__all__ = ["Custody", "custody_id"]


def custody_id(tenant_id: str) -> UUID:
    return uuid5(NAMESPACE, f"custody:{tenant_id}")


class Custody(RegistryAggregate):
    KIND: ClassVar[str] = "custody"

    @staticmethod
    def create_id(tenant_id: str) -> UUID:
        return custody_id(tenant_id)

    @event("Opened")
    def __init__(self, tenant_id: str) -> None:
        self.last: dict[str, Any] = {}

    @event("MasterKeyRotated")
    def master_key_rotated(self, old_key_ids: list[str], new_key_id: str, rewrapped: int) -> None:
        self.last = {"master": new_key_id}

    @event("DataKeyRotated")
    def data_key_rotated(self, old_key_id: str | None, new_key_id: str) -> None:
        self.last = {"data_key": new_key_id}

    @event("SecretsResealed")
    def secrets_resealed(self, key_id: str, entities: list[str]) -> None:
        self.last = {"resealed": key_id}

    @event("ExportImported")
    def export_imported(
        self, exporter: str | None, signing_key: str | None, signature: str, importer: str, imported: int, skipped: int
    ) -> None:
        self.last = {"imported_from": exporter}


keep_topics(__name__, globals())
