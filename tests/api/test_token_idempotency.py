"""``POST /v1/tenants/{t}/tokens`` with an ``Idempotency-Key``: a retry after a lost answer issues no second
token and never shows the first one's secret; a key is the tenant's own; a malformed key writes nothing."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.api.conftest import Api

TOKENS = "/v1/tenants/default/tokens"


def issue(api: Api, key: str | None, name: str = "ci-bot", path: str = TOKENS) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return api.call("POST", path, headers=headers, json={"name": name, "role": "editor"})


def names(api: Api, position: int, path: str = TOKENS) -> list[str]:
    listed = api.call("GET", f"{path}?limit=500&min_position={position}")
    assert listed.status_code == 200, listed.text
    return [item["name"] for item in listed.json()["items"]]


def test_a_retry_with_the_same_key_issues_nothing_and_never_shows_the_secret(api: Api) -> None:
    key = secrets.token_urlsafe(16)
    first = issue(api, key)
    assert first.status_code == 201, first.text
    again = issue(api, key, name="ci-bot")
    assert again.status_code == 409, again.text
    problem = again.json()
    assert again.headers["content-type"].startswith("application/problem+json")
    assert problem["type"].endswith("already-issued")
    assert problem["existing_id"] == first.json()["id"] and problem["name"] == "ci-bot"
    assert problem["role"] == "editor" and problem["revoked"] is False
    assert "token" not in problem and first.json()["token"] not in again.text
    assert names(api, problem["position"]).count("ci-bot") == 1
    # the key holds after a revoke too: the token it issued is still the one it names
    assert api.call("DELETE", f"{TOKENS}/{first.json()['id']}").status_code in (200, 204)
    revoked = issue(api, key)
    assert revoked.status_code == 409 and revoked.json()["revoked"] is True


def test_without_a_key_each_issue_is_a_new_token_and_a_new_key_is_a_new_token(api: Api) -> None:
    answers = [issue(api, None, "plain"), issue(api, None, "plain"), issue(api, secrets.token_urlsafe(16), "plain")]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["id"] for a in answers}) == 3


def test_a_key_is_the_tenants_own(api: Api) -> None:
    assert api.call("POST", "/v1/tenants", json={"name": "acme"}).status_code == 201
    key = secrets.token_urlsafe(16)
    here = issue(api, key)
    there = issue(api, key, path="/v1/tenants/acme/tokens")
    assert (here.status_code, there.status_code) == (201, 201), there.text
    assert here.json()["id"] != there.json()["id"]


def test_a_malformed_key_is_refused_by_name_and_writes_nothing(api: Api) -> None:
    head = issue(api, None, "before").json()["position"]
    for key in ("short", "x" * 129, "has space in it here", "dots.are.not.allowed.here", "a/b/c/d/e/f/g/h/i/j"):
        answer = issue(api, key, "refused")
        assert answer.status_code == 422, (key, answer.text)
        assert answer.json()["field"] == "Idempotency-Key" and "16 to 128" in answer.json()["detail"]
    assert "refused" not in names(api, head)


def test_concurrent_retries_with_one_key_issue_one_token(api: Api) -> None:
    key = secrets.token_urlsafe(16)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: issue(api, key, "raced"), range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 5, [a.text for a in answers]
    issued = next(a for a in answers if a.status_code == 201).json()
    assert {a.json()["existing_id"] for a in answers if a.status_code == 409} == {issued["id"]}
    assert names(api, issued["position"]).count("raced") == 1
