"""compose.yaml and its load balancer's configuration, read as Docker Compose and nginx would read them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from ledgergate.infrastructure.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
GATEWAYS = ("gateway-1", "gateway-2")
INTERPOLATION = re.compile(r"\$\{([A-Z_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(document, dict)
    return document


def interpolated(value: str, variables: dict[str, str]) -> str:
    return INTERPOLATION.sub(lambda m: variables[m.group(1)], value)


def test_it_runs_postgres_redis_two_gateways_and_a_load_balancer_each_with_a_health_check(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", *GATEWAYS, "lb"}
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL"), name
    for name in GATEWAYS:
        assert "/ready" in " ".join(services[name]["healthcheck"]["test"])
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions["postgres"] == conditions["redis"] == "service_healthy"
        assert services[name]["build"] == "."


def test_the_gateways_share_their_keys_from_one_set_of_secrets(compose: dict[str, Any]) -> None:
    services = compose["services"]
    declared = compose["secrets"]
    for name in GATEWAYS:
        env = services[name]["environment"]
        assert set(services[name]["secrets"]) == {"jwt_signing_key", "master_key", "signing_key"}
        assert env["LEDGERGATE_JWT_SIGNING_KEY_FILE"] == "/run/secrets/jwt_signing_key"
        assert env["LEDGERGATE_MASTER_KEY_FILE"] == "/run/secrets/master_key"
        assert env["LEDGERGATE_SIGNING_KEY_FILE"] == "/run/secrets/signing_key"
    assert services["gateway-1"]["environment"] == services["gateway-2"]["environment"]
    assert {declared[s]["file"] for s in ("jwt_signing_key", "master_key", "signing_key")} == {
        "./deploy/secrets/jwt-signing.key",
        "./deploy/secrets/master.key",
        "./deploy/secrets/signing.key",
    }
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text().splitlines()


def test_each_gateways_environment_is_valid_settings_for_the_services_beside_it(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    for name in GATEWAYS:
        env = {
            key: interpolated(str(value), {"POSTGRES_PASSWORD": "pw"})
            for key, value in compose["services"][name]["environment"].items()
        }
        for variable in (
            "LEDGERGATE_JWT_SIGNING_KEY_FILE",
            "LEDGERGATE_MASTER_KEY_FILE",
            "LEDGERGATE_SIGNING_KEY_FILE",
        ):
            local = tmp_path / Path(env[variable]).name  # what the secret's file would hold
            local.write_text("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
            env[variable] = str(local)
        settings = load_settings({**env, "LEDGERGATE_DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none.env")
        assert settings.database.kind == "postgres" and settings.database.host == "postgres"
        assert settings.database.password == "pw"
        assert settings.redis_url is not None and urlsplit(settings.redis_url).hostname == "redis"
        assert settings.workers > 1 and settings.host == "0.0.0.0"
        assert None not in (settings.jwt_signing_key, settings.master_key, settings.signing_key)
    postgres = compose["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_USER"] == "ledgergate" and postgres["POSTGRES_DB"] == "ledgergate"


def test_the_load_balancer_sends_to_every_gateway_replica_without_buffering_streams(compose: dict[str, Any]) -> None:
    lb = compose["services"]["lb"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in lb["volumes"]}
    config = (ROOT / mounted["/etc/nginx/nginx.conf"]).read_text()
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", config)
    assert upstream is not None
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", upstream.group(2), re.MULTILINE)
    assert sorted(host for host, _ in servers) == sorted(GATEWAYS)
    for host, port in servers:
        assert compose["services"][host]["environment"]["LEDGERGATE_PORT"] == port
    assert f"proxy_pass http://{upstream.group(1)};" in config
    for directive in ("proxy_buffering off;", "proxy_http_version 1.1;", "proxy_request_buffering off;"):
        assert directive in config
    listen = re.search(r"listen\s+(\d+);", config)
    assert listen is not None and lb["ports"][0].endswith(f":{listen.group(1)}")
    assert set(lb["depends_on"]) == set(GATEWAYS)


def test_the_gateways_trust_forwarded_headers_from_the_balancer_alone(compose: dict[str, Any], tmp_path: Path) -> None:
    import ipaddress

    balancer = ipaddress.ip_address(compose["services"]["lb"]["networks"]["backend"]["ipv4_address"])
    for name in ("gateway-1", "gateway-2"):
        env = {k: str(v) for k, v in compose["services"][name]["environment"].items()}
        trusted = load_settings(
            {"LEDGERGATE_TRUSTED_PROXIES": env["LEDGERGATE_TRUSTED_PROXIES"]}, env_file=tmp_path / "x"
        )
        assert [ipaddress.ip_network(n) for n in trusted.trusted_proxies] == [ipaddress.ip_network(f"{balancer}/32")]
    conf = (Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-Proto $client_scheme;" in conf and "X-Forwarded-Host" in conf
