"""``ledgergate events``: export, verify and import the event log (a tenant's data key only when asked).

Each prints a report: a sentence or a table, or JSON with ``--json``. An export written to standard
output keeps standard output for the events, so its report goes to standard error there.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from ledgergate.api.cli_common import print_result, require_tenant_in_log, with_runtime
from ledgergate.api.cli_errors import FAILED, INVALID, NOT_FOUND, USAGE, CliError
from ledgergate.api.cli_output import counting, progress, table
from ledgergate.api.cli_time import point_argument
from ledgergate.api.runtime import Runtime

PASSPHRASE_ENV = "LEDGERGATE_EXPORT_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


def passphrase_from(args: argparse.Namespace) -> str | None:
    """The passphrase from ``--passphrase-file`` (its first line) or the environment, if either is given."""
    if args.passphrase_file:
        try:
            text = Path(args.passphrase_file).read_text().splitlines()
        except OSError as exc:
            raise CliError(f"cannot read {args.passphrase_file}: {exc.strerror}", NOT_FOUND, "file-error") from None
        if not text or not text[0]:
            raise CliError(f"the passphrase file {args.passphrase_file} is empty", USAGE)
        return text[0]
    return os.environ.get(PASSPHRASE_ENV) or None


@contextmanager
def _opened(path: str) -> Iterator[tuple[BinaryIO, int]]:
    """The file (as typed: a missing one is one line, exit 3) and its size for the progress bar."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", NOT_FOUND, "file-error") from None
    with handle:
        yield handle, os.fstat(handle.fileno()).st_size


def cmd_events_export(args: argparse.Namespace) -> int:
    from ledgergate.application.archive_keys import KeyTransportError
    from ledgergate.application.archive_service import export_range

    passphrase = passphrase_from(args)

    def action(runtime: Runtime) -> int:
        if args.tenant is not None:
            require_tenant_in_log(runtime, args.tenant)
        try:
            lines = runtime.archive.export(
                args.tenant, with_keys=args.with_keys, passphrase=passphrase, **export_range(args.start, args.end)
            )
        except KeyTransportError as exc:
            raise CliError(f"nothing exported: {exc.detail}", INVALID, exc.problem) from None
        try:
            out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror or exc}", NOT_FOUND, "file-error") from None
        count = 0
        head = runtime.registry.recorder.max_notification_id() or 0
        try:
            with progress(
                "exporting", total=None if args.tenant or args.start or args.end else head + 2, unit="lines"
            ) as advance:
                for line in lines:
                    out.write(line)
                    count += 1
                    advance()
        finally:
            if args.output:
                out.close()
        report = {
            "events": max(0, count - 2),  # less the header and the footer
            "tenant": args.tenant,
            "with_keys": args.with_keys,
            "output": args.output,
        }
        _report(report, args, sys.stdout if args.output else sys.stderr)
        return 0

    return with_runtime(args, action)


def _report(report: dict[str, Any], args: argparse.Namespace, stream: Any) -> None:
    if args.json:
        print(msgspec.json.encode(report).decode(), file=stream)
        return
    keys = " with the tenant's data key" if report["with_keys"] else ""
    where = f" to {report['output']}" if report["output"] else ""
    print(f"exported {report['events']} events{keys}{where}", file=stream)


def _trusted(args: argparse.Namespace) -> dict[str, str] | None:
    """The keys a file must be signed by: ``--key`` (repeatable) and ``--trusted-keys`` FILE."""
    from ledgergate.api.cli_common import PublicKeyError, key_id_of, parse_public_key, read_trusted_keys

    if not args.key and not args.trusted_keys:
        return None
    try:
        trusted = read_trusted_keys(Path(args.trusted_keys)) if args.trusted_keys else {}
        for text in args.key or []:
            key = parse_public_key(text)
            trusted[key_id_of(key)] = key
    except (OSError, PublicKeyError) as exc:
        raise CliError(f"trusted keys: {exc}", INVALID, "invalid-keys") from None
    return trusted


PROVED = {
    "verified": "signed by {key}, a trusted key: written by that instance and not altered since",
    "consistent": "signed by {key}, not checked against a trusted key (give --key): the chain is intact, but "
    "whoever rewrote the file could have signed it with a key of their own",
    "unsigned": "unsigned (format version {version}): the chain is intact, but nothing proves who wrote it, and "
    "an edited file with a recomputed chain would look the same",
}


