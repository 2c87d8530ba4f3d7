"""The first start's platform-admin token: it expires, it is printed only to a terminal, and a restart
says where it is and whether it has expired."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledgergate.api.bootstrap import FirstStart, announce, first_start
from ledgergate.api.runtime import build_runtime
from tests.conftest import make_settings


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def printed(started: FirstStart, out: io.StringIO) -> str:
    announce(started, out)
    return out.getvalue()


def test_the_token_is_printed_to_a_terminal_and_only_its_path_elsewhere(tmp_path: Path) -> None:
    started = FirstStart("aaa.bbb.ccc", tmp_path / "admin-token", datetime.now(UTC) + timedelta(hours=24))

    to_log, to_terminal = printed(started, io.StringIO()), printed(started, Terminal())

    assert "aaa.bbb.ccc" not in to_log and str(tmp_path / "admin-token") in to_log
    assert "aaa.bbb.ccc" in to_terminal and "expires" in to_terminal


def test_a_restart_reads_the_expiry_of_the_saved_token_and_tells_when_it_has_expired(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", LEDGERGATE_ADMIN_TOKEN_TTL_HOURS="2")
    runtime = build_runtime(settings, follow=False)
    try:
        first = first_start(runtime)
        again = first_start(runtime)
    finally:
        runtime.close()

    assert first.token is not None and again.token is None
    assert again.expires_at == first.expires_at
    assert first.expires_at is not None
    assert timedelta(hours=1) < first.expires_at - datetime.now(UTC) <= timedelta(hours=2)
    assert "rotate-admin" not in printed(again, io.StringIO())
    expired = FirstStart(None, again.token_file, datetime.now(UTC) - timedelta(minutes=1))
    assert "rotate-admin" in printed(expired, io.StringIO())
