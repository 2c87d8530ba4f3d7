"""The REST API in process, on SQLite and on PostgreSQL: the README's flow, errors, and positions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.api.conftest import Api

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "integration": {
        "method": "GET",
        "url": "https://api.example.com/weather/{city}",
        "headers": {"X-Api-Key": "super-secret"},
        "auth": {"type": "bearer", "token": "tok-abc"},
    },
    "tags": ["weather"],
}


def created(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.call("POST", path, json=body)
    assert response.status_code == 201, response.text
    assert response.headers["X-Ledgergate-Position"] == str(response.json()["position"])
    return response.json()  # type: ignore[no-any-return]


def test_a_new_user_builds_a_catalog_and_sees_it_immediately_with_min_position(api: Api) -> None:
    created(api, "/v1/tenants", {"name": "acme"})
    tool = created(api, "/v1/tenants/acme/tools", WEATHER)
    prompt = created(
        api,
        "/v1/tenants/acme/prompts",
        {
            "name": "summarise",
            "template": "Summarise {{ text }} in {{ words }} words",
            "arguments": [{"name": "text", "required": True}, {"name": "words"}],
        },
    )
    resource = created(
        api,
        "/v1/tenants/acme/resources",
        {"uri": "docs://handbook", "name": "handbook", "mime_type": "text/markdown", "text": "# Handbook"},
    )
    server = created(
        api,
        "/v1/tenants/acme/servers",
        {"name": "assistant", "tool_ids": [tool["id"]], "prompt_ids": [prompt["id"]], "resource_ids": [resource["id"]]},
    )

    tools = api.call("GET", f"/v1/tenants/acme/tools?min_position={server['position']}").json()
    assert [t["name"] for t in tools["items"]] == ["get_weather"]
    assert tools["items"][0]["integration"]["headers"]["X-Api-Key"] == "********"
    assert tools["items"][0]["integration"]["auth"]["token"] == "********"
    assert "super-secret" not in api.call("GET", f"/v1/tenants/acme/tools/{tool['id']}").text
    got = api.call("GET", f"/v1/tenants/acme/servers/{server['id']}").json()
    assert got["members"] == {
        "tool": [tool["id"]],
        "resource": [resource["id"]],
        "prompt": [prompt["id"]],
        "upstream": [],
    }


def test_reverting_a_tool_restores_its_earlier_version_and_history_shows_who_did_what(api: Api) -> None:
    tool = created(api, "/v1/tenants/default/tools", WEATHER)
    path = f"/v1/tenants/default/tools/{tool['id']}"
    api.call("PATCH", path, json={"description": "Broken description", "name": "weather_now"})
    api.call("POST", path + "/disable")
    reverted = api.call("POST", path + "/revert", json={"version": 1})
    assert reverted.status_code == 200
    item = api.call("GET", f"{path}?min_position={reverted.json()['position']}").json()
    assert (item["name"], item["description"], item["enabled"], item["version"]) == (
        "get_weather",
        "Current weather for a city",
        True,
        4,
    )
    history = api.call("GET", path + "/history").json()["versions"]
    assert [v["event"] for v in history] == ["Registered", "Updated", "Disabled", "Reverted"]
    assert {v["actor"] for v in history} == {"default:admin"}
    assert history[1]["changes"] == {"description": "Broken description", "name": "weather_now"}
    assert "tok-abc" not in str(history)


def test_a_name_freed_by_a_rename_can_be_taken_and_then_blocks_a_revert(api: Api) -> None:
    tool = created(api, "/v1/tenants/default/tools", WEATHER)
    path = f"/v1/tenants/default/tools/{tool['id']}"
    assert api.call("PATCH", path, json={"name": "weather_v2"}).status_code == 200
    created(api, "/v1/tenants/default/tools", WEATHER)
    response = api.call("POST", path + "/revert", json={"version": 1})
    assert response.status_code == 409
    assert response.json()["type"].endswith("name-conflict")


def test_bad_input_gets_a_problem_response_and_changes_nothing(api: Api) -> None:
    before = created(api, "/v1/tenants/default/tools", WEATHER)["position"]
    cases = [
        ({**WEATHER, "name": "other", "surprise": 1}, 400, "invalid-request"),
        ({**WEATHER, "name": "other", "input_schema": "nope"}, 400, "invalid-request"),
        ({**WEATHER, "name": "other", "input_schema": {"type": "object", "properties": 3}}, 422, "validation-error"),
        ({**WEATHER, "name": "bad name!"}, 422, "validation-error"),
        (WEATHER, 409, "name-conflict"),
    ]
    for body, status, problem in cases:
        response = api.call("POST", "/v1/tenants/default/tools", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith(problem)
    malformed = api.call(
        "POST", "/v1/tenants/default/tools", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    oversize = api.call("POST", "/v1/tenants/default/tools", json={**WEATHER, "description": "x" * 2_000_000})
    assert oversize.status_code == 413
    assert oversize.json()["type"].endswith("body-too-large")
    missing = api.call("GET", "/v1/tenants/default/tools/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    listed = api.call("GET", f"/v1/tenants/default/tools?min_position={before}").json()["items"]
    assert [t["name"] for t in listed] == ["get_weather"]
    assert listed[0]["version"] == 1


def test_a_stale_if_match_gets_a_version_conflict(api: Api) -> None:
    tool = created(api, "/v1/tenants/default/tools", WEATHER)
    path = f"/v1/tenants/default/tools/{tool['id']}"
    assert api.call("PATCH", path, json={"description": "a"}, headers={"If-Match": "1"}).status_code == 200
    stale = api.call("PATCH", path, json={"description": "b"}, headers={"If-Match": "1"})
    assert stale.status_code == 409
    assert stale.json()["type"].endswith("version-conflict")
    assert stale.json()["current_version"] == 2


def test_a_read_waiting_for_a_position_never_reached_gets_503_with_retry_after(api: Api) -> None:
    api.http.app.state.runtime.queries.wait_s = 0.2
    response = api.call("GET", "/v1/tenants/default/tools?min_position=999999")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["type"].endswith("position-not-reached")


def test_tokens_are_scoped_to_their_tenant_and_role_and_refused_once_revoked(api: Api) -> None:
    created(api, "/v1/tenants", {"name": "acme"})
    created(api, "/v1/tenants", {"name": "globex"})
    acme_admin = created(api, "/v1/tenants/acme/tokens", {"name": "acme-admin", "role": "admin"})
    viewer = created(api, "/v1/tenants/acme/tokens", {"name": "acme-viewer", "role": "viewer"})
    globex_tool = created(api, "/v1/tenants/globex/tools", WEATHER)

    assert api.call("GET", "/v1/tenants/globex/tools", token=acme_admin["token"]).status_code == 403
    assert (
        api.call("GET", f"/v1/tenants/globex/tools/{globex_tool['id']}", token=acme_admin["token"]).status_code == 403
    )
    assert (
        api.call("DELETE", f"/v1/tenants/acme/tools/{globex_tool['id']}", token=acme_admin["token"]).status_code == 404
    )
    assert api.call("POST", "/v1/tenants", json={"name": "x"}, token=acme_admin["token"]).status_code == 403
    assert api.call("POST", "/v1/tenants/acme/tools", json=WEATHER, token=viewer["token"]).status_code == 403
    escalate = api.call(
        "POST", "/v1/tenants/acme/tokens", json={"name": "x", "role": "platform-admin"}, token=acme_admin["token"]
    )
    assert escalate.status_code == 403
    assert api.call("GET", "/v1/tenants/acme/tools", token=viewer["token"]).status_code == 200

    revoked = api.call("DELETE", f"/v1/tenants/acme/tokens/{viewer['id']}", token=acme_admin["token"])
    assert revoked.status_code == 200
    api.call("GET", f"/v1/tenants/acme/tokens?min_position={revoked.json()['position']}", token=acme_admin["token"])
    refused = api.call("GET", "/v1/tenants/acme/tools", token=viewer["token"])
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert "super-secret" not in str(api.call("GET", "/v1/tenants/acme/tokens", token=acme_admin["token"]).json())


def test_requests_without_a_valid_token_are_refused_but_ops_endpoints_are_open(api: Api) -> None:
    assert api.http.get("/v1/tenants/default/tools").status_code == 401
    assert api.http.get("/v1/tenants/default/tools", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.http.get("/health").json() == {"status": "ok"}
    assert api.http.get("/version").json()["name"] == "ledgergate"
    assert api.http.get("/ready").status_code == 200
    assert "/v1/tenants/{tenant}/tools" in api.http.get("/docs/openapi.json").json()["paths"]


def test_lists_page_with_cursors_and_refuse_a_garbage_cursor(api: Api) -> None:
    last = 0
    for n in range(7):
        last = created(api, "/v1/tenants/default/prompts", {"name": f"p{n}", "template": "hi {{ who }}"})["position"]
    seen: list[str] = []
    cursor = ""
    while True:
        query = f"?limit=3&min_position={last}" + (f"&cursor={cursor}" if cursor else "")
        body = api.call("GET", "/v1/tenants/default/prompts" + query).json()
        seen += [p["name"] for p in body["items"]]
        if not body["next_cursor"]:
            break
        cursor = body["next_cursor"]
    assert seen == [f"p{n}" for n in range(7)]
    bad = api.call("GET", "/v1/tenants/default/prompts?cursor=garbage!!")
    assert bad.status_code == 400
    assert bad.json()["type"].endswith("invalid-request")


def test_a_resource_switches_between_text_and_blob_and_refuses_both_or_oversize(api: Api) -> None:
    resource = created(api, "/v1/tenants/default/resources", {"uri": "file://a.txt", "name": "a", "text": "hello"})
    path = f"/v1/tenants/default/resources/{resource['id']}"
    switched = api.call("PATCH", path, json={"blob": "aGVsbG8=", "mime_type": "application/octet-stream"})
    assert switched.status_code == 200, switched.text
    item = api.call("GET", f"{path}?min_position={switched.json()['position']}").json()
    assert (item["text"], item["blob"]) == (None, "aGVsbG8=")
    both = api.call("PATCH", path, json={"text": "x", "blob": "aGVsbG8="})
    assert both.status_code == 422
    api.http.app.state.runtime.registry.resource_max_bytes = 4
    assert api.call("PATCH", path, json={"text": "too long"}).status_code == 422


def test_a_binary_resource_is_created_with_a_blob_alone(api: Api) -> None:
    body = {"uri": "img://logo", "name": "logo", "blob": "iVBORw0K", "mime_type": "image/png"}
    resource = created(api, "/v1/tenants/default/resources", body)
    item = api.call("GET", f"/v1/tenants/default/resources/{resource['id']}?min_position={resource['position']}")
    assert (item.json()["text"], item.json()["blob"]) == (None, "iVBORw0K")


def test_a_disabled_tenants_tokens_are_refused_until_it_is_enabled_again(api: Api) -> None:
    created(api, "/v1/tenants", {"name": "acme"})
    admin = created(api, "/v1/tenants/acme/tokens", {"name": "a", "role": "admin"})
    disabled = api.call("POST", "/v1/tenants/acme/disable")
    api.call("GET", f"/v1/tenants?min_position={disabled.json()['position']}")
    assert api.call("GET", "/v1/tenants/acme/tools", token=admin["token"]).status_code == 403
    enabled = api.call("POST", "/v1/tenants/acme/enable")
    api.call("GET", f"/v1/tenants?min_position={enabled.json()['position']}")
    assert api.call("GET", "/v1/tenants/acme/tools", token=admin["token"]).status_code == 200


def test_deleting_a_tenant_with_shred_makes_its_secrets_unreadable_but_keeps_its_history(api: Api) -> None:
    created(api, "/v1/tenants", {"name": "acme"})
    tool = created(api, "/v1/tenants/acme/tools", WEATHER)
    runtime = api.http.app.state.runtime
    sealed = runtime.registry.repository.get(UUID(tool["id"])).integration["headers"]["X-Api-Key"]
    assert runtime.registry.cipher.decrypt("acme", sealed["$secret"]) == "super-secret"
    deleted = api.call("DELETE", "/v1/tenants/acme?shred=true")
    assert deleted.status_code == 200 and deleted.json()["shredded"] is True
    with pytest.raises(Exception, match=r"shredded|not available"):
        runtime.registry.cipher.decrypt("acme", sealed["$secret"])
    history = api.call("GET", f"/v1/tenants/acme/tools/{tool['id']}/history")
    assert history.status_code == 200
    assert history.json()["versions"][0]["fields"]["integration"]["headers"]["X-Api-Key"] == "********"