def cmd_events_verify(args: argparse.Namespace) -> int:
    from ledgergate.api.cli_common import verify_signature
    from ledgergate.application.event_archive import ArchiveError, verified_reader

    trusted = _trusted(args)
    with _opened(args.file) as (handle, size), progress("verifying", total=size, unit="bytes") as advance:
        try:
            reader = verified_reader(counting(handle, advance), trusted, verify_signature, check_links=True)
        except ArchiveError as exc:
            raise CliError(f"{args.file} is NOT intact: {exc}", FAILED, "not-intact", line=exc.line) from None
    header, count = reader.header, reader.count
    signing = header.get("signing") or {}
    report = {
        "file": args.file,
        "intact": True,
        "events": count,
        "source": header.get("source"),
        "exported_at": header.get("exported_at"),
        "filters": header.get("filters"),
        "keys": sorted(header.get("keys") or {}),
        "signature": reader.signature,
        "signing_key": signing.get("key_id"),
        "proved": PROVED[reader.signature].format(key=signing.get("key_id"), version=header.get("version")),
        "links_checked": reader.links_checked,
    }

    def show(r: dict[str, Any]) -> None:
        carried = f", carries the data key of {', '.join(r['keys'])}" if r["keys"] else ""
        print(f"{r['file']}: intact, {r['events']} events from {r['source']} ({r['exported_at']}){carried}")
        print(r["proved"])
        if r["links_checked"]:
            print(f"its live links agree with their events and with each other ({r['links_checked']} recomputed)")

    print_result(report, args.json, show)
    return 0


def _import_table(report: dict[str, Any]) -> None:
    verb = "would import" if report["dry_run"] else "imported"
    print(f"{report['mode']}: {verb} {report['imported']} events, skipped {report['skipped']} already present")
    if report["positions"]:
        print(f"at positions {report['positions'][0]} to {report['positions'][1]}")
    rows = [(t, c["imported"], c["skipped"], c["secrets"]) for t, c in report["tenants"].items()]
    table(["tenant", ("imported", "right"), ("skipped", "right"), "secrets"], rows)
    if report["conflicts"]:
        print(f"{len(report['conflicts'])} conflict(s); nothing was imported:")
        table(
            ["stream", ("version", "right"), "type", "tenant", ("source position", "right")],
            [
                (c["stream_id"], c["version"], c["type"], c["tenant_id"], c["source_position"])
                for c in report["conflicts"]
            ],
        )


def cmd_events_import(args: argparse.Namespace) -> int:
    from ledgergate.application.archive_keys import KeyTransportError
    from ledgergate.application.event_archive import ArchiveError

    passphrase = passphrase_from(args)

    def action(runtime: Runtime) -> int:
        with _opened(args.file) as (handle, size), progress("importing", total=size, unit="bytes") as advance:
            try:
                report = runtime.archive.import_lines(counting(handle, advance), args.dry_run, passphrase)
            except ArchiveError as exc:
                raise CliError(
                    f"{args.file} is not a valid export, nothing imported: {exc}", INVALID, "invalid-export"
                ) from None
            except KeyTransportError as exc:
                raise CliError(f"nothing imported: {exc.detail}", INVALID, exc.problem) from None
        print_result(report, args.json, _import_table)
        return FAILED if report["conflicts"] else 0

    return with_runtime(args, action)


def _passphrase_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-file", help=f"file whose first line wraps/unwraps the tenant's data key (or ${PASSPHRASE_ENV})"
    )


def register(commands: Any) -> None:
    events = commands.add_parser("events", help="export, verify and import the event log").add_subparsers(
        dest="events_command", required=True, metavar="COMMAND"
    )
    export = events.add_parser("export", help="hash-chained JSON Lines to a file or standard output")
    export.add_argument("--tenant", help="only this tenant's events (default: the whole instance)")
    export.add_argument("-o", "--output", help="the file to write (default: standard output)")
    point = "position or time (2026-11-24T09:00:00Z, 2026-11-24, yesterday, 2h)"
    export.add_argument("--from", dest="start", type=point_argument, help=f"first {point} to export (inclusive)")
    export.add_argument("--to", dest="end", type=point_argument, help=f"last {point} to export (inclusive)")
    export.add_argument(
        "--with-keys", action="store_true", help="carry the tenant's data key, wrapped with the passphrase"
    )
    _passphrase_option(export)
    export.add_argument("--json", action="store_true", help="print the report (count, tenant, file) as JSON")
    export.set_defaults(func=cmd_events_export)
    verify = events.add_parser("verify", help="check an export's format, hash chain, count and signature")
    verify.add_argument("file", help="the export to check")
    verify.add_argument(
        "--key", action="append", help="a trusted public key (ed25519:...), from `keys show`; repeatable"
    )
    verify.add_argument("--trusted-keys", help="a file of trusted public keys, one a line")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_events_verify)
    importing = events.add_parser("import", help="verify, then restore into an empty store or merge (one transaction)")
    importing.add_argument("file", help="an export written by `events export` or GET /v1/events/export")
    importing.add_argument("--dry-run", action="store_true", help="report what would be imported; write nothing")
    _passphrase_option(importing)
    importing.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    importing.set_defaults(func=cmd_events_import)
