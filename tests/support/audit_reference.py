"""The audit log's reference answer: a scan of the whole log with the filter applied to each decoded event.

The audit log projection must answer every filter exactly like this; tests compare the two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ledgergate.application.audit import AuditFilter, StreamKinds, event_entry

Read = Callable[[int, int], Sequence[tuple[int, Any]]]


def _matches(flt: AuditFilter, event: Any, kind: str) -> bool:
    return (
        (flt.tenant_id is None or event.tenant_id == flt.tenant_id)
        and (flt.actor is None or event.actor == flt.actor)
        and (flt.token_id is None or event.actor_token_id == flt.token_id)
        and (flt.actor_tenant is None or event.actor_tenant == flt.actor_tenant)
        and (flt.entity_id is None or str(event.originator_id) == flt.entity_id)
        and (flt.entity_kind is None or kind == flt.entity_kind)
        and (flt.event_type is None or type(event).__qualname__.endswith(flt.event_type))
        and (flt.since is None or event.timestamp >= flt.since)
        and (flt.until is None or event.timestamp <= flt.until)
    )


def scanned_entries(read: Read, flt: AuditFilter, after: int = 0, limit: int = 100_000) -> list[dict[str, Any]]:
    """Scan from the start of the log (kinds are learnt from creations); entries after ``after``."""
    found: list[dict[str, Any]] = []
    kinds = StreamKinds()
    position = 0
    while len(found) < limit:
        batch = read(position, 1000)
        kinds.learn(batch)
        for at, event in batch:
            if at > after and len(found) < limit and _matches(flt, event, kinds.of(event)):
                found.append(event_entry(at, event, kinds.of(event)))
        if len(batch) < 1000:
            break
        position = batch[-1][0]
    return found
