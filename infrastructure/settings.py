"""Settings from ``LEDGERGATE_*`` environment variables and an optional ``.env`` file."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from dotenv import dotenv_values

from ledgergate.application.errors import SettingsError

if TYPE_CHECKING:
    from ledgergate.infrastructure.oidc_settings import OidcSettings

__all__ = ["DatabaseUrl", "Settings", "SettingsError", "load_settings"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed ``LEDGERGATE_DATABASE_URL``: ``sqlite:///path`` or ``postgresql://user@host:port/db``."""

    kind: str  # "sqlite" | "postgres"
    sqlite_path: str = ""
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    schema: str = ""

    @classmethod
    def parse(cls, url: str) -> DatabaseUrl:
        parts = urlsplit(url)
        if parts.scheme == "sqlite":
            path = unquote(parts.path)
            if parts.netloc or not path or path == "/":
                raise SettingsError(
                    f"LEDGERGATE_DATABASE_URL={url!r}: write sqlite:///relative/path or sqlite:////abs/path"
                )
            return cls(kind="sqlite", sqlite_path=path[1:])
        if parts.scheme in ("postgresql", "postgres"):
            dbname = unquote(parts.path.lstrip("/"))
            if not parts.hostname or not dbname:
                raise SettingsError(
                    f"LEDGERGATE_DATABASE_URL={url!r}: write postgresql://user[:password]@host[:port]/dbname"
                )
            schema = parse_qs(parts.query).get("schema", [""])[0]
            try:
                port = parts.port or 5432
            except ValueError:
                raise SettingsError(f"LEDGERGATE_DATABASE_URL={url!r}: the port is not a number") from None
            return cls(
                kind="postgres",
                host=parts.hostname,
                port=port,
                user=unquote(parts.username or "postgres"),
                password=unquote(parts.password or ""),
                dbname=dbname,
                schema=schema,
            )
        raise SettingsError(f"LEDGERGATE_DATABASE_URL={url!r}: the scheme must be sqlite:// or postgresql://")

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        options = f"-c search_path={self.schema}" if self.schema else ""
        return make_conninfo(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=self.dbname, options=options
        )


@dataclass(frozen=True)
class Settings:
    database: DatabaseUrl
    redis_url: str | None
    host: str
    port: int
    workers: int
    data_dir: Path
    log_level: str
    max_body_bytes: int
    read_wait_s: float
    resource_max_bytes: int
    poll_ms: int = 0  # 0: the follower's default (100 ms, or 1 s with a push wake-up)
    allowed_origins: tuple[str, ...] = ()
    ssrf_allowed_hosts: tuple[str, ...] = ()
    ssrf_allow_loopback: bool = True  # outbound connections to 127.0.0.0/8 and ::1
    ssrf_allow_private: bool = True  # to 10/8, 172.16/12, 192.168/16, 100.64/10 and fc00::/7
    probe_interval_s: int = 30
    token_calls_per_minute: int = 0  # 0: unlimited
    tenant_calls_per_minute: int = 0
    token_ttl_days: int = 90  # tokens issued without an expiry, unless they are service tokens
    token_max_ttl_days: int = 365  # the longest a token that is not a service token may live
    admin_token_ttl_hours: int = 24  # the first start's platform-admin token, and each rotate-admin
    # legacy MCP sessions: quotas, idle expiry, and the memory store's cap for the whole process
    sessions_per_token: int = 1_000
    sessions_per_tenant: int = 10_000
    session_idle_s: int = 3_600
    max_sessions: int = 100_000
    # held at once by one token in one process (0: unlimited)
    streams_per_token: int = 100
    calls_in_flight_per_token: int = 100
    # instance keys given by the operator (a mounted secret or the environment); None: the data directory's files
    jwt_signing_key: bytes | None = field(default=None, repr=False)
    master_key: bytes | None = field(default=None, repr=False)
    # earlier master keys the operator still gives while data keys are re-wrapped (keys rotate-master)
    master_keys_retired: tuple[bytes, ...] = field(default=(), repr=False)
    signing_key: bytes | None = field(default=None, repr=False)  # Ed25519 seed: signed exports, checkpoints
    oidc: OidcSettings | None = None
    # observability (docs/operations.md)
    access_log: bool = True  # one JSON line per HTTP request
    log_payloads: bool = False  # tool arguments and results in the call log lines (masked)
    log_stream: str = "stdout"
    metrics_token: str | None = None  # a scrape token for /metrics, beside platform-admin tokens
    metrics_label_limit: int = 500  # distinct values per label and process; then "other"
    #: a file of trusted export signing keys: imports then accept only files signed by one of them
    trusted_keys_file: Path | None = None
    # peers (CIDRs) whose Forwarded / X-Forwarded-* headers are believed; none by default, loopback included
    trusted_proxies: tuple[str, ...] = ()


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: must be a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r}: must be between {low} and {high}")
    return value


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r}: must be true or false")


