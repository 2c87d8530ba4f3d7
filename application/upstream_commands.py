"""Commands on upstreams: register with discovery, refresh, and lifecycle cascading to their items.

Discovery itself is asynchronous I/O done by the caller (through the ``UpstreamConnector`` port)
before the command runs; the command only decides and appends, in one ``save()``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledgergate.application.concurrency import retried_on_concurrent_write
from ledgergate.application.errors import EgressRefusedError, VersionConflictError
from ledgergate.application.secrets import seal_upstream, unseal
from ledgergate.application.upstream_catalog import (
    CLASSES,
    DiscoveredCatalog,
    PlannedItem,
    plan_items,
    refreshed_changes,
)
from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.egress import EgressPolicy
from ledgergate.domain.envelope import Envelope, RegistryAggregate
from ledgergate.domain.name_claim import NameTakenError
from ledgergate.domain.upstream import Upstream

__all__ = ["UpstreamCommands"]


class UpstreamCommands:
    """Mixed into ``Registry``; uses its repository, cipher, claims and commit."""

    #: the outbound connection policy (the composition root sets the configured one)
    egress: EgressPolicy = EgressPolicy()

    def prepare_upstream(
        self, envelope: Envelope, fields: dict[str, Any], current: Upstream | None = None
    ) -> dict[str, Any]:
        """Seal secrets and validate; returns the normalised fields. Raises: ValidationError."""
        with self._command(envelope):  # type: ignore[attr-defined]
            sealed = seal_upstream(
                fields,
                envelope.tenant_id,
                self.cipher,  # type: ignore[attr-defined]
                current.state() if current is not None else None,
            )
            base = {} if current is not None else Upstream.DEFAULTS
            normalised = Upstream.normalise({**base, **sealed})
        self._check_targets(normalised)
        return normalised

    def _check_targets(self, fields: dict[str, Any]) -> None:
        """Refuse a URL whose host alone shows the policy refuses it (an address literal, a metadata name);
        a name is checked when it is resolved, at each connection. Raises: EgressRefusedError."""
        auth = fields.get("auth")
        token_url = auth.get("token_url") if isinstance(auth, dict) else None
        for field, url in (("url", fields.get("url")), ("auth.token_url", token_url)):
            refusal = self.egress.refusal_of_url(url) if isinstance(url, str) else None
            if refusal is not None:
                raise EgressRefusedError(f"{field}: {refusal}", field=field)

    def connection_spec(self, envelope: Envelope, upstream_id: str) -> dict[str, Any]:
        """The upstream's fields with secrets decrypted, to connect to it. Raises: NotFoundError."""
        upstream: Upstream = self._load(Upstream, upstream_id, envelope.tenant_id)  # type: ignore[attr-defined]
        return {"id": str(upstream.id), **unseal(upstream.state(), envelope.tenant_id, self.cipher)}  # type: ignore[attr-defined]

    def _new_item(
        self, envelope: Envelope, item: PlannedItem, skipped: list[dict[str, str]]
    ) -> list[RegistryAggregate]:
        cls = CLASSES[item.kind]
        try:
            claim = self._claim(envelope.tenant_id, item.kind, str(item.fields[cls.NAME_FIELD]), str(item.id))  # type: ignore[attr-defined]
        except NameTakenError as exc:
            skipped.append({"kind": item.kind, "name": item.original, "reason": str(exc)})
            return []
        created = cls._create(_created_event(cls), id=item.id, fields=item.fields)
        return [created, claim]

    @retried_on_concurrent_write
    def register_upstream(
        self, envelope: Envelope, fields: dict[str, Any], catalog: DiscoveredCatalog, enabled: bool = True
    ) -> tuple[Any, dict[str, Any]]:
        """Record the upstream and everything it offers in one save. Raises: ConflictError, ValidationError.

        ``enabled=False`` records it disabled in the same save, so no supervisor ever connects to it meanwhile.
        """
        with self._command(envelope):  # type: ignore[attr-defined]
            self.require_tenant(envelope.tenant_id)  # type: ignore[attr-defined]
            upstream = Upstream(fields=fields)
            claim = self._claim(envelope.tenant_id, "upstream", upstream.name, str(upstream.id))  # type: ignore[attr-defined]
            plan = plan_items(str(upstream.id), upstream.name, upstream.prefix, catalog)
            skipped = list(plan.skipped)
            written: list[RegistryAggregate] = []
            items: dict[str, dict[str, str]] = {}
            for item in plan.items:
                new = self._new_item(envelope, item, skipped)
                if new:
                    written += new
                    items[str(item.id)] = {"kind": item.kind, "original": item.original}
            upstream.sync(items)
            if not enabled:
                upstream.disable()
            result = self._commit(upstream, claim, *written)  # type: ignore[attr-defined]
        added = [{"kind": v["kind"], "name": v["original"], "id": k} for k, v in items.items()]
        return result, {"added": added, "changed": [], "removed": [], "skipped": skipped}

    @retried_on_concurrent_write
    def refresh_upstream(
        self, envelope: Envelope, upstream_id: str, catalog: DiscoveredCatalog
    ) -> tuple[Any, dict[str, Any]]:
        """Bring the upstream's items in line with ``catalog``; nothing is appended when nothing changed."""
        with self._command(envelope):  # type: ignore[attr-defined]
            upstream: Upstream = self._load(Upstream, upstream_id, envelope.tenant_id)  # type: ignore[attr-defined]
            plan = plan_items(str(upstream.id), upstream.name, upstream.prefix, catalog)
            report: dict[str, Any] = {"added": [], "changed": [], "removed": [], "skipped": list(plan.skipped)}
            touched: list[RegistryAggregate] = []
            items: dict[str, dict[str, str]] = {}
            for item in plan.items:
                key = str(item.id)
                changed = self._refresh_item(envelope, item, report, key in upstream.items)
                if changed is None:
                    continue
                touched += changed
                items[key] = {"kind": item.kind, "original": item.original}
            for key, info in upstream.items.items():
                if key not in items:
                    touched += self._remove_item(envelope, key, info)
                    report["removed"].append({"kind": info["kind"], "name": info["original"], "id": key})
            upstream.sync(items)
            touched = [a for a in touched if a.pending_events]
            if not touched and not upstream.pending_events:
                return None, report
            return self._commit(upstream, *touched), report  # type: ignore[attr-defined]

    def _refresh_item(
        self, envelope: Envelope, item: PlannedItem, report: dict[str, Any], known: bool
    ) -> list[RegistryAggregate] | None:
        cls = CLASSES[item.kind]
        entry = {"kind": item.kind, "name": item.original, "id": str(item.id)}
        if item.id not in self.repository:  # type: ignore[attr-defined]
            new = self._new_item(envelope, item, report["skipped"])
            if new:
                report["added"].append(entry)
            return new or None
        entity: CatalogEntity = self.repository.get(item.id)  # type: ignore[attr-defined]
        if entity.deleted or not known:
            claim = self._claim(envelope.tenant_id, item.kind, str(item.fields[cls.NAME_FIELD]), str(item.id))  # type: ignore[attr-defined]
            entity.revert(entity.version, {**item.fields, "enabled": True})
            report["added"].append(entry)
            return [entity, claim]
        changes = refreshed_changes(item.kind, entity.state(), item.fields, getattr(entity, "overrides", []))
        if changes:
            entity.update(changes)
            report["changed"].append({**entry, "fields": sorted(changes)})
        return [entity]

    def _remove_item(self, envelope: Envelope, key: str, info: dict[str, str]) -> list[RegistryAggregate]:
        entity: CatalogEntity = self.repository.get(UUID(key))  # type: ignore[attr-defined]
        if entity.deleted:
            return []
        released = self._release(envelope.tenant_id, info["kind"], entity.unique_name, key)  # type: ignore[attr-defined]
        entity.delete()
        return [entity] + ([released] if released is not None else [])

    @retried_on_concurrent_write
    def update_upstream(
        self, envelope: Envelope, upstream_id: str, fields: dict[str, Any], expected_version: int | None = None
    ) -> Any:
        """Change settings (secrets given in clear are sealed; the mask keeps a stored one)."""
        with self._command(envelope):  # type: ignore[attr-defined]
            upstream: Upstream = self._load(Upstream, upstream_id, envelope.tenant_id)  # type: ignore[attr-defined]
            self._check_settings_version(upstream, expected_version)
            upstream.update(self.prepare_upstream(envelope, fields, upstream))
            return self._commit(upstream)  # type: ignore[attr-defined]

    def _check_settings_version(self, upstream: Upstream, expected_version: int | None) -> None:
        """An edit made against version N of the upstream (``If-Match``, the edit form, ``--if-version``) holds
        while no event after N changed its settings: the supervisor's health transitions and catalog syncs
        bump the version without changing anything the user saw or edits. An update, enable, disable,
        delete or revert after N, or a version the upstream never had, is a conflict, as for every other
        kind. Re-checked on each attempt of the command. Raises: VersionConflictError."""
        if expected_version is None or expected_version == upstream.version:
            return
        if 1 <= expected_version < upstream.version:
            later = self.repository.event_store.get(upstream.id, gt=expected_version, lte=upstream.version)  # type: ignore[attr-defined]
            changed = [e.originator_version for e in later if Upstream.changes_settings(e)]
            if not changed:
                return
            raise VersionConflictError(
                f"expected version {expected_version}, the upstream's settings were changed at version "
                f"{changed[0]} (it is at version {upstream.version})",
                current_version=upstream.version,
            )
        self._check_version(upstream, expected_version)  # type: ignore[attr-defined]

    @retried_on_concurrent_write
    def record_upstream_health(self, envelope: Envelope, upstream_id: str, state: str, detail: str | None) -> Any:
        """Append a health transition; a probe that finds the state unchanged appends nothing (returns None)."""
        with self._command(envelope):  # type: ignore[attr-defined]
            upstream: Upstream = self._load(Upstream, upstream_id, envelope.tenant_id)  # type: ignore[attr-defined]
            if upstream.deleted or not upstream.record_health(state, detail):
                return None
            return self._commit(upstream)  # type: ignore[attr-defined]

    @retried_on_concurrent_write
    def change_upstream(self, envelope: Envelope, upstream_id: str, action: str) -> Any:
        """Enable, disable or delete an upstream; its items follow, with an event on each."""
        with self._command(envelope):  # type: ignore[attr-defined]
            upstream: Upstream = self._load(Upstream, upstream_id, envelope.tenant_id)  # type: ignore[attr-defined]
            entities = [self.repository.get(UUID(k)) for k in upstream.items]  # type: ignore[attr-defined]
            live = [e for e in entities if not e.deleted]
            touched: list[RegistryAggregate] = []
            if action == "disable" and upstream.enabled:
                switched = [e for e in live if e.disable()]
                upstream.suspend([str(e.id) for e in switched])
                upstream.disable()
                touched = switched
            elif action == "enable" and not upstream.enabled:
                touched = [e for e in live if str(e.id) in upstream.suspended and e.enable()]
                upstream.suspend([])
                upstream.enable()
            elif action == "delete":
                for entity in live:
                    touched += self._remove_item(envelope, str(entity.id), upstream.items[str(entity.id)])
                released = self._release(envelope.tenant_id, "upstream", upstream.name, str(upstream.id))  # type: ignore[attr-defined]
                upstream.delete()
                touched += [released] if released is not None else []
            else:
                self._apply_lifecycle(upstream, action, None)  # type: ignore[attr-defined]
            return self._commit(upstream, *touched)  # type: ignore[attr-defined]


def _created_event(cls: type[CatalogEntity]) -> Any:
    return getattr(cls, "Registered", None) or cls.Created
