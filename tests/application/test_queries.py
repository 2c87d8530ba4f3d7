"""Queries: an entity's history from its stream, reads of the catalog port, cursors and read-your-writes."""

from __future__ import annotations

import base64

import pytest

from ledgergate.application.errors import NotFoundError, NotReadyError, ValidationError
from ledgergate.application.ports import ItemFilter
from ledgergate.application.queries import RegistryQueries, decode_cursor, encode_cursor
from ledgergate.application.registry import Registry
from ledgergate.domain.prompt import Prompt
from ledgergate.domain.tool import Tool
from ledgergate.projections.catalog import evolve
from ledgergate.projections.runner import PositionBoard
from tests.application.fakes import FakeCatalog, envelope, new_registry, tool


def catalog_of(registry: Registry) -> FakeCatalog:
    """The catalog rows as the projection would build them from the registry's log."""
    rows: dict = {}
    for n in registry.recorder.select_notifications(start=1, limit=10_000):
        event = registry.mapper.to_domain_event(n)
        new = evolve(rows.get(str(event.originator_id)), event, n.id)
        if new is not None:
            rows[new["id"]] = new
    return FakeCatalog(rows)


def queries(registry: Registry, board: PositionBoard | None = None) -> RegistryQueries:
    return RegistryQueries(catalog_of(registry), board or PositionBoard(), registry.events.get, wait_s=0.0)


def test_history_lists_every_version_with_its_actor_and_time_and_masks_secrets() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(actor="alice"), "tool", tool())
    registry.update_entity(envelope(actor="bob", correlation_id="corr-2"), "tool", written.id, {"description": "d"})
    registry.revert_entity(envelope(actor="carol"), "tool", written.id, 1)

    history = queries(registry).history("acme", Tool, written.id)

    assert [(v["version"], v["event"], v["actor"]) for v in history] == [
        (1, "Registered", "alice"),
        (2, "Updated", "bob"),
        (3, "Reverted", "carol"),
    ]
    assert history[1]["changes"] == {"description": "d"}
    assert history[1]["correlation_id"] == "corr-2"
    assert history[0]["occurred_at"] <= history[1]["occurred_at"] <= history[2]["occurred_at"]
    assert history[0]["fields"]["integration"]["headers"] == {"X-Api-Key": "********"}
    assert history[2]["to_version"] == 1
    assert history[2]["state"]["integration"]["headers"] == {"X-Api-Key": "********"}
    assert "$secret" not in repr(history)


def test_history_is_not_found_for_another_tenant_another_kind_or_an_unknown_id() -> None:
    registry = new_registry(("acme", "globex"))
    written = registry.create_entity(envelope(), "tool", tool())
    q = queries(registry)

    for tenant, cls, item_id in (
        ("globex", Tool, written.id),
        ("acme", Prompt, written.id),
        ("acme", Tool, "not-a-uuid"),
        ("acme", Tool, "00000000-0000-0000-0000-000000000000"),
    ):
        with pytest.raises(NotFoundError):
            q.history(tenant, cls, item_id)


def test_a_cursor_round_trips_and_is_url_safe_without_padding() -> None:
    after = ("search?/+", "a4f0-ü")

    cursor = encode_cursor(after)

    assert decode_cursor(cursor) == after
    assert "=" not in cursor
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "a",
        "ü",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["only-one"]').decode(),
        base64.urlsafe_b64encode(b'["a", 2]').decode(),
    ],
)
def test_a_cursor_the_api_did_not_return_is_a_validation_error(cursor: str) -> None:
    with pytest.raises(ValidationError) as raised:
        decode_cursor(cursor)
    assert raised.value.extra["field"] == "cursor"


def test_listing_pages_through_every_item_with_the_returned_cursors() -> None:
    registry = new_registry()
    for name in ("c", "a", "e", "b", "d"):
        registry.create_entity(envelope(), "tool", tool(name=name))
    q = queries(registry)

    names, cursor, pages = [], None, 0
    while True:
        items, cursor = q.list("acme", "tool", ItemFilter(), cursor, limit=2)
        names += [item["name"] for item in items]
        pages += 1
        if cursor is None:
            break

    assert names == ["a", "b", "c", "d", "e"]
    assert pages == 3
    assert all(item["integration"]["headers"]["X-Api-Key"] == "********" for item in items)


@pytest.mark.parametrize("limit", [0, 501])
def test_a_page_limit_outside_one_to_five_hundred_is_refused(limit: int) -> None:
    q = queries(new_registry())

    with pytest.raises(ValidationError):
        q.list("acme", "tool", ItemFilter(), None, limit)


def test_a_bad_cursor_is_refused_before_the_catalog_is_read() -> None:
    q = queries(new_registry())

    with pytest.raises(ValidationError):
        q.list("acme", "tool", ItemFilter(), "garbage!", 10)

    assert isinstance(q.catalog, FakeCatalog)
    assert q.catalog.asked_after == []


def test_get_presents_the_row_with_masked_secrets_and_its_metadata() -> None:
    registry = new_registry(("acme", "globex"))
    written = registry.create_entity(envelope(actor="alice"), "tool", tool())
    q = queries(registry)

    item = q.get("acme", "tool", written.id)

    assert (item["id"], item["tenant_id"], item["name"]) == (written.id, "acme", "search")
    assert (item["version"], item["enabled"], item["updated_by"]) == (1, True, "alice")
    assert item["position"] == written.position - 1  # the claim follows the tool in the same save
    assert item["integration"]["headers"]["X-Api-Key"] == "********"
    with pytest.raises(NotFoundError):
        q.get("globex", "tool", written.id)
    assert q.get_tenant("acme")["name"] == "acme"
    assert q.tenant_is_active("acme") is True
    assert q.tenant_is_active("nobody") is False


def test_a_read_that_needs_a_position_the_projection_has_not_reached_is_not_ready() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())
    board = PositionBoard()
    q = queries(registry, board)
    board.publish(written.position - 1)

    with pytest.raises(NotReadyError) as raised:
        q.get("acme", "tool", written.id, min_position=written.position)
    assert raised.value.extra["position"] == written.position - 1

    board.publish(written.position)
    assert q.get("acme", "tool", written.id, min_position=written.position)["id"] == written.id
