"""The ``ledgergate`` command: serve, migrate, tokens, the registry, events, audit, projections, bridges.

Built on argparse; each group of commands registers itself from its own module (``api/cli_*.py``).
Errors are reported by ``api.cli_errors`` (one line, a documented exit code); docs/cli.md is the manual.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from ledgergate.api.cli_errors import FAILED, USAGE, CliError, run_reporting_errors

__all__ = ["main"]

#: command groups -> (their module, their one-line help). A group's module, and with it the runtime, is
#: imported only when that group is run (or its help asked), so ``--help``, ``wrapper`` and ``translate``
#: start without loading the event store, the web framework or rich; tests/e2e/test_cli_startup.py checks the
#: help here is each module's own.
GROUPS: dict[str, tuple[str, str]] = {
    "token": ("ledgergate.api.cli_tokens", "manage API tokens"),
    "events": ("ledgergate.api.cli_events", "export, verify and import the event log"),
    "import": ("ledgergate.api.cli_contextforge", "import configuration from another gateway"),
    "audit": ("ledgergate.api.cli_audit", "who changed what, and the catalog at any point"),
    **{
        group: ("ledgergate.api.cli_registry", f"list, create, change and revert {group}")
        for group in ("tools", "resources", "prompts", "servers", "upstreams")
    },
    "tenants": ("ledgergate.api.cli_tenants", "list, create, rename, disable and delete tenants"),
    "keys": ("ledgergate.api.cli_keys", "signing key, master and tenant key rotation"),
    "log": ("ledgergate.api.cli_log", "prove the live log was not edited"),
}
LATE_GROUPS = {"projections": ("ledgergate.api.cli_projections", "inspect and rebuild the read models")}
ALL_GROUPS = {**GROUPS, **LATE_GROUPS}


def cmd_serve(args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces

    from ledgergate.api.bootstrap import announce, first_start
    from ledgergate.api.cli_common import settings_from
    from ledgergate.api.runtime import build_runtime
    from ledgergate.api.serve_checks import CannotServeError, check_before_serving

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
            "ledgergate.api.app:create_app",
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
    from ledgergate.api.cli_common import print_result, settings_from
    from ledgergate.api.runtime import connect, migrate

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
    from ledgergate.api.bridges import run_stdio_to_http

    token = args.token or os.environ.get("LEDGERGATE_TOKEN")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_stdio_to_http(args.url, token))
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from ledgergate.api.bridges import run_http_to_stdio, run_stdio_to_http

    with contextlib.suppress(KeyboardInterrupt):
        if args.stdio:
            print(f"serving '{args.stdio}' on http://{args.host}:{args.port}/mcp", file=sys.stderr, flush=True)
            asyncio.run(run_http_to_stdio(args.stdio, args.host, args.port))
        else:
            asyncio.run(run_stdio_to_http(args.connect, args.token or os.environ.get("LEDGERGATE_TOKEN")))
    return 0


class _Parser(argparse.ArgumentParser):
    """A usage error is one line and exit 2, like every other error; ``--help`` stays the full manual."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"ledgergate: error: {message} (see {self.prog} --help)\n")


def _groups(commands: Any, groups: dict[str, tuple[str, str]], chosen: str | None) -> None:
    """Each group's own parser when it is chosen (or all of them, ``chosen=None``); else its name and help."""
    registered: set[str] = set()
    wanted = None if chosen is None else ALL_GROUPS.get(chosen, ("", ""))[0]
    for group, (module, helptext) in groups.items():
        if wanted is not None and module != wanted:
            commands.add_parser(group, help=helptext, add_help=False)
        elif module not in registered:
            registered.add(module)
            importlib.import_module(module).register(commands)


def _parser(chosen: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
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

    _groups(commands, GROUPS, chosen)

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

    _groups(commands, LATE_GROUPS, chosen)
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


def _chosen(argv: Sequence[str]) -> str:
    """The command named on the line (options before it take no value); '' for none."""
    return next((arg for arg in argv if not arg.startswith("-")), "")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(_chosen(argv)).parse_args(argv)
    return run_reporting_errors(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
