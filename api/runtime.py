"""The composition root's wiring: the one place that knows every concrete class."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ledgergate.application.archive_service import ArchiveService
from ledgergate.application.audit import AuditLog, AuditService
from ledgergate.application.custody import record_custody
from ledgergate.application.log_proof import LogProof
from ledgergate.application.queries import RegistryQueries
from ledgergate.application.registry import Registry
from ledgergate.domain.egress import EgressPolicy
from ledgergate.infrastructure.auth.bearer import BearerTokens
from ledgergate.infrastructure.auth.jwks import GuardedJsonFetcher, JwksCache, issuer_egress
from ledgergate.infrastructure.auth.jwt_tokens import JwtCodec
from ledgergate.infrastructure.auth.oidc import OidcTokenVerifier
from ledgergate.infrastructure.crypto.key_transport import PassphraseKeyTransport
from ledgergate.infrastructure.crypto.keys import InstanceKeys
from ledgergate.infrastructure.crypto.master_keys import MasterKeyRing
from ledgergate.infrastructure.crypto.signing import PublicKeyError, SigningKey, read_trusted_keys, verify_signature
from ledgergate.infrastructure.crypto.tenant_cipher import TenantCipher
from ledgergate.infrastructure.eventstore import attach_health, event_store_env, instance_id, log_reader, postgres_waker
from ledgergate.infrastructure.log_proof_store import StoreLogProof
from ledgergate.infrastructure.network.egress import EgressGuard
from ledgergate.infrastructure.postgres.connector import PostgresConnector
from ledgergate.infrastructure.redis.health import RedisHealth
from ledgergate.infrastructure.redis.log_signal import RedisLogSignal
from ledgergate.infrastructure.redis.signed_out import RedisSignedOut
from ledgergate.infrastructure.settings import Settings, SettingsError
from ledgergate.infrastructure.sql.audit_store import SqlAuditLog
from ledgergate.infrastructure.sql.catalog_queries import SqlCatalogQueries
from ledgergate.infrastructure.sql.catalog_view import SqlCatalogView
from ledgergate.infrastructure.sql.connector import SqlConnector
from ledgergate.infrastructure.sql.migrator import apply_migrations
from ledgergate.infrastructure.sqlite.connector import SQLiteConnector
from ledgergate.infrastructure.store_health import StoreHealth
from ledgergate.infrastructure.stored_records import StoreEventLog
from ledgergate.projections.audit_log import AUDIT_PROJECTION, AuditProjector
from ledgergate.projections.hot_catalog import HotCatalogs
from ledgergate.projections.point_in_time import catalog_at
from ledgergate.projections.runner import CatalogProjector, Follower, PositionBoard

__all__ = ["Runtime", "build_runtime", "connect", "migrate", "upstream_service"]

log = logging.getLogger("ledgergate")


def connect(settings: Settings, health: StoreHealth | None = None) -> SqlConnector:
    if settings.database.kind == "sqlite":
        return SQLiteConnector(settings.database.sqlite_path, health)
    return PostgresConnector(settings.database.conninfo(), settings.database.schema, health=health)


def load_trusted_keys(settings: Settings) -> dict[str, str] | None:
    """The trusted export signing keys by id (None: not configured). Raises: SettingsError."""
    if settings.trusted_keys_file is None:
        return None
    try:
        return read_trusted_keys(settings.trusted_keys_file)
    except (OSError, PublicKeyError) as exc:
        raise SettingsError(f"LEDGERGATE_TRUSTED_KEYS: {exc}") from None


def migrate(settings: Settings, connector: SqlConnector) -> list[str]:
    """Apply the read-model migrations and create the event store's tables, under one lock."""
    env = event_store_env(settings.database)

    def create_event_tables() -> None:
        Registry(env, cipher=None, signer=None).close()  # type: ignore[arg-type]

    return apply_migrations(connector, also=create_event_tables)


@dataclass
class Runtime:
    settings: Settings
    keys: InstanceKeys
    connector: SqlConnector
    registry: Registry
    queries: RegistryQueries
    catalog: SqlCatalogQueries
    view: SqlCatalogView
    projector: CatalogProjector
    board: PositionBoard
    codec: JwtCodec
    audit: AuditService
    audit_log: AuditLog
    audit_projector: AuditProjector
    archive: ArchiveService
    follower: Follower | None = None
    hot: HotCatalogs | None = None
    #: every connection made on a tenant's behalf goes through it (the registry checks URLs with its policy)
    egress: EgressGuard = field(default_factory=EgressGuard.default)
    health: StoreHealth = field(default_factory=StoreHealth)
    extras: dict[str, Any] = field(default_factory=dict)
    #: checks bearer tokens: the gateway's own, and an external OpenID Connect issuer's when one is configured
    tokens: BearerTokens = None  # type: ignore[assignment]  # set from the codec when not given
    #: the instance's Ed25519 key (signed exports, checkpoints), its master key ring, the live log's proof
    signing: SigningKey | None = None
    ring: MasterKeyRing | None = None
    proof: LogProof | None = None

    def __post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = BearerTokens(self.codec)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        self.registry.close()
        self.connector.close()
        for name in ("log_signal", "redis_health", "ui_signed_out"):
            if (closeable := self.extras.get(name)) is not None:
                closeable.close()


