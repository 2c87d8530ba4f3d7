"""Rotating the master key and tenants' data keys, re-sealing a tenant's secrets, each recorded as custody events.

Master rotation makes a new active master key first, then re-wraps every data key (of every generation)
one row at a time; secrets themselves are not touched. Every process keeps opening every wrap meanwhile:
old wraps with the retired key (still in the data directory), new ones with the new key. A crash at any
point leaves each row wrapped by a key that is on disk; running the rotation again finishes the job.
The retired key is removed only by ``retire_master_keys``, once no row is wrapped by it.

A master key the operator gives is rotated by the operator: the new key is given as the master key and the
old one as retired, to every process; ``rotate_master`` then makes no key and re-wraps every data key under
the given one, and ``retire_master_keys`` names the retired settings nothing is wrapped by any more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol
from uuid import UUID

from ledgergate.application.custody import record_custody
from ledgergate.domain.envelope import Envelope, recording
from ledgergate.domain.values import SECRET_KEY, is_secret_ref

__all__ = ["KeyCustodian", "reseal_tenant", "retire_master_keys", "rotate_master", "rotate_tenant"]

PLATFORM = "_platform"


class KeyCustodian(Protocol):
    """The tenant cipher's rotation surface (``infrastructure/crypto/tenant_cipher.py``)."""

    def wrapped_rows(self) -> list[tuple[str, str, str, str]]: ...

    def rewrap(self, row: tuple[str, str, str, str]) -> bool: ...

    def rotate_tenant(self, tenant_id: str) -> tuple[str | None, str]: ...

    def active_key_id(self, tenant_id: str) -> str | None: ...

    def encrypt(self, tenant_id: str, plaintext: str) -> dict[str, str]: ...

    def decrypt(self, tenant_id: str, sealed: dict[str, str]) -> str: ...


class MasterRing(Protocol):
    @property
    def active_id(self) -> str: ...

    @property
    def operator_given(self) -> bool: ...

    def rotate(self) -> tuple[str, str]: ...

    def retired_ids(self) -> list[str]: ...

    def wrapped_by(self, wrapped: str) -> str | None: ...

    def remove(self, key_id: str) -> bool: ...


def rotate_master(
    custodian: KeyCustodian,
    ring: MasterRing,
    registry: Any,
    envelope: Envelope,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Returns the old and new key ids and how many data keys were re-wrapped."""
    old_id, new_id = ring.rotate()
    rewrapped = _rewrap_all(custodian, progress)
    rewrapped += _rewrap_all(custodian)  # keys a process made meanwhile under the key it had not yet let go of
    retired = ring.retired_ids()
    record_custody(
        registry, envelope, PLATFORM, "master_key_rotated", old_key_ids=retired, new_key_id=new_id, rewrapped=rewrapped
    )
    return {
        "old_key_id": old_id,
        "new_key_id": new_id,
        "rewrapped": rewrapped,
        "retired_keys": retired,
        "given": ring.operator_given,
    }


def _rewrap_all(custodian: KeyCustodian, progress: Callable[[int, int], None] | None = None) -> int:
    rows = custodian.wrapped_rows()
    done = 0
    for row in rows:
        if custodian.rewrap(row):
            done += 1
            if progress is not None:
                progress(done, len(rows))
    return done


def retire_master_keys(custodian: KeyCustodian, ring: MasterRing) -> dict[str, Any]:
    """Remove the retired master keys no data key is wrapped by any more (re-wrapping stragglers first).
    ``unused``: retired keys that are a setting and wrap nothing any more (the operator drops them)."""
    _rewrap_all(custodian)
    still = {ring.wrapped_by(row[3]) for row in custodian.wrapped_rows()}
    removed, kept, unused = [], [], []
    for key_id in ring.retired_ids():
        if key_id in still or None in still:
            kept.append(key_id)
        elif ring.remove(key_id):
            removed.append(key_id)
        else:
            unused.append(key_id)
    return {"removed": removed, "kept": kept, "unused": unused, "active_key_id": ring.active_id}


#: ``events(tenant)``: the tenant's (position, event) pairs in log order.
TenantEvents = Callable[[str], Iterable[tuple[int, Any]]]


def rotate_tenant(
    custodian: KeyCustodian,
    registry: Any,
    envelope: Envelope,
    tenant_id: str,
    reseal: TenantEvents | None = None,
) -> dict[str, Any]:
    """A new data key for the tenant; with ``reseal`` (the tenant's events), every secret sealed anew."""
    registry.require_tenant(tenant_id)
    old_id, new_id = custodian.rotate_tenant(tenant_id)
    record_custody(registry, envelope, tenant_id, "data_key_rotated", old_key_id=old_id, new_key_id=new_id)
    result: dict[str, Any] = {"tenant": tenant_id, "old_key_id": old_id, "new_key_id": new_id}
    if reseal is not None:
        result["resealed"] = reseal_tenant(custodian, registry, reseal, envelope, tenant_id)
    return result


def _resealed(value: Any, tenant_id: str, custodian: KeyCustodian, active: str) -> Any:
    if is_secret_ref(value):
        sealed = value[SECRET_KEY]
        if sealed.get("key_id") == active:
            return value
        return {SECRET_KEY: custodian.encrypt(tenant_id, custodian.decrypt(tenant_id, sealed))}
    if isinstance(value, dict):
        return {k: _resealed(v, tenant_id, custodian, active) for k, v in value.items()}
    if isinstance(value, list):
        return [_resealed(v, tenant_id, custodian, active) for v in value]
    return value


def reseal_tenant(
    custodian: KeyCustodian, registry: Any, events: TenantEvents, envelope: Envelope, tenant_id: str
) -> list[str]:
    """Append, for every entity of the tenant holding a secret sealed by an earlier key, an update that seals
    it anew with the active key. Returns the ids of the entities re-sealed."""
    active = custodian.active_key_id(tenant_id)
    if active is None:
        return []
    stream_ids: dict[UUID, None] = {}
    for _, event in events(tenant_id):
        stream_ids.setdefault(event.originator_id, None)
    envelope = replace(envelope, tenant_id=tenant_id)
    resealed = []
    for stream_id in stream_ids:
        entity = registry.repository.get(stream_id)
        if not hasattr(entity, "state") or getattr(entity, "deleted", False):
            continue
        state = entity.state()
        fresh = _resealed(state, tenant_id, custodian, active)
        changed = {k: v for k, v in fresh.items() if v != state.get(k)}
        if not changed:
            continue
        with registry._command(envelope), recording(envelope):
            entity.update(changed)
            registry._commit(entity)
        resealed.append(str(stream_id))
    record_custody(registry, envelope, tenant_id, "secrets_resealed", key_id=active, entities=resealed)
    return resealed