def _list(env: dict[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in (env.get(name) or "").split(",") if item.strip())


def _networks(env: dict[str, str], name: str) -> tuple[str, ...]:
    import ipaddress

    networks = []
    for item in _list(env, name):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(f"{name}: {item!r} is not an address or a network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def _key(env: dict[str, str], name: str) -> bytes | None:
    """A 32-byte key from ``NAME`` (base64) or ``NAME_FILE`` (a file holding it, e.g. a mounted secret)."""
    value, path = env.get(name) or "", env.get(f"{name}_FILE") or ""
    if value and path:
        raise SettingsError(f"{name} and {name}_FILE are both set: give the key one way")
    if path:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE={path!r}: cannot read it ({exc.strerror})") from None
        name = f"{name}_FILE"
    if not value:
        return None
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(f"{name}: the key must be base64 (e.g. `openssl rand -base64 32`)") from None
    if len(key) != 32:
        raise SettingsError(f"{name}: the key must be 32 bytes (base64 of `openssl rand 32`), not {len(key)}")
    return key


def _retired_keys(env: dict[str, str]) -> tuple[bytes, ...]:
    """``LEDGERGATE_MASTER_KEYS_RETIRED[_FILE]``: earlier master keys, base64, separated by commas, spaces or
    lines. Only with a given master key: a key kept in the data directory retires into files of its own."""
    name = "LEDGERGATE_MASTER_KEYS_RETIRED"
    value, path = env.get(name) or "", env.get(f"{name}_FILE") or ""
    if value and path:
        raise SettingsError(f"{name} and {name}_FILE are both set: give the keys one way")
    if path:
        try:
            value = Path(path).read_text()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE={path!r}: cannot read it ({exc.strerror})") from None
        name = f"{name}_FILE"
    texts = [text for text in value.replace(",", " ").split() if text]
    if texts and not (env.get("LEDGERGATE_MASTER_KEY") or env.get("LEDGERGATE_MASTER_KEY_FILE")):
        raise SettingsError(f"{name} is set but no master key is given: it retires a given LEDGERGATE_MASTER_KEY")
    keys = []
    for number, text in enumerate(texts, 1):
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise SettingsError(f"{name}: key {number} is not a 32-byte key in base64 (`openssl rand -base64 32`)")
        keys.append(key)
    return tuple(keys)


def _log_stream(env: dict[str, str]) -> str:
    stream = (env.get("LEDGERGATE_LOG_STREAM") or "stdout").strip().lower()
    if stream not in ("stdout", "stderr"):
        raise SettingsError(f"LEDGERGATE_LOG_STREAM={stream!r}: must be stdout or stderr")
    return stream


def _metrics_token(env: dict[str, str]) -> str | None:
    token = (env.get("LEDGERGATE_METRICS_TOKEN") or "").strip()
    if token and (len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token):
        raise SettingsError("LEDGERGATE_METRICS_TOKEN: must be at least 16 printable ASCII characters, no spaces")
    return token or None


def load_settings(environ: dict[str, str] | None = None, env_file: str | Path = ".env") -> Settings:
    """Read settings; ``environ`` wins over the ``.env`` file. Raises: SettingsError."""
    env: dict[str, str] = (
        {k: v for k, v in dotenv_values(env_file).items() if v is not None} if Path(env_file).is_file() else {}
    )
    env.update(os.environ if environ is None else environ)
    from ledgergate.infrastructure.oidc_settings import load_oidc_settings  # it raises SettingsError, defined here

    data_dir = Path(env.get("LEDGERGATE_DATA_DIR") or "./data")
    database = DatabaseUrl.parse(env.get("LEDGERGATE_DATABASE_URL") or f"sqlite:///{data_dir / 'ledgergate.db'}")
    redis_url = env.get("LEDGERGATE_REDIS_URL") or None
    if redis_url is not None and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(f"LEDGERGATE_REDIS_URL={redis_url!r}: must start with redis://, rediss:// or unix://")
    log_level = (env.get("LEDGERGATE_LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LEDGERGATE_LOG_LEVEL={log_level!r}: must be one of {', '.join(LOG_LEVELS)}")
    host = env.get("LEDGERGATE_HOST") or "127.0.0.1"
    token_ttl_days = _int(env, "LEDGERGATE_TOKEN_TTL_DAYS", 90, 1, 3650)
    token_max_ttl_days = _int(env, "LEDGERGATE_TOKEN_MAX_TTL_DAYS", 365, 1, 3650)
    if token_ttl_days > token_max_ttl_days:
        raise SettingsError(
            f"LEDGERGATE_TOKEN_TTL_DAYS={token_ttl_days}: must not exceed LEDGERGATE_TOKEN_MAX_TTL_DAYS="
            f"{token_max_ttl_days}"
        )
    return Settings(
        database=database,
        redis_url=redis_url,
        host=host,
        port=_int(env, "LEDGERGATE_PORT", 4444, 1, 65535),
        workers=_int(env, "LEDGERGATE_WORKERS", 1, 1, 64),
        data_dir=data_dir,
        log_level=log_level,
        max_body_bytes=_int(env, "LEDGERGATE_MAX_BODY_BYTES", 1_048_576, 1024, 512 * 1_048_576),
        read_wait_s=_int(env, "LEDGERGATE_READ_WAIT_MS", 5000, 0, 60_000) / 1000,
        resource_max_bytes=_int(env, "LEDGERGATE_RESOURCE_MAX_BYTES", 1_048_576, 1, 64 * 1_048_576),
        poll_ms=_int(env, "LEDGERGATE_POLL_MS", 0, 0, 600_000),
        allowed_origins=_list(env, "LEDGERGATE_ALLOWED_ORIGINS"),
        ssrf_allowed_hosts=_list(env, "LEDGERGATE_SSRF_ALLOWED_HOSTS"),
        ssrf_allow_loopback=_flag(env, "LEDGERGATE_SSRF_ALLOW_LOOPBACK", True),
        ssrf_allow_private=_flag(env, "LEDGERGATE_SSRF_ALLOW_PRIVATE", True),
        probe_interval_s=_int(env, "LEDGERGATE_PROBE_INTERVAL_S", 30, 1, 86_400),
        token_calls_per_minute=_int(env, "LEDGERGATE_TOKEN_CALLS_PER_MINUTE", 0, 0, 10_000_000),
        tenant_calls_per_minute=_int(env, "LEDGERGATE_TENANT_CALLS_PER_MINUTE", 0, 0, 100_000_000),
        token_ttl_days=token_ttl_days,
        token_max_ttl_days=token_max_ttl_days,
        admin_token_ttl_hours=_int(env, "LEDGERGATE_ADMIN_TOKEN_TTL_HOURS", 24, 1, 8760),
        sessions_per_token=_int(env, "LEDGERGATE_SESSIONS_PER_TOKEN", 1_000, 1, 10_000_000),
        sessions_per_tenant=_int(env, "LEDGERGATE_SESSIONS_PER_TENANT", 10_000, 1, 100_000_000),
        session_idle_s=_int(env, "LEDGERGATE_SESSION_IDLE_S", 3_600, 1, 30 * 86_400),
        max_sessions=_int(env, "LEDGERGATE_MAX_SESSIONS", 100_000, 1, 100_000_000),
        streams_per_token=_int(env, "LEDGERGATE_STREAMS_PER_TOKEN", 100, 0, 1_000_000),
        calls_in_flight_per_token=_int(env, "LEDGERGATE_CALLS_IN_FLIGHT_PER_TOKEN", 100, 0, 1_000_000),
        jwt_signing_key=_key(env, "LEDGERGATE_JWT_SIGNING_KEY"),
        master_key=_key(env, "LEDGERGATE_MASTER_KEY"),
        master_keys_retired=_retired_keys(env),
        signing_key=_key(env, "LEDGERGATE_SIGNING_KEY"),
        oidc=load_oidc_settings(env),
        access_log=_flag(env, "LEDGERGATE_ACCESS_LOG", True),
        log_payloads=_flag(env, "LEDGERGATE_LOG_PAYLOADS", False),
        log_stream=_log_stream(env),
        metrics_token=_metrics_token(env),
        metrics_label_limit=_int(env, "LEDGERGATE_METRICS_MAX_LABEL_VALUES", 500, 1, 100_000),
        trusted_keys_file=Path(env["LEDGERGATE_TRUSTED_KEYS"]) if env.get("LEDGERGATE_TRUSTED_KEYS") else None,
        trusted_proxies=_networks(env, "LEDGERGATE_TRUSTED_PROXIES"),
    )
