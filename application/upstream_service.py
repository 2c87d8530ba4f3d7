"""Use cases that talk to an upstream before they append: register with discovery, refresh."""

from __future__ import annotations

from typing import Any, Protocol

import anyio.to_thread

from ledgergate.application.errors import UpstreamUnavailableError
from ledgergate.application.registry import Registry, Written
from ledgergate.application.secrets import unseal
from ledgergate.application.upstream_catalog import DiscoveredCatalog
from ledgergate.domain.envelope import Envelope

__all__ = ["UpstreamConnector", "UpstreamService"]


class UpstreamConnector(Protocol):
    async def discover(self, spec: dict[str, Any]) -> DiscoveredCatalog:
        """Connect, initialize and list everything. Raises an exception naming the failure."""
        ...


class UpstreamService:
    def __init__(
        self, registry: Registry, connector: UpstreamConnector, unavailable: tuple[type[Exception], ...]
    ) -> None:
        self.registry = registry
        self.connector = connector
        self.unavailable = unavailable

    async def _discover(self, spec: dict[str, Any]) -> DiscoveredCatalog:
        try:
            return await self.connector.discover(spec)
        except self.unavailable as exc:
            raise UpstreamUnavailableError(f"upstream {spec.get('name')!r} could not be discovered: {exc}") from None

    async def register(self, envelope: Envelope, fields: dict[str, Any]) -> tuple[Written, dict[str, Any]]:
        """Validate, connect and discover, then append the upstream and its catalog in one save.

        Raises: ValidationError, ConflictError, UpstreamUnavailableError (nothing is appended).
        """
        sealed = await anyio.to_thread.run_sync(self.registry.prepare_upstream, envelope, fields)
        spec = {"id": "new", **unseal(sealed, envelope.tenant_id, self.registry.cipher)}
        catalog = await self._discover(spec)
        return await anyio.to_thread.run_sync(self.registry.register_upstream, envelope, sealed, catalog)

    async def refresh(self, envelope: Envelope, upstream_id: str) -> tuple[Written | None, dict[str, Any]]:
        """Rediscover and append what changed (nothing if nothing did). Raises: NotFound, UpstreamUnavailable."""
        spec = await anyio.to_thread.run_sync(self.registry.connection_spec, envelope, upstream_id)
        catalog = await self._discover(spec)
        return await anyio.to_thread.run_sync(self.registry.refresh_upstream, envelope, upstream_id, catalog)
