"""Times as people type them on a command line: ``yesterday``, ``2h``, ``2026-11-24``, RFC 3339.

- ``now``, ``today`` (midnight), ``yesterday`` (midnight the day before);
- an age: ``90s``, ``30m``, ``2h``, ``7d``, ``2w``, combined (``1h30m``), long units (``3 days``) and an
  optional ``ago``;
- a date ``2026-11-24`` (its midnight), or a date and time ``2026-11-24T09:00``, ``2026-11-24 09:00:00Z``,
  ``2026-11-24T09:00:00+01:00``.

A date or time without an offset is in the local time zone of the machine running the command (as
``today`` is); give ``Z`` or an offset to mean another. Where a log position is accepted too, a bare
number is the position.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from ledgergate.application.audit import Point

__all__ = ["parse_point", "parse_time", "point_argument", "time_argument"]

UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
    "week": 604800,
}
_PART = re.compile(r"(\d+)\s*([a-z]+?)s?(?=\d|\s|$)")
_AGE = re.compile(r"(?:\d+\s*[a-z]+\s*)+(?:ago)?")
HINT = (
    "give an RFC 3339 time (2026-11-24T09:00:00Z), a date (2026-11-24), now, today, yesterday or an age (30m, 2h, 7d)"
)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone()


def _age(text: str) -> timedelta | None:
    if not _AGE.fullmatch(text):
        return None
    seconds = 0
    body = text.removesuffix("ago").strip()
    for amount, unit in _PART.findall(body):
        if unit not in UNITS:
            return None
        seconds += int(amount) * UNITS[unit]
    return timedelta(seconds=seconds)


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware datetime. Raises: ValueError naming what is accepted."""
    now = now or datetime.now().astimezone()
    word = text.strip().lower()
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        return _local_midnight(now.date() - timedelta(days=1 if word == "yesterday" else 0))
    age = _age(word)
    if age is not None:
        return now - age
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a time: {HINT}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the machine's local time zone
    return moment


def parse_point(text: str, now: datetime | None = None) -> Point:
    """A log position (a bare number) or a time. Raises: ValueError."""
    if text.strip().isdigit():
        return Point(position=int(text))
    try:
        return Point(time=parse_time(text, now))
    except ValueError:
        raise ValueError(f"{text!r} is neither a log position nor a time: {HINT}") from None


def _argument(parse: Callable[[str], object]) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__  # argparse names the type in its messages
    return convert


#: ``type=`` for argparse options that take a time, or a position or a time
time_argument = _argument(parse_time)
point_argument = _argument(parse_point)