def external_tokens(settings: Settings, policy: EgressPolicy) -> OidcTokenVerifier | None:
    """The verifier of the configured OpenID Connect issuer's access tokens, if there is one."""
    oidc = settings.oidc
    if oidc is None:
        return None
    guard = issuer_egress(policy, oidc.issuer, *([oidc.jwks_url] if oidc.jwks_url else []))
    keys = JwksCache(oidc.issuer, GuardedJsonFetcher(guard), oidc.jwks_url, cache_s=oidc.jwks_cache_s)
    return OidcTokenVerifier(oidc, keys)


def build_runtime(settings: Settings, *, follow: bool = True, run_migrations: bool = True) -> Runtime:
    keys = InstanceKeys.of(settings)
    health = StoreHealth()  # one for the process's every connection to the database: one log line per outage
    connector = connect(settings, health)
    if run_migrations:
        migrate(settings, connector)
    codec = JwtCodec(keys.jwt_key)
    board = PositionBoard()
    local: list[Follower] = []
    redis_health = RedisHealth(settings.redis_url) if settings.redis_url else None  # one per process
    signal = RedisLogSignal(settings.redis_url, health=redis_health) if settings.redis_url else None

    def on_saved(position: int) -> None:
        if local:
            local[0].notify(position)
        if signal is not None:
            signal.publish(position)

    # The store's tables were made by migrate(), under its lock; creating them again here would race
    # with other workers starting at the same moment (PostgreSQL: "tuple concurrently updated").
    store_env = {**event_store_env(settings.database), "CREATE_TABLE": "n" if run_migrations else "y"}
    ring = MasterKeyRing(settings.data_dir, settings.master_key, settings.master_keys_retired)
    signing = SigningKey(settings.data_dir, settings.signing_key)
    cipher = TenantCipher(connector, ring)
    registry = Registry(
        store_env,
        cipher=cipher,
        signer=codec,
        on_saved=on_saved,
        resource_max_bytes=settings.resource_max_bytes,
    )
    egress = EgressPolicy.configured(
        settings.ssrf_allow_loopback, settings.ssrf_allow_private, settings.ssrf_allowed_hosts
    )
    registry.egress = egress
    attach_health(registry, health)
    catalog = SqlCatalogQueries(connector)
    view = SqlCatalogView(connector)
    projector = CatalogProjector(view, log_reader(registry))
    queries = RegistryQueries(catalog, board, registry.events.get, settings.read_wait_s)
    audit_table = SqlAuditLog(connector)
    audit_projector = AuditProjector(audit_table, log_reader(registry))
    audit_board = PositionBoard()
    audit_log = AuditLog(
        lambda flt, after, limit: audit_table.entries(AUDIT_PROJECTION, flt, after, limit),
        audit_board,
        settings.read_wait_s,
    )
    audit = AuditService(log_reader(registry), catalog_at)
    instance = instance_id(settings)
    proof = LogProof(StoreLogProof(registry), signing, instance)
    proof.anchor()
    archive = ArchiveService(
        StoreEventLog(registry),
        instance,
        on_imported=lambda: on_saved(registry.recorder.max_notification_id() or 0),  # followers everywhere
        keys=PassphraseKeyTransport(cipher),
        signer=signing,
        trusted=load_trusted_keys(settings),
        check=verify_signature,
        record=lambda envelope, tenant, what, fields: record_custody(registry, envelope, tenant, what, **fields),
    )
    runtime = Runtime(
        settings=settings,
        keys=keys,
        connector=connector,
        registry=registry,
        queries=queries,
        catalog=catalog,
        view=view,
        projector=projector,
        board=board,
        codec=codec,
        audit=audit,
        audit_log=audit_log,
        audit_projector=audit_projector,
        archive=archive,
        egress=EgressGuard(egress),
        health=health,
        tokens=BearerTokens(codec, external_tokens(settings, egress)),
        signing=signing,
        ring=ring,
        proof=proof,
    )
    if signal is not None:
        runtime.extras["log_signal"] = signal
        runtime.extras["redis_health"] = redis_health
        # admin UI sign-outs, seen by every worker
        runtime.extras["ui_signed_out"] = RedisSignedOut(settings.redis_url, redis_health)
    if follow:
        wakers = []
        if settings.database.kind == "postgres":
            channel = registry.recorder.channel_name  # type: ignore[attr-defined]
            wakers.append(postgres_waker(settings.database.conninfo(), channel, health))
        if signal is not None:
            wakers.append(signal.waker())
        poll_s = settings.poll_ms / 1000 if settings.poll_ms else (1.0 if wakers else 0.1)
        hot = HotCatalogs(log_reader(registry))
        hot.load(*view.load_all(projector.name))
        runtime.hot = hot
        runtime.follower = Follower(
            projector,
            board,
            poll_s=poll_s,
            wakers=wakers,
            tails=[hot.advance],
            after=[
                lambda: audit_board.publish(audit_projector.catch_up()),
                lambda: proof.checkpoint_if_due(board.current()),
            ],
        )
        local.append(runtime.follower)
        runtime.follower.start()
    return runtime


def upstream_service(runtime: Runtime) -> Any:
    """Registration and refresh of upstreams (connect and discover, then append) for callers outside the app,
    such as the command line; the app builds its own in its lifespan."""
    from ledgergate.application.upstream_service import UpstreamService
    from ledgergate.infrastructure.upstream.mcp_client import McpUpstreamConnector, UpstreamUnavailableError

    return UpstreamService(runtime.registry, McpUpstreamConnector(runtime.egress), (UpstreamUnavailableError,))
