"""REST export and import of the log with a tenant's data key: the passphrase header, platform admins only."""

from __future__ import annotations

import msgspec

from tests.api.conftest import Api

PASSPHRASE = {"X-Ledgergate-Passphrase": "shared secret words"}


def test_a_platform_admin_exports_a_tenant_with_its_key_wrapped_by_the_passphrase(api: Api) -> None:
    response = api.call("GET", "/v1/events/export?tenant=default", headers=PASSPHRASE)
    assert response.status_code == 200, response.text
    header = msgspec.json.decode(response.content.splitlines()[0])
    assert (
        header["version"] == 3 and header["signing"]["key_id"].startswith("sk-") and list(header["keys"]) == ["default"]
    )
    assert header["keys"]["default"]["algorithm"] == "scrypt+AES-256-GCM"
    plain = msgspec.json.decode(api.call("GET", "/v1/events/export?tenant=default").content.splitlines()[0])
    assert plain["keys"] == {}


def test_keys_are_refused_to_a_tenant_admin_and_to_an_export_of_every_tenant(api: Api) -> None:
    issued = api.call("POST", "/v1/tenants/default/tokens", json={"name": "ops", "role": "admin"}).json()
    as_tenant_admin = api.call("GET", "/v1/events/export?tenant=default", token=issued["token"], headers=PASSPHRASE)
    assert as_tenant_admin.status_code == 403
    assert api.call("GET", "/v1/events/export?tenant=default", token=issued["token"]).status_code == 200
    everything = api.call("GET", "/v1/events/export", headers=PASSPHRASE)
    assert everything.status_code == 422 and "tenant" in everything.text


def test_an_import_with_a_wrong_passphrase_is_refused_and_changes_nothing(api: Api) -> None:
    exported = api.call("GET", "/v1/events/export?tenant=default", headers=PASSPHRASE).content
    before = api.call("GET", "/v1/events?limit=1000").json()["items"]
    wrong = api.call("POST", "/v1/events/import", content=exported, headers={"X-Ledgergate-Passphrase": "nope"})
    assert wrong.status_code == 422 and "wrong passphrase" in wrong.text
    assert api.call("GET", "/v1/events?limit=1000").json()["items"] == before
    same = api.call("POST", "/v1/events/import", content=exported, headers=PASSPHRASE)
    assert same.status_code == 200, same.text
    report = same.json()
    assert report["imported"] == 0 and report["tenants"]["default"]["skipped"] == report["skipped"] > 0
    assert "same key" in report["tenants"]["default"]["secrets"]


def test_an_export_keeps_only_the_events_between_its_bounds_by_position_or_time(api: Api) -> None:
    created = [
        api.call("POST", "/v1/tenants/default/prompts", json={"name": f"p{n}", "template": "Hi"}).json()
        for n in range(3)
    ]
    first, last = created[0]["position"], created[2]["position"]

    def positions(query: str) -> list[int]:
        response = api.call("GET", "/v1/events/export?tenant=default&" + query)
        assert response.status_code == 200, response.text
        return [msgspec.json.decode(line)["position"] for line in response.content.splitlines()[1:-1]]

    assert positions(f"from={first}&to={last}") == list(range(first, last + 1))
    assert positions(f"from={first}&to={first}") == [first]
    events = api.call("GET", f"/v1/events?tenant=default&limit=1000&min_position={last}").json()["items"]
    moment = next(e["occurred_at"] for e in events if e["position"] == last)
    by_time = positions("from=" + moment.replace("+00:00", "Z"))
    assert by_time == [last]
    bad = api.call("GET", "/v1/events/export?from=yesterday")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
