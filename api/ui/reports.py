"""A discovery or refresh report carried in the address of the page the form redirects to (POST, redirect,
GET): signed, so a link cannot show a report the gateway never made, and compressed. A report too long
for an address keeps the first entries of each list and says how many more there were (the upstream's
events and the items' histories have them all). Any worker reads it back: no state is kept between."""

from __future__ import annotations

import zlib
from typing import Any

import msgspec

from ledgergate.api.ui.sessions import SessionSigner

__all__ = ["LISTS", "open_report", "seal_report"]

LISTS = ("added", "changed", "removed", "skipped")
PURPOSE = b"upstream-report"
#: how long a sealed report may be (an address stays well under the 8 KiB servers and proxies accept)
MAX_CHARS = 3000


def _sealed(signer: SessionSigner, title: str, report: dict[str, Any]) -> str:
    payload = msgspec.json.encode({"title": title, "report": report})
    return signer.seal(PURPOSE, zlib.compress(payload, 9))


def seal_report(signer: SessionSigner, title: str, report: dict[str, Any]) -> str:
    """The report as an address-safe value; long lists are cut (their entry counts kept in ``more``)."""
    full = {name: list(report.get(name) or []) for name in LISTS}
    keep = max((len(v) for v in full.values()), default=0)
    while True:
        cut = {name: entries[:keep] for name, entries in full.items()}
        more = {name: len(entries) - keep for name, entries in full.items() if len(entries) > keep}
        sealed = _sealed(signer, title, {**cut, "more": more})
        if len(sealed) <= MAX_CHARS or keep == 0:
            return sealed
        keep //= 2


def open_report(signer: SessionSigner, sealed: str | None) -> tuple[str, dict[str, Any]] | None:
    """(title, report) from ``seal_report``'s value, or None when it is missing or was altered."""
    payload = signer.unseal(PURPOSE, sealed)
    if payload is None:
        return None
    try:
        data = msgspec.json.decode(zlib.decompress(payload))
        return str(data["title"]), dict(data["report"])
    except (zlib.error, msgspec.DecodeError, KeyError, TypeError):
        return None
