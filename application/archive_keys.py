"""Tenant data keys that travel with an export, wrapped with a passphrase known to both sides.

A key moves only when asked (``--with-keys`` and a passphrase on export). On import the passphrase
opens it; the target installs it unless it already holds a key for the tenant, in which case the two
must be the same key or nothing is written. Without the key, the events still import but the
tenant's secrets stay unreadable in the target, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ledgergate.application.errors import ValidationError

__all__ = [
    "DataKey",
    "KeyPlan",
    "KeyTransport",
    "KeyTransportError",
    "key_statuses",
    "plan_keys",
]


class KeyTransportError(ValidationError):
    """A key cannot be exported or imported (shredded, wrong passphrase, a different key in the target)."""


@dataclass(frozen=True)
class DataKey:
    tenant_id: str
    key_id: str
    key: bytes


class KeyTransport(Protocol):
    """Wraps a tenant's data key for an export file, and installs one from a file."""

    def wrap(self, tenant_id: str, passphrase: str) -> dict[str, Any]:
        """Raises: KeyTransportError (the tenant has no key: it was shredded)."""
        ...

    def unwrap(self, tenant_id: str, wrapped: dict[str, Any], passphrase: str) -> DataKey:
        """Raises: KeyTransportError (wrong passphrase or an altered wrapped key)."""
        ...

    def compare(self, key: DataKey) -> Literal["absent", "same", "different", "shredded"]:
        """``shredded``: this instance destroyed that very key; it is never installed again."""
        ...

    def install(self, key: DataKey) -> None: ...

    def has_key(self, tenant_id: str) -> bool: ...


@dataclass
class KeyPlan:
    """What an import does with the keys a file carries, decided before anything is written."""

    install: list[DataKey]
    present: set[str]
    carried: set[str]  # keys in the file that were not opened (no passphrase given)


def plan_keys(header: dict[str, Any], transport: KeyTransport | None, passphrase: str | None) -> KeyPlan:
    """Open every key the file carries. Raises: KeyTransportError (nothing may be written then)."""
    wrapped_keys = header.get("keys") or {}
    if not isinstance(wrapped_keys, dict):
        raise KeyTransportError("the header's keys are malformed")
    plan = KeyPlan(install=[], present=set(), carried=set())
    if not wrapped_keys:
        return plan
    if passphrase is None or transport is None:
        plan.carried = set(wrapped_keys)
        return plan
    for tenant_id, wrapped in sorted(wrapped_keys.items()):
        key = transport.unwrap(tenant_id, wrapped, passphrase)
        state = transport.compare(key)
        if state == "shredded":
            raise KeyTransportError(
                f"the file carries tenant {tenant_id}'s data key, which was shredded here: it is not restored "
                "and nothing was imported (import without the passphrase to restore the events alone)"
            )
        if state == "different":
            raise KeyTransportError(
                f"this instance already has a different data key for tenant {tenant_id}: nothing was imported"
            )
        if state == "same":
            plan.present.add(tenant_id)
        else:
            plan.install.append(key)
    return plan


def key_statuses(
    tenants: list[str], plan: KeyPlan, transport: KeyTransport | None, applied: bool = True
) -> dict[str, str]:
    """Per tenant, whether its secrets are readable in the target after the import (``applied`` False:
    a dry run or a refused merge, where nothing was installed)."""
    installed = {key.tenant_id for key in plan.install}
    statuses: dict[str, str] = {}
    for tenant_id in tenants:
        if tenant_id in installed:
            statuses[tenant_id] = (
                "key installed from the file: secrets readable"
                if applied
                else "the passphrase opens the file's key; it would be installed (nothing was written)"
            )
        elif tenant_id in plan.present:
            statuses[tenant_id] = "same key already here: secrets readable"
        elif tenant_id in plan.carried:
            statuses[tenant_id] = (
                "the file carries the key but no passphrase was given: secrets unreadable until imported "
                "again with the passphrase"
            )
        elif transport is not None and transport.has_key(tenant_id):
            statuses[tenant_id] = "key already here: secrets readable if it is the source's key"
        else:
            statuses[tenant_id] = "no key here: the tenant's secrets are unreadable (export with --with-keys)"
    return statuses
