"""Who wrote what: every write names the exact token and its tenant; tokens expire by default; a token
limited to virtual servers may only read those servers on REST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from tests.api.conftest import Api

TOOL = {
    "name": "lookup",
    "input_schema": {"type": "object"},
    "integration": {"method": "GET", "url": "https://x.test/"},
}


def created(api: Api, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    response = api.call("POST", path, token=token, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def bootstrap_token_id(api: Api) -> str:
    return str(claims_of(api.token)["jti"])


def audit(api: Api, query: str, position: int) -> list[dict[str, Any]]:
    response = api.call("GET", f"/v1/audit?{query}&min_position={position}&limit=1000")
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_two_tenants_admins_named_admin_and_the_bootstrap_token_are_told_apart_in_the_audit_log(api: Api) -> None:
    created(api, "/v1/tenants", {"name": "acme"})
    created(api, "/v1/tenants", {"name": "globex"})
    acme = created(api, "/v1/tenants/acme/tokens", {"name": "acme-admin", "subject": "admin", "role": "admin"})
    globex = created(api, "/v1/tenants/globex/tokens", {"name": "globex-admin", "subject": "admin", "role": "admin"})
    by_acme = created(api, "/v1/tenants/acme/tools", TOOL, token=acme["token"])
    by_globex = created(api, "/v1/tenants/globex/tools", TOOL, token=globex["token"])
    by_bootstrap = created(api, "/v1/tenants/acme/tools", {**TOOL, "name": "other"})
    head = max(by_acme["position"], by_globex["position"], by_bootstrap["position"])

    writes = {e["stream_id"]: e for e in audit(api, "type=Registered", head)}
    credentials = {
        key: (writes[w["id"]]["actor"], writes[w["id"]]["actor_token_id"], writes[w["id"]]["actor_tenant"])
        for key, w in (("acme", by_acme), ("globex", by_globex), ("bootstrap", by_bootstrap))
    }
    assert credentials == {
        "acme": ("acme:admin", acme["id"], "acme"),
        "globex": ("globex:admin", globex["id"], "globex"),
        "bootstrap": ("default:admin", bootstrap_token_id(api), "default"),
    }
    assert writes[by_bootstrap["id"]]["tenant_id"] == "acme"  # whose data it is, beside whose credential wrote it
    [version] = api.call("GET", f"/v1/tenants/globex/tools/{by_globex['id']}/history").json()["versions"]
    assert (version["actor"], version["actor_token_id"], version["actor_tenant"]) == (
        "globex:admin",
        globex["id"],
        "globex",
    )
    only_acme = audit(api, f"token_id={acme['id']}", head)
    assert [e["stream_id"] for e in only_acme if e["kind"] == "tool"] == [by_acme["id"]]
    assert {e["actor_token_id"] for e in only_acme} == {acme["id"]}
    from_default = audit(api, "actor_tenant=default&tenant=acme", head)
    assert by_bootstrap["id"] in {e["stream_id"] for e in from_default}
    assert by_acme["id"] not in {e["stream_id"] for e in from_default}
    own = api.call("GET", f"/v1/audit?token_id={globex['id']}&min_position={head}", token=acme["token"]).json()
    assert own["items"] == []  # a tenant admin reads only its own tenant's entries, whatever the filter


@pytest.mark.parametrize("subject", ["system:supervisor", "acme:admin", "cli:contextforge-import", "a:b"])
def test_a_subject_that_looks_like_a_system_or_qualified_actor_is_refused(api: Api, subject: str) -> None:
    response = api.call("POST", "/v1/tenants/default/tokens", json={"name": "x", "subject": subject, "role": "viewer"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "subject"
    head = api.http.app.state.runtime.registry.recorder.max_notification_id()
    listed = api.call("GET", f"/v1/tenants/default/tokens?min_position={head}").json()["items"]
    assert [t["name"] for t in listed] == ["bootstrap admin"]


@pytest.mark.parametrize("slug", ["system", "cli"])
def test_a_tenant_cannot_take_the_name_of_a_system_actor(api: Api, slug: str) -> None:
    response = api.call("POST", "/v1/tenants", json={"name": slug})
    assert response.status_code == 422, response.text


def test_the_bootstrap_token_expires_within_a_day(api: Api) -> None:
    expires = datetime.fromtimestamp(claims_of(api.token)["exp"], UTC)
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    head = api.http.app.state.runtime.registry.recorder.max_notification_id()
    [row] = api.call("GET", f"/v1/tenants/default/tokens?min_position={head}").json()["items"]
    assert row["expires_at"] is not None


def test_a_token_expires_after_the_default_lifetime_and_the_answer_says_when(api: Api) -> None:
    before = datetime.now(UTC)
    issued = created(api, "/v1/tenants/default/tokens", {"name": "alice", "role": "viewer"})
    expires = datetime.fromisoformat(issued["expires_at"])
    assert before + timedelta(days=90) - timedelta(seconds=5) <= expires <= datetime.now(UTC) + timedelta(days=90)
    assert claims_of(issued["token"])["exp"] == int(expires.timestamp())
    row = api.call("GET", f"/v1/tenants/default/tokens/{issued['id']}?min_position={issued['position']}").json()
    assert datetime.fromisoformat(row["expires_at"]) == expires


def test_a_token_that_never_expires_must_be_asked_for_as_a_service_token(api: Api) -> None:
    refused = api.call("POST", "/v1/tenants/default/tokens", json={"name": "x", "role": "viewer", "expires_in_s": None})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "expires_in_s"
    too_long = api.call(
        "POST", "/v1/tenants/default/tokens", json={"name": "x", "role": "viewer", "expires_in_s": 400 * 86400}
    )
    assert too_long.status_code == 422, too_long.text
    for absurd in (2**62, -1, 0, 59):
        body = {"name": "x", "role": "viewer", "service": True, "expires_in_s": absurd}
        assert api.call("POST", "/v1/tenants/default/tokens", json=body).status_code == 422, absurd
    service = created(api, "/v1/tenants/default/tokens", {"name": "ci", "role": "editor", "service": True})
    assert service["expires_at"] is None and "exp" not in claims_of(service["token"])
    bounded = created(
        api, "/v1/tenants/default/tokens", {"name": "ci2", "role": "editor", "service": True, "expires_in_s": 3600}
    )
    assert claims_of(bounded["token"])["exp"] - claims_of(bounded["token"])["iat"] == 3600
    assert api.call("GET", "/v1/tenants/default/tools", token=service["token"]).status_code == 200


def scoped_setup(api: Api) -> dict[str, Any]:
    created(api, "/v1/tenants", {"name": "acme"})
    tool = created(api, "/v1/tenants/acme/tools", TOOL)
    prompt = created(api, "/v1/tenants/acme/prompts", {"name": "hello", "template": "hi"})
    resource = created(api, "/v1/tenants/acme/resources", {"uri": "docs://a", "name": "a", "text": "a"})
    mine = created(api, "/v1/tenants/acme/servers", {"name": "mine", "tool_ids": [tool["id"]]})
    other = created(api, "/v1/tenants/acme/servers", {"name": "other"})
    token = created(api, "/v1/tenants/acme/tokens", {"name": "scoped", "role": "admin", "server_ids": [mine["id"]]})
    return {"tool": tool, "prompt": prompt, "resource": resource, "mine": mine, "other": other, "token": token}


def test_a_token_limited_to_a_server_cannot_change_anything_on_rest(api: Api) -> None:
    s = scoped_setup(api)
    scoped, base = s["token"]["token"], "/v1/tenants/acme"
    head = s["token"]["position"]
    writes = [
        ("POST", f"{base}/tools", {**TOOL, "name": "sneaky"}),
        ("PATCH", f"{base}/tools/{s['tool']['id']}", {"description": "changed"}),
        ("POST", f"{base}/tools/{s['tool']['id']}/disable", None),
        ("DELETE", f"{base}/tools/{s['tool']['id']}", None),
        ("POST", f"{base}/prompts", {"name": "p2", "template": "x"}),
        ("PATCH", f"{base}/prompts/{s['prompt']['id']}", {"template": "changed"}),
        ("DELETE", f"{base}/prompts/{s['prompt']['id']}", None),
        ("POST", f"{base}/resources", {"uri": "docs://b", "name": "b", "text": "b"}),
        ("DELETE", f"{base}/resources/{s['resource']['id']}", None),
        ("POST", f"{base}/servers", {"name": "third"}),
        ("PATCH", f"{base}/servers/{s['other']['id']}", {"description": "changed"}),
        ("DELETE", f"{base}/servers/{s['other']['id']}", None),
        ("PATCH", f"{base}/servers/{s['mine']['id']}", {"tool_ids": []}),
        ("POST", f"{base}/servers/{s['mine']['id']}/revert", {"version": 1}),
        ("POST", f"{base}/upstreams", {"name": "up", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}),
        ("POST", f"{base}/tokens", {"name": "more", "role": "viewer"}),
        ("DELETE", f"{base}/tokens/{s['token']['id']}", None),
    ]
    for method, path, body in writes:
        response = api.call(method, path, token=scoped, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "virtual server" in response.json()["detail"]
    reads = [
        f"{base}/tools",
        f"{base}/tools/{s['tool']['id']}",
        f"{base}/servers",
        f"{base}/servers/{s['other']['id']}",
        f"{base}/tokens",
        f"{base}/upstreams",
        "/v1/audit?tenant=acme",
        "/v1/events?tenant=acme",
        "/v1/events/export?tenant=acme",
    ]
    for path in reads:
        assert api.call("GET", path, token=scoped).status_code == 403, path
    events = api.call("GET", f"/v1/events?tenant=acme&min_position={head}&limit=1000").json()["items"]
    assert events[-1]["position"] == head  # nothing was written


def test_a_token_limited_to_a_server_still_reads_that_server(api: Api) -> None:
    s = scoped_setup(api)
    scoped, mine = s["token"]["token"], s["mine"]
    found = api.call(
        "GET", f"/v1/tenants/acme/servers/{mine['id']}?min_position={s['token']['position']}", token=scoped
    )
    assert found.status_code == 200, found.text
    assert found.json()["name"] == "mine" and found.json()["members"]["tool"] == [s["tool"]["id"]]
    history = api.call("GET", f"/v1/tenants/acme/servers/{mine['id']}/history", token=scoped)
    assert history.status_code == 200 and len(history.json()["versions"]) == 1
    unscoped = created(api, "/v1/tenants/acme/tokens", {"name": "editor", "role": "editor"})
    patched = api.call(
        "PATCH", f"/v1/tenants/acme/servers/{mine['id']}", token=unscoped["token"], json={"tool_ids": []}
    )
    assert patched.status_code == 200, patched.text


def test_every_rest_route_but_reading_its_own_servers_refuses_a_server_scoped_token(api: Api) -> None:
    """Generated from the app's route table, so a route added later is covered without editing this test."""
    s = scoped_setup(api)
    scoped = s["token"]["token"]
    ids = {"tools": s["tool"]["id"], "prompts": s["prompt"]["id"], "resources": s["resource"]["id"]}
    allowed = {("GET", "/servers/{item_id:str}"), ("GET", "/servers/{item_id:str}/history")}
    tried = 0
    for route in api.http.app.routes:
        if not route.path.startswith("/v1/"):
            continue
        for method in sorted(set(getattr(route, "methods", ())) - {"OPTIONS", "HEAD"}):
            kind = route.path.split("/")[4] if route.path.count("/") >= 4 else ""
            path = (
                route.path.replace("{tenant:str}", "acme")
                .replace("{token_id:str}", s["token"]["id"])
                .replace("{item_id:str}", ids.get(kind, s["mine"]["id"]))
            )
            query = {"/v1/audit/catalog": "?at=1", "/v1/audit/diff": "?from=1&to=2"}.get(path, "")
            body = {} if method in ("POST", "PATCH") else None
            response = api.call(method, path + query, token=scoped, json=body)
            tail = route.path.removeprefix("/v1/tenants/{tenant:str}")
            expected = 200 if (method, tail) in allowed else 403
            assert response.status_code == expected, (method, path, response.text)
            tried += 1
    assert tried >= 60  # every route of the table was tried, not a handful
