"""``ledgergate events``: export, verify and import the event log (a tenant's data key only when asked)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from api.cli_common import parse_point, with_runtime
from api.runtime import Runtime
from infrastructure.settings import SettingsError

PASSPHRASE_ENV = "LEDGERGATE_EXPORT_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


def passphrase_from(args: argparse.Namespace) -> str | None:
    """The passphrase from ``--passphrase-file`` (its first line) or the environment, if either is given."""
    if args.passphrase_file:
        try:
            text = Path(args.passphrase_file).read_text().splitlines()
        except OSError as exc:
            raise SettingsError(f"cannot read the passphrase file: {exc.strerror}") from None
        if not text or not text[0]:
            raise SettingsError(f"the passphrase file {args.passphrase_file} is empty")
        return text[0]
    return os.environ.get(PASSPHRASE_ENV) or None


def cmd_events_export(args: argparse.Namespace) -> int:
    from application.archive_keys import KeyTransportError
    from application.archive_service import export_range

    passphrase = passphrase_from(args)

    def action(runtime: Runtime) -> int:
        try:
            lines = runtime.archive.export(
                args.tenant,
                with_keys=args.with_keys,
                passphrase=passphrase,
                **export_range(
                    parse_point(args.start) if args.start else None, parse_point(args.end) if args.end else None
                ),
            )
        except KeyTransportError as exc:
            print(f"ledgergate: nothing exported: {exc}", file=sys.stderr)
            return 1
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115 - closed below
        count = 0
        try:
            for line in lines:
                out.write(line)
                count += 1
                if count % 100_000 == 0:
                    print(f"... {count - 1} events", file=sys.stderr, flush=True)
        finally:
            if args.output:
                out.close()
        keys = " with the tenant's data key" if args.with_keys else ""
        print(f"exported {max(0, count - 2)} events{keys}", file=sys.stderr)
        return 0

    return with_runtime(args, action)


def _trusted(args: argparse.Namespace) -> dict[str, str] | None:
    """The keys a file must be signed by: ``--key`` (repeatable) and ``--trusted-keys`` FILE."""
    from infrastructure.crypto.signing import PublicKeyError, key_id_of, parse_public_key, read_trusted_keys

    if not args.key and not args.trusted_keys:
        return None
    try:
        trusted = read_trusted_keys(Path(args.trusted_keys)) if args.trusted_keys else {}
        for text in args.key or []:
            key = parse_public_key(text)
            trusted[key_id_of(key)] = key
    except (OSError, PublicKeyError) as exc:
        raise SettingsError(f"trusted keys: {exc}") from None
    return trusted


PROVED = {
    "verified": "signed by {key}, a trusted key: written by that instance and not altered since",
    "consistent": "signed by {key}, not checked against a trusted key (give --key): the chain is intact, but "
    "whoever rewrote the file could have signed it with a key of their own",
    "unsigned": "unsigned (format version {version}): the chain is intact, but nothing proves who wrote it, and "
    "an edited file with a recomputed chain would look the same",
}


def cmd_events_verify(args: argparse.Namespace) -> int:
    from application.event_archive import ArchiveError, verified_reader
    from infrastructure.crypto.signing import verify_signature

    trusted = _trusted(args)
    try:
        with open(args.file, "rb") as handle:
            reader = verified_reader(handle, trusted, verify_signature)
    except ArchiveError as exc:
        print(f"ledgergate: {args.file} is NOT intact: {exc}", file=sys.stderr)
        return 1
    header, count = reader.header, reader.count
    keys = sorted(header.get("keys") or {})
    carried = f", carries the data key of {', '.join(keys)}" if keys else ""
    print(f"{args.file}: intact, {count} events from {header.get('source')} ({header.get('exported_at')}){carried}")
    signing = header.get("signing") or {}
    print(PROVED[reader.signature].format(key=signing.get("key_id"), version=header.get("version")))
    return 0


def cmd_events_import(args: argparse.Namespace) -> int:
    from application.archive_keys import KeyTransportError
    from application.event_archive import ArchiveError

    passphrase = passphrase_from(args)

    def action(runtime: Runtime) -> int:
        try:
            with open(args.file, "rb") as handle:
                report = runtime.archive.import_lines(handle, args.dry_run, passphrase)
        except ArchiveError as exc:
            print(f"ledgergate: {args.file} is not a valid export, nothing imported: {exc}", file=sys.stderr)
            return 1
        except KeyTransportError as exc:
            print(f"ledgergate: nothing imported: {exc}", file=sys.stderr)
            return 1
        print(msgspec.json.encode(report).decode())
        return 1 if report["conflicts"] else 0

    return with_runtime(args, action)


def _passphrase_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-file", help=f"file whose first line wraps/unwraps the tenant's data key (or ${PASSPHRASE_ENV})"
    )


def register(commands: Any) -> None:
    events = commands.add_parser("events", help="export, verify and import the event log").add_subparsers(
        dest="events_command", required=True
    )
    export = events.add_parser("export", help="hash-chained JSON Lines to a file or standard output")
    export.add_argument("--tenant")
    export.add_argument("-o", "--output")
    export.add_argument("--from", dest="start", help="first position or RFC 3339 time to export (inclusive)")
    export.add_argument("--to", dest="end", help="last position or RFC 3339 time to export (inclusive)")
    export.add_argument(
        "--with-keys", action="store_true", help="carry the tenant's data key, wrapped with the passphrase"
    )
    _passphrase_option(export)
    export.set_defaults(func=cmd_events_export)
    verify = events.add_parser("verify", help="check an export's format, hash chain, count and signature")
    verify.add_argument("file")
    verify.add_argument("--key", action="append", help="a trusted public key (ed25519:...), from `keys show`")
    verify.add_argument("--trusted-keys", help="a file of trusted public keys, one a line")
    verify.set_defaults(func=cmd_events_verify)
    importing = events.add_parser("import", help="verify, then restore into an empty store or merge (one transaction)")
    importing.add_argument("file")
    importing.add_argument("--dry-run", action="store_true")
    _passphrase_option(importing)
    importing.set_defaults(func=cmd_events_import)
