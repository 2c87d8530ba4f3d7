"""Recording custody events (key rotations, re-seals, imports) in the tenant's custody stream."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledgergate.application.concurrency import retried_on_concurrent_write
from ledgergate.domain.custody import Custody, custody_id
from ledgergate.domain.envelope import Envelope, recording

__all__ = ["record_custody"]


@retried_on_concurrent_write
def record_custody(registry: Any, envelope: Envelope, tenant_id: str, what: str, **fields: Any) -> int:
    """Append ``what`` (a ``Custody`` command: ``data_key_rotated``...) to ``tenant_id``'s custody stream;
    returns its position."""
    envelope = replace(envelope, tenant_id=tenant_id)
    with registry._command(envelope), recording(envelope):
        try:
            custody: Custody = registry.repository.get(custody_id(tenant_id))
        except AggregateNotFoundError:
            custody = Custody(tenant_id=tenant_id)
        getattr(custody, what)(**fields)
        return int(registry._commit(custody).position)
