"""``ledgergate events``: export, verify and import the event log."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from api.cli_common import with_runtime
from api.runtime import Runtime


def _archive(runtime: Runtime) -> Any:
    from application.event_archive import ArchiveService
    from infrastructure.eventstore import StoreEventLog, instance_id

    return ArchiveService(StoreEventLog(runtime.registry), instance_id(runtime.settings))


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

    return with_runtime(args, action)


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

    return with_runtime(args, action)


def register(commands: Any) -> None:
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
