"""The ``ledgergate`` command: serve, migrate, token, projections."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from api import cli_audit, cli_contextforge, cli_events, cli_keys, cli_log, cli_tokens
from api.bootstrap import announce, first_start
from api.cli_common import settings_from, with_runtime
from api.runtime import Runtime, build_runtime, connect, migrate
from api.serve_checks import CannotServeError, check_before_serving
from application.errors import ApplicationError, StoreUnavailableError
from infrastructure.database_errors import UNREACHABLE_ERRORS, reason
from infrastructure.settings import SettingsError

__all__ = ["main"]


def cmd_serve(args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces

    settings = settings_from(args)
    check_before_serving(settings)  # before the first start: a refused start leaves nothing behind
    runtime = build_runtime(settings, follow=False)
    try:
        started = first_start(runtime)
    finally:
        runtime.close()
    if started.token is not None:
        print("Ledgergate first start: created tenant 'default' and a platform-admin token.")
    announce(started, sys.stdout)  # the token itself only to a terminal: container logs keep what is printed
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
    settings = settings_from(args)
    connector = connect(settings)
    try:
        applied = migrate(settings, connector)
    finally:
        connector.close()
    print("applied: " + ", ".join(applied) if applied else "nothing to apply; the schema is up to date")
    return 0


def _projections(runtime: Runtime) -> dict[str, Any]:
    """The durable projections by the name the CLI knows them by."""
    return {"catalog": runtime.projector, "audit": runtime.audit_projector}


def cmd_projections_status(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        head = runtime.registry.recorder.max_notification_id() or 0
        print(f"{'projection':10} {'tracking':12} {'position':>10} {'log head':>10} {'lag':>8}")
        for name, projector in _projections(runtime).items():
            position = runtime.view.position(projector.name)
            print(f"{name:10} {projector.name:12} {position:>10} {head:>10} {head - position:>8}")
        return 0

    return with_runtime(args, action)


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        for name, projector in _projections(runtime).items():
            if args.name in (None, name):
                position = projector.rebuild()
                print(f"rebuilt {name} ({projector.name}) up to position {position}")
        return 0

    return with_runtime(args, action)


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledgergate", description="Ledgergate, an event-sourced MCP gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway (granian)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(func=cmd_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    cli_tokens.register(commands)
    cli_events.register(commands)
    cli_contextforge.register(commands)
    cli_audit.register(commands)
    cli_keys.register(commands)
    cli_log.register(commands)

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
    rebuild = projections.add_parser("rebuild", help="rebuild projections from the log while serving goes on")
    rebuild.add_argument("name", nargs="?", choices=["catalog", "audit"], help="only this one (default: all)")
    rebuild.set_defaults(func=cmd_projections_rebuild)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"ledgergate: invalid setting: {exc}", file=sys.stderr)
        return 2
    except CannotServeError as exc:
        print(f"ledgergate: cannot serve: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailableError as exc:
        print(f"ledgergate: cannot reach the database: {reason(exc.__cause__ or exc)}", file=sys.stderr)
        return 1
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
