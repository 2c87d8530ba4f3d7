"""Positions a client sends (``after``, ``Last-Event-ID``, form fields) are whole numbers a column can hold."""

from __future__ import annotations

import pytest

from ledgergate.api.positions import MAX_POSITION, parse_position
from tests.api.conftest import Api


@pytest.mark.parametrize("path", ["/v1/audit", "/v1/events"])
@pytest.mark.parametrize("after", [str(MAX_POSITION + 1), str(2**70), "1" * 5000])
def test_a_position_past_what_a_column_holds_is_a_400_not_a_500(api: Api, path: str, after: str) -> None:
    answer = api.call("GET", path, params={"after": after})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_the_largest_position_is_read_and_finds_nothing_after_it(api: Api) -> None:
    answer = api.call("GET", "/v1/audit", params={"after": str(MAX_POSITION)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == []


@pytest.mark.parametrize("text", ["²", "١٢", "-1", "1.5", "", " 7", str(MAX_POSITION + 1), "9" * 20])
def test_text_that_is_no_position_is_refused(text: str) -> None:
    assert parse_position(text) is None


def test_a_position_is_read_exactly() -> None:
    assert parse_position("0") == 0
    assert parse_position(str(MAX_POSITION)) == MAX_POSITION
