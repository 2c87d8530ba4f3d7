"""Signing out of the admin UI holds on every worker of the instance: two real ``serve`` processes (one
of them with two workers) on PostgreSQL and Redis, and the shared record itself."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from ledgergate.api.app import create_app
from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from ledgergate.api.ui.sessions import COOKIE, SessionSigner, SignedOut
from ledgergate.application.errors import StoreUnavailableError
from ledgergate.infrastructure.redis.signed_out import RedisSignedOut
from tests.api.conftest import start_server
from tests.conftest import make_settings
from tests.support.processes import free_loopback_port


def sign_in(base: str, token: str) -> tuple[str, str]:
    """A session's cookie and CSRF token, signed in on ``base``."""
    answer = httpx.post(f"{base}/admin/login", data={"token": token}, follow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    cookie = answer.cookies[COOKIE]
    page = httpx.get(f"{base}/admin/", headers={"Cookie": f"{COOKIE}={cookie}"}, timeout=10)
    assert page.status_code == 200
    return cookie, page.text.split('name="csrf" value="')[1].split('"')[0]


def opens(base: str, cookie: str) -> bool:
    """Whether the cookie opens the dashboard, on a new connection each time (any worker may answer)."""
    with httpx.Client(timeout=10) as fresh:
        answer = fresh.get(f"{base}/admin/", headers={"Cookie": f"{COOKIE}={cookie}"}, follow_redirects=False)
    assert answer.status_code in (200, 303), answer.text
    return answer.status_code == 200


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_a_session_signed_out_on_one_worker_is_refused_by_every_other(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    data = tmp_path / "data"
    first = start_server(data, postgres_url, LEDGERGATE_REDIS_URL=redis_url)
    second = start_server(data, postgres_url, workers=2, LEDGERGATE_REDIS_URL=redis_url)
    try:
        token = (data / "admin-token").read_text().strip()
        cookie, csrf = sign_in(first.url, token)
        kept, _ = sign_in(first.url, token)  # another session of the same token stays open
        assert all(opens(second.url, cookie) for _ in range(6))  # one instance key: every worker takes it
        out = httpx.post(
            f"{first.url}/admin/logout",
            data={"csrf": csrf},
            headers={"Cookie": f"{COOKIE}={cookie}"},
            follow_redirects=False,
        )
        assert out.status_code == 303
        for base in (first.url, second.url):
            assert not any(opens(base, cookie) for _ in range(10)), base
            assert all(opens(base, kept) for _ in range(4)), base
        forged = httpx.post(
            f"{second.url}/admin/t/default/tools/00000000-0000-0000-0000-000000000000/disable",
            data={"csrf": csrf},
            headers={"Cookie": f"{COOKIE}={cookie}"},
            follow_redirects=False,
        )
        assert forged.status_code == 401  # a write with the ended session: "signed out"
    finally:
        second.stop()
        first.stop()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_a_token_issue_form_sent_to_two_serve_processes_issues_one_token(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    data = tmp_path / "data"
    first = start_server(data, postgres_url, LEDGERGATE_REDIS_URL=redis_url)
    second = start_server(data, postgres_url, LEDGERGATE_REDIS_URL=redis_url)
    try:
        token = (data / "admin-token").read_text().strip()
        cookie, csrf = sign_in(first.url, token)
        headers = {"Cookie": f"{COOKIE}={cookie}"}
        page = httpx.get(f"{first.url}/admin/t/default/tokens", headers=headers, timeout=10).text
        key = page.split('name="issue_key" value="')[1].split('"')[0]
        form = {"csrf": csrf, "issue_key": key, "name": "sent-twice", "role": "viewer"}
        answers = [
            httpx.post(f"{base}/admin/t/default/tokens/new", data=form, headers=headers, timeout=10)
            for base in (first.url, second.url, first.url)
        ]
        assert [a.status_code for a in answers] == [201, 409, 409]
        assert all('id="issued-token"' not in a.text and "already issued" in a.text for a in answers[1:])
        at = max(int(a.text.split("tokens?at=")[1].split('"')[0]) for a in answers)
        listed = httpx.get(
            f"{second.url}/v1/tenants/default/tokens?limit=500&min_position={at}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()["items"]
        assert [t["name"] for t in listed].count("sent-twice") == 1
    finally:
        second.stop()
        first.stop()


@pytest.mark.redis
def test_the_shared_record_is_seen_by_every_process_and_fails_closed_without_redis(redis_url: str) -> None:
    signer = SessionSigner(b"k" * 32)
    session = signer.open("token-id", "alice", "default", "admin", time.time() + 60)
    here, there = SignedOut(RedisSignedOut(redis_url)), SignedOut(RedisSignedOut(redis_url))
    assert not there.ended(session)
    here.end(session)
    assert there.ended(session)  # another process's record
    other = signer.open("token-id", "alice", "default", "admin", None)
    assert not there.ended(other)
    down = SignedOut(RedisSignedOut(f"redis://127.0.0.1:{free_loopback_port()}/0"))
    with pytest.raises(StoreUnavailableError):
        down.ended(other)  # unknown is not "still signed in"
    with pytest.raises(StoreUnavailableError):
        down.end(other)
    assert down.ended(other)  # this process refuses it at once either way


def test_without_its_redis_the_ui_refuses_sessions_and_sign_out_still_clears_the_cookie(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", LEDGERGATE_REDIS_URL=f"redis://127.0.0.1:{free_loopback_port()}/0")
    runtime = build_runtime(settings)
    token = first_start(runtime).token
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:
            assert client.post("/admin/login", data={"token": token}, follow_redirects=False).status_code == 303
            page = client.get("/admin/", follow_redirects=False)
            assert page.status_code == 503 and "unavailable" in page.text  # not taken as still signed in
            signer = SessionSigner(runtime.keys.jwt_key)
            session = signer.verify(client.cookies[COOKIE])
            assert session is not None
            out = client.post("/admin/logout", data={"csrf": signer.csrf_token(session)}, follow_redirects=False)
            assert out.status_code == 503 and "Signed out on this worker" in out.text
            assert f"{COOKIE}=" in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    finally:
        runtime.close()
