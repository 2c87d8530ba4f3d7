"""Queries: reads of the catalog read model, and an entity's history read from its event stream.

A query never loads an aggregate. Reads that pass ``min_position`` first wait (bounded) for the
projection to reach it, which gives read-your-writes across processes.
"""

from __future__ import annotations

import base64
import binascii
import builtins
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import msgspec

from ledgergate.application.errors import InvalidParameterError, NotFoundError, NotReadyError, ValidationError
from ledgergate.application.ports import CatalogQueries, ItemFilter, ProjectionPositions
from ledgergate.application.secrets import mask_secrets
from ledgergate.domain.api_token import ApiToken
from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.envelope import RegistryAggregate
from ledgergate.domain.tenant import tenant_stream_id
from ledgergate.domain.upstream import Upstream

__all__ = ["RegistryQueries", "decode_cursor", "encode_cursor"]

MAX_PAGE = 500
#: what a token's first event records (never its secret)
_TOKEN_FIELDS = ("name", "subject", "role", "server_ids", "expires_at")


def encode_cursor(after: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(after))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        value = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidParameterError("cursor: not a cursor this API returned", field="cursor") from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise InvalidParameterError("cursor: not a cursor this API returned", field="cursor")
    return value[0], value[1]


def present(row: dict[str, Any]) -> dict[str, Any]:
    """The API view of a row: metadata plus the fields, with every secret masked."""
    return {
        "id": row["id"],
        "tenant_id": row["tenant_id"],
        **mask_secrets(row["doc"]),
        "enabled": row["enabled"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
        "position": row["position"],
    }


def wait_for_position(positions: ProjectionPositions, min_position: int | None, wait_s: float, what: str) -> None:
    """Wait (bounded) until a projection reaches ``min_position``. Raises: NotReadyError."""
    if min_position is None or positions.current() >= min_position:
        return
    if not positions.wait_for(min_position, wait_s):
        raise NotReadyError(
            f"{what} has reached position {positions.current()}, not yet {min_position}; retry shortly",
            position=positions.current(),
        )


class RegistryQueries:
    def __init__(
        self,
        catalog: CatalogQueries,
        positions: ProjectionPositions,
        stream: Callable[[UUID], Sequence[Any]],
        wait_s: float,
    ) -> None:
        self.catalog = catalog
        self.positions = positions
        self.stream = stream
        self.wait_s = wait_s

    def wait_for(self, min_position: int | None) -> None:
        """Raises: NotReadyError if the projection does not reach ``min_position`` in time."""
        wait_for_position(self.positions, min_position, self.wait_s, "the catalog")

    def get(self, tenant_id: str | None, kind: str, item_id: str, min_position: int | None = None) -> dict[str, Any]:
        """Raises: NotFoundError, NotReadyError."""
        self.wait_for(min_position)
        row = self.catalog.get_item(tenant_id, kind, item_id)
        if row is None:
            raise NotFoundError(f"no {kind} with id {item_id}")
        return present(row)

    def get_tenant(self, slug: str, min_position: int | None = None) -> dict[str, Any]:
        """Raises: NotFoundError, NotReadyError."""
        return self.get(None, "tenant", str(tenant_stream_id(slug)), min_position)

    def tenant_is_active(self, slug: str) -> bool:
        row = self.catalog.get_item(None, "tenant", str(tenant_stream_id(slug)))
        return row is not None and bool(row["enabled"])

    def list(
        self,
        tenant_id: str | None,
        kind: str,
        flt: ItemFilter,
        cursor: str | None,
        limit: int,
        min_position: int | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Raises: InvalidParameterError (bad cursor), ValidationError (bad limit), NotReadyError."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        after = decode_cursor(cursor) if cursor else None
        self.wait_for(min_position)
        page = self.catalog.list_items(tenant_id, kind, flt, after, limit)
        return [present(row) for row in page.items], encode_cursor(page.next_after) if page.next_after else None

    def history(
        self, tenant_id: str, cls: type[CatalogEntity] | type[ApiToken], item_id: str
    ) -> builtins.list[dict[str, Any]]:
        """Every version of an entity with who made it and when. Raises: NotFoundError."""
        try:
            events = list(self.stream(UUID(item_id)))
        except ValueError:
            events = []
        if (
            not events
            or not isinstance(events[0], RegistryAggregate.Created)
            or events[0].originator_topic.rpartition(":")[2] != cls.__name__
            or events[0].tenant_id != tenant_id
        ):
            raise NotFoundError(f"no {cls.KIND} with id {item_id}")
        return [self._version(event) for event in events]

    @staticmethod
    def _version(event: Any) -> dict[str, Any]:
        change: dict[str, Any] = {}
        if isinstance(event, RegistryAggregate.Created):
            fields = getattr(event, "fields", None)
            if fields is None and isinstance(event, ApiToken.Issued):  # a token is issued with named arguments
                fields = {name: msgspec.to_builtins(getattr(event, name, None)) for name in _TOKEN_FIELDS}
            change = {"fields": fields}
        elif isinstance(event, CatalogEntity.Updated):
            change = {"changes": event.changes}
        elif isinstance(event, CatalogEntity.Reverted):
            change = {"to_version": event.to_version, "state": event.state}
        elif isinstance(event, Upstream.HealthChanged):
            change = {"health": {"state": event.state, "detail": event.detail}}
        elif isinstance(event, Upstream.CatalogSynced):
            change = {"items": event.items}
        elif isinstance(event, Upstream.ItemsSuspended):
            change = {"suspended": event.item_ids}
        return {
            "version": event.originator_version,
            "event": type(event).__name__,
            "occurred_at": event.timestamp.isoformat(),
            "actor": event.actor,
            "actor_token_id": event.actor_token_id,
            "actor_tenant": event.actor_tenant,
            "correlation_id": event.correlation_id,
            "causation_id": event.causation_id,
            **mask_secrets(change),
        }
