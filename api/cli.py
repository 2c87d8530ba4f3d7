"""The ``ledgergate`` command: serve, migrate, tokens, the registry, events, audit, projections, bridges.

Built on argparse; each group of commands registers itself from its own module (``api/cli_*.py``).
Errors are reported by ``api.cli_errors`` (one line, a documented exit code); docs/cli.md is the manual.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence

from api import cli_audit, cli_contextforge, cli_events, cli_keys, cli_log, cli_projections, cli_registry, cli_tokens
from api.bootstrap import announce, first_start
from api.cli_common import print_result, settings_from
from api.cli_errors import FAILED, CliError, run_reporting_errors
from api.runtime import build_runtime, connect, migrate
from api.serve_checks import CannotServeError, check_before_serving

__all__ = ["main"]


def cmd_serve(args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces

    settings = settings_from(args)
    try:
        check_before_serving(settings)  # before the first start: a refused start leaves nothing behind
    except CannotServeError as exc:
        raise CliError(f"cannot serve: {exc}", FAILED, "cannot-serve") from None
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
    with shared_metrics(settings.workers):
        Granian(
            "api.app:create_app",
            factory=True,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            workers=settings.workers,
            log_access=False,  # the gateway writes its own access log (LEDGERGATE_ACCESS_LOG)
        ).serve()
    return 0


@contextlib.contextmanager
def shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, a fresh directory for this run's metrics (prometheus_client multiprocess mode),
    so that whichever worker answers a scrape reports every worker's counters; removed when serving ends."""
    if workers < 2:
        yield
        return
    path = tempfile.mkdtemp(prefix="ledgergate-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    connector = connect(settings)
    try:
        applied = migrate(settings, connector)
    finally:
        connector.close()
    print_result(
        {"applied": applied},
        args.json,
        lambda r: print(
            "applied: " + ", ".join(r["applied"]) if r["applied"] else "nothing to apply; the schema is up to date"
        ),
    )
    return 0


def cmd_wrapper(args: argparse.Namespace) -> int:
    from api.bridges import run_stdio_to_http

    token = args.token or os.environ.get("LEDGERGATE_TOKEN")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_stdio_to_http(args.url, token))
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from api.bridges import run_http_to_stdio, run_stdio_to_http

    with contextlib.suppress(KeyboardInterrupt):
        if args.stdio:
            print(f"serving '{args.stdio}' on http://{args.host}:{args.port}/mcp", file=sys.stderr, flush=True)
            asyncio.run(run_http_to_stdio(args.stdio, args.host, args.port))
        else:
            asyncio.run(run_stdio_to_http(args.connect, args.token or os.environ.get("LEDGERGATE_TOKEN")))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledgergate",
        description="Ledgergate, an event-sourced MCP gateway and registry. Manual: docs/cli.md.",
        epilog="Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 invalid, 5 conflict, 6 forbidden, "
        "7 unavailable, 70 internal error (see docs/cli.md).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="on an error, show the traceback too")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway (granian)")
    serve.add_argument("--host", help="address to listen on (default: LEDGERGATE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: LEDGERGATE_PORT or 4444)")
    serve.add_argument("--workers", type=int, help="worker processes (default: LEDGERGATE_WORKERS or 1)")
    serve.set_defaults(func=cmd_serve)

    migrate_cmd = commands.add_parser("migrate", help="apply database migrations")
    migrate_cmd.add_argument("--json", action="store_true", help='print {"applied": [...]} as JSON')
    migrate_cmd.set_defaults(func=cmd_migrate)

    cli_tokens.register(commands)
    cli_events.register(commands)
    cli_contextforge.register(commands)
    cli_audit.register(commands)
    cli_registry.register(commands)
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
    translate.add_argument("--port", type=int, default=8000, help="port for --stdio to serve on (default: 8000)")
    translate.add_argument("--host", default="127.0.0.1", help="address for --stdio to serve on (default: 127.0.0.1)")
    translate.add_argument("--token", help="bearer token for --connect")
    translate.set_defaults(func=cmd_translate)

    cli_projections.register(commands)
    _everywhere(parser)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ledgergate")
    except PackageNotFoundError:
        return "unknown"


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += [child, *_subcommands(child)]
    return found


def _everywhere(parser: argparse.ArgumentParser) -> None:
    """``--debug`` after the subcommand too (``ledgergate events verify F --debug``), on every command."""
    for child in _subcommands(parser):
        if not any("--debug" in action.option_strings for action in child._actions):
            child.add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help="on an error, show the traceback too"
            )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_reporting_errors(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
