"""Shared fixtures: settings on a temporary SQLite file or a fresh PostgreSQL schema, and real services.

PostgreSQL and Redis are used for real. Where one is unreachable its tests skip with the reason,
except when CI=true: then an unreachable service fails the run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from ledgergate.infrastructure.settings import Settings, load_settings

POSTGRES_URL = os.environ.get("LEDGERGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LEDGERGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(service: str, error: Exception) -> None:
    message = f"{service} is not reachable ({error.__class__.__name__}: {error})"
    if IN_CI:
        pytest.fail(message + "; CI=true requires it")
    pytest.skip(message)


def postgres_conninfo(url: str = POSTGRES_URL) -> str:
    parts = urlsplit(url)
    return psycopg.conninfo.make_conninfo(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
        dbname=parts.path.lstrip("/"),
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database URL pointing at a new, empty schema that is dropped afterwards."""
    schema = f"lg_test_{secrets.token_hex(6)}"
    try:
        conn = psycopg.connect(postgres_conninfo(), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{POSTGRES_URL}?schema={schema}"
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    return REDIS_URL


def make_settings(data_dir: Path, database_url: str | None = None, **extra: str) -> Settings:
    env = {"LEDGERGATE_DATA_DIR": str(data_dir), "LEDGERGATE_READ_WAIT_MS": "5000", **extra}
    if database_url:
        env["LEDGERGATE_DATABASE_URL"] = database_url
    return load_settings(env, env_file=data_dir / "none.env")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledgergate.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path / "data", database_url)
