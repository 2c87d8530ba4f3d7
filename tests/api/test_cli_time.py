"""Times as the command line reads them (``api/cli_time.py``), against a fixed "now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledgergate.api.cli_time import parse_point, parse_time

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC).astimezone()


def local_midnight(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day).astimezone()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("today", datetime.combine(NOW.date(), datetime.min.time()).astimezone()),
        ("yesterday", datetime.combine(NOW.date() - timedelta(days=1), datetime.min.time()).astimezone()),
        ("90s", NOW - timedelta(seconds=90)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("1h30m", NOW - timedelta(minutes=90)),
        ("3 days ago", NOW - timedelta(days=3)),
        ("2 hours", NOW - timedelta(hours=2)),
        ("2026-11-20", local_midnight(2026, 11, 20)),
        ("2026-11-20T09:00:00Z", datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ("2026-11-20 09:00+01:00", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20T09:00", datetime(2026, 11, 20, 9).astimezone()),
    ],
)
def test_a_time_is_read_in_the_forms_people_type(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "soon", "2 fortnights", "2026-13-01", "h2", "ago"])
def test_anything_else_is_refused_with_the_forms_that_are_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="yesterday"):
        parse_time(text, NOW)


def test_a_bare_number_is_a_log_position_and_anything_else_a_time() -> None:
    assert parse_point("42", NOW).position == 42
    assert parse_point("2h", NOW).time == NOW - timedelta(hours=2)
    with pytest.raises(ValueError, match="neither a log position nor a time"):
        parse_point("later", NOW)
