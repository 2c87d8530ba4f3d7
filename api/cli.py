"""The ``ledgergate`` command: serve, migrate, token, projections."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import msgspec

from api.bootstrap import DEFAULT_TENANT, first_start
from api.runtime import Runtime, build_runtime, connect, migrate
from application.errors import ApplicationError
from application.ports import ItemFilter
from domain.envelope import Envelope
from infrastructure.database_errors import UNREACHABLE_ERRORS
from infrastructure.settings import Settings, SettingsError, load_settings

__all__ = ["main"]

CLI_ACTOR = "cli"


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "LEDGERGATE_HOST": getattr(args, "host", None),
        "LEDGERGATE_PORT": getattr(args, "port", None),
        "LEDGERGATE_WORKERS": getattr(args, "workers", None),
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    return load_settings()


def cmd_serve(args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces

    settings = _settings(args)
    runtime = build_runtime(settings, follow=False)
    try:
        started = first_start(runtime)
    finally:
        runtime.close()
    if started.token is not None:
        print("Ledgergate first start: created tenant 'default' and a platform-admin token.")
        print(f"Token (shown once; also saved to {started.token_file}):\n\n{started.token}\n")
    elif started.token_file.exists():
        print(f"Admin token file: {started.token_file}")
    print(
        f"Serving on http://{settings.host}:{settings.port} ({settings.workers} worker(s), "
        f"{settings.database.kind}); API docs at /docs",
        flush=True,
    )
    Granian(
        "api.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        log_access=False,
    ).serve()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    connector = connect(settings)
    try:
        applied = migrate(settings, connector)
    finally:
        connector.close()
    print("applied: " + ", ".join(applied) if applied else "nothing to apply; the schema is up to date")
    return 0


def _with_runtime(args: argparse.Namespace, action: Any) -> int:
    runtime = build_runtime(_settings(args), follow=False)
    try:
        return int(action(runtime))
    finally:
        runtime.close()


def cmd_token_create(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        envelope = Envelope(args.tenant, CLI_ACTOR, "cli", "cli")
        ttl = timedelta(days=args.expires_days) if args.expires_days else None
        servers = args.server or None
        written, token = runtime.registry.issue_token(
            envelope, "platform-admin", args.name, args.subject or args.name, args.role, servers, ttl
        )
        print(f"token id: {written.id}\nposition: {written.position}\n\n{token}")
        return 0

    return _with_runtime(args, action)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        written = runtime.registry.revoke_token(Envelope(args.tenant, CLI_ACTOR, "cli", "cli"), args.token_id)
        print(f"revoked {written.id} at position {written.position}")
        return 0

    return _with_runtime(args, action)


def cmd_token_list(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        runtime.board.publish(runtime.projector.catch_up())
        cursor = None
        print(f"{'id':36}  {'name':24} {'role':14} {'revoked':7} expires_at")
        while True:
            items, cursor = runtime.queries.list(args.tenant, "token", ItemFilter(), cursor, 500)
            for item in items:
                print(
                    f"{item['id']:36}  {item['name'][:24]:24} {item['role']:14} {item['revoked']!s:7} "
                    f"{item['expires_at'] or '-'}"
                )
            if cursor is None:
                return 0

    return _with_runtime(args, action)


def cmd_projections_status(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        head = runtime.registry.recorder.max_notification_id() or 0
        position = runtime.view.position(runtime.projector.name)
        print(f"{'projection':16} {'position':>10} {'log head':>10} {'lag':>8}")
        print(f"{runtime.projector.name:16} {position:>10} {head:>10} {head - position:>8}")
        return 0

    return _with_runtime(args, action)


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        position = runtime.projector.rebuild()
        print(f"rebuilt {runtime.projector.name} up to position {position}")
        return 0

    return _with_runtime(args, action)


def cmd_wrapper(args: argparse.Namespace) -> int:
    from api.bridges import remote_client, run_stdio_proxy

    token = args.token or os.environ.get("LEDGERGATE_TOKEN")
    asyncio.run(run_stdio_proxy(remote_client(args.url, token), "ledgergate-wrapper"))
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from api.bridges import remote_client, run_http_proxy, run_stdio_proxy, stdio_client_for

    if args.stdio:
        print(f"serving '{args.stdio}' on http://{args.host}:{args.port}/mcp", file=sys.stderr, flush=True)
        asyncio.run(run_http_proxy(stdio_client_for(args.stdio), "ledgergate-translate", args.host, args.port))
    else:
        asyncio.run(run_stdio_proxy(remote_client(args.connect, args.token), "ledgergate-translate"))
    return 0


def _archive(runtime: Runtime) -> Any:
    from application.event_archive import ArchiveService
    from infrastructure.eventstore import StoreEventLog, instance_id

    return ArchiveService(StoreEventLog(runtime.registry), instance_id(runtime.settings))


def _audit(runtime: Runtime) -> Any:
    from application.audit import AuditService
    from infrastructure.eventstore import log_reader
    from projections.point_in_time import catalog_at

    return AuditService(log_reader(runtime.registry), catalog_at)


def _print(data: Any, as_json: bool, table: Any) -> None:
    if as_json:
        print(msgspec.json.encode(data).decode())
    else:
        table(data)


def cmd_events_export(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115 - closed below
        count = 0
        try:
            for line in _archive(runtime).export(args.tenant):
                out.write(line)
                count += 1
                if count % 10_000 == 0:
                    print(f"... {count - 1} events", file=sys.stderr, flush=True)
        finally:
            if args.output:
                out.close()
        print(f"exported {max(0, count - 2)} events", file=sys.stderr)
        return 0

    return _with_runtime(args, action)


def cmd_events_verify(args: argparse.Namespace) -> int:
    from application.event_archive import ArchiveError, verify_lines

    try:
        with open(args.file, "rb") as handle:
            header, records = verify_lines(handle)
    except ArchiveError as exc:
        print(f"ledgergate: {args.file} is NOT intact: {exc}", file=sys.stderr)
        return 1
    print(f"{args.file}: intact, {len(records)} events from {header.get('source')} ({header.get('exported_at')})")
    return 0


def cmd_events_import(args: argparse.Namespace) -> int:
    from application.event_archive import ArchiveError

    def action(runtime: Runtime) -> int:
        try:
            with open(args.file, "rb") as handle:
                report = _archive(runtime).import_lines(handle, args.dry_run)
        except ArchiveError as exc:
            print(f"ledgergate: {args.file} is not a valid export, nothing imported: {exc}", file=sys.stderr)
            return 1
        print(msgspec.json.encode(report).decode())
        return 1 if report["conflicts"] else 0

    return _with_runtime(args, action)


def cmd_audit_log(args: argparse.Namespace) -> int:
    from application.audit import AuditFilter

    def action(runtime: Runtime) -> int:
        since = _parse_point(args.since).time if args.since else None
        until = _parse_point(args.until).time if args.until else None
        flt = AuditFilter(
            tenant_id=args.tenant,
            actor=args.actor,
            entity_id=args.entity,
            event_type=args.type,
            since=since,
            until=until,
        )
        entries = _audit(runtime).feed(flt, 0, args.limit)

        def table(rows: list[dict[str, Any]]) -> None:
            print(f"{'position':>8}  {'time':32} {'actor':20} {'event':26} entity")
            for e in rows:
                who, what = e["actor"][:20], e["type"][:26]
                print(f"{e['position']:>8}  {e['occurred_at']:32} {who:20} {what:26} {e['stream_id']}")

        _print(entries, args.json, table)
        return 0

    return _with_runtime(args, action)


def _parse_point(value: str) -> Any:
    from application.audit import parse_point

    try:
        return parse_point(value)
    except ValueError as exc:
        raise SettingsError(f"{value!r} is neither a position nor an RFC 3339 time: {exc}") from None


def _catalog_table(catalog: dict[str, Any]) -> None:
    print(f"catalog at position {catalog['position']}")
    for plural in ("tools", "resources", "prompts", "servers"):
        for item in catalog[plural]:
            state = "enabled" if item["enabled"] else "disabled"
            print(f"  {plural[:-1]:9} {item['name'][:40]:40} {state:9} v{item['version']} by {item['updated_by']}")


def cmd_audit_catalog(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        _print(_audit(runtime).catalog(args.tenant, _parse_point(args.at), args.server), args.json, _catalog_table)
        return 0

    return _with_runtime(args, action)


def cmd_audit_diff(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        diff = _audit(runtime).diff(args.tenant, _parse_point(args.start), _parse_point(args.end), args.server)

        def table(d: dict[str, Any]) -> None:
            print(f"from position {d['from']} to {d['to']}")
            for sign, key in (("+", "added"), ("-", "removed")):
                for item in d[key]:
                    print(f"  {sign} {item['kind']:9} {item['name']}")
            for item in d["changed"]:
                print(f"  ~ {item['kind']:9} {item['name']}: {', '.join(sorted(item['fields']))}")

        _print(diff, args.json, table)
        return 0

    return _with_runtime(args, action)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledgergate", description="Ledgergate, an event-sourced MCP gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway (granian)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(func=cmd_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="issue a token and print it once")
    create.add_argument("--tenant", default=DEFAULT_TENANT)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["client", "viewer", "editor", "admin", "platform-admin"])
    create.add_argument("--subject")
    create.add_argument("--server", action="append", help="limit to this virtual server id (repeatable)")
    create.add_argument("--expires-days", type=int)
    create.set_defaults(func=cmd_token_create)
    revoke = token.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token_id")
    revoke.add_argument("--tenant", default=DEFAULT_TENANT)
    revoke.set_defaults(func=cmd_token_revoke)
    listing = token.add_parser("list", help="list a tenant's tokens")
    listing.add_argument("--tenant", default=DEFAULT_TENANT)
    listing.set_defaults(func=cmd_token_list)

    events = commands.add_parser("events", help="export, verify and import the event log").add_subparsers(
        dest="events_command", required=True
    )
    export = events.add_parser("export", help="hash-chained JSON Lines to a file or standard output")
    export.add_argument("--tenant")
    export.add_argument("-o", "--output")
    export.set_defaults(func=cmd_events_export)
    verify = events.add_parser("verify", help="check an export's format, hash chain and count")
    verify.add_argument("file")
    verify.set_defaults(func=cmd_events_verify)
    importing = events.add_parser("import", help="verify, then restore into an empty store or merge")
    importing.add_argument("file")
    importing.add_argument("--dry-run", action="store_true")
    importing.set_defaults(func=cmd_events_import)

    audit = commands.add_parser("audit", help="who changed what, and the catalog at any point").add_subparsers(
        dest="audit_command", required=True
    )
    log_cmd = audit.add_parser("log", help="events filtered by tenant, actor, entity, type and time")
    for name in ("--tenant", "--actor", "--entity", "--type", "--since", "--until"):
        log_cmd.add_argument(name)
    log_cmd.add_argument("--limit", type=int, default=200)
    log_cmd.add_argument("--json", action="store_true")
    log_cmd.set_defaults(func=cmd_audit_log)
    catalog = audit.add_parser("catalog", help="a tenant's catalog at a time or position")
    catalog.add_argument("--tenant", default=DEFAULT_TENANT)
    catalog.add_argument("--at", required=True)
    catalog.add_argument("--server")
    catalog.add_argument("--json", action="store_true")
    catalog.set_defaults(func=cmd_audit_catalog)
    diff = audit.add_parser("diff", help="what changed between two points")
    diff.add_argument("--tenant", default=DEFAULT_TENANT)
    diff.add_argument("--from", dest="start", required=True)
    diff.add_argument("--to", dest="end", required=True)
    diff.add_argument("--server")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(func=cmd_audit_diff)

    wrapper = commands.add_parser("wrapper", help="a stdio MCP server that forwards to a gateway endpoint")
    wrapper.add_argument("--url", required=True, help="e.g. http://127.0.0.1:4444/servers/<id>/mcp")
    wrapper.add_argument("--token", help="bearer token (or LEDGERGATE_TOKEN)")
    wrapper.set_defaults(func=cmd_wrapper)
    translate = commands.add_parser("translate", help="bridge stdio and streamable HTTP MCP servers")
    source = translate.add_mutually_exclusive_group(required=True)
    source.add_argument("--stdio", help="a command running a stdio MCP server, to serve over HTTP")
    source.add_argument("--connect", help="a streamable HTTP MCP URL, to serve over stdio")
    translate.add_argument("--port", type=int, default=8000)
    translate.add_argument("--host", default="127.0.0.1")
    translate.add_argument("--token", help="bearer token for --connect")
    translate.set_defaults(func=cmd_translate)

    projections = commands.add_parser("projections", help="inspect projections").add_subparsers(
        dest="projections_command", required=True
    )
    projections.add_parser("status", help="position and lag of each projection").set_defaults(
        func=cmd_projections_status
    )
    projections.add_parser("rebuild", help="rebuild the catalog from the log").set_defaults(
        func=cmd_projections_rebuild
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"ledgergate: invalid setting: {exc}", file=sys.stderr)
        return 2
    except ApplicationError as exc:
        print(f"ledgergate: {exc.detail}", file=sys.stderr)
        return 1
    except UNREACHABLE_ERRORS as exc:
        print(f"ledgergate: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
