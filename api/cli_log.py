"""``ledgergate log``: verify the live log's hash chain against the signed checkpoints, write a checkpoint.

Each prints a sentence, or with ``--json`` the report as one JSON object. An altered log, or an export
whose events are not this log's, is exit 1 with one line naming the first position that differs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from ledgergate.api.cli_common import print_result, with_runtime
from ledgergate.api.cli_errors import FAILED, INVALID, NOT_FOUND, USAGE, CliError
from ledgergate.api.runtime import Runtime

JSON_HELP = "print the report as one JSON object"


def _export_lines(path: str) -> list[dict[str, Any]]:
    """The chained event lines of an export, after checking the file itself is intact. Raises: CliError."""
    from ledgergate.application.event_archive import ArchiveError, verified_reader

    try:
        with open(path, "rb") as handle:
            verified_reader(handle)  # the file itself must be intact first
        with open(path, "rb") as handle:
            decoded = [msgspec.json.decode(line) for line in handle if line.strip()]
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", NOT_FOUND, "file-error") from None
    except ArchiveError as exc:
        raise CliError(f"{path} is NOT intact: {exc}", FAILED, "not-intact", line=exc.line) from None
    lines = [line for line in decoded[1:-1] if "link" in line]
    if not lines:
        raise CliError(
            f"{path} carries no links of the live log (exported before the log was chained), nothing to compare",
            INVALID,
            "invalid-export",
        )
    return lines


def _checkpoint(checkpoint: Any) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    return {
        "position": checkpoint.position,
        "link": checkpoint.link.hex(),
        "time": checkpoint.time,
        "key_id": checkpoint.key_id,
    }


def _show_verified(report: dict[str, Any]) -> None:
    for note in report["notes"]:
        print(note, file=sys.stderr)
    last = report["last_checkpoint"]
    covered = f", last checkpoint at position {last['position']} ({last['time']})" if last else ", no checkpoint yet"
    print(
        f"intact: verified from position {report['from']} to {report['to']} "
        f"({report['events']} events, {report['checkpoints']} checkpoints{covered})"
    )
    if report["export"] is not None:
        count = report["export_events"]
        print(f"{report['export']}: its {count} chained events are the ones in this log at their positions")


def cmd_log_verify(args: argparse.Namespace) -> int:
    if args.start is not None and args.start < 0:
        raise CliError(f"--from {args.start}: a log position is 0 or more", USAGE)

    def action(runtime: Runtime) -> int:
        assert runtime.proof is not None
        verdict = runtime.proof.verify(args.start)
        last = verdict.last_checkpoint
        notes = list(verdict.notes)
        if verdict.finding is not None:
            finding = verdict.finding
            if not args.json:
                for note in notes:
                    print(note, file=sys.stderr)
            raise CliError(
                f"the log was altered: {finding.describe()}",
                FAILED,
                "log-altered",
                position=finding.position,
                what=finding.what,
                contradicts=_checkpoint(finding.contradicts),
            )
        if last is not None and verdict.last_position > last.position:
            notes.append(f"events after position {last.position} are chained but not yet checkpointed")
        report: dict[str, Any] = {
            "intact": True,
            "from": verdict.start + 1,
            "to": verdict.last_position,
            "events": verdict.checked,
            "checkpoints": verdict.checkpoints,
            "last_checkpoint": _checkpoint(last),
            "notes": notes,
            "export": None,
            "export_events": None,
        }
        if args.export:
            lines = _export_lines(args.export)
            differing = runtime.proof.compare_export(lines)
            if differing:
                raise CliError(
                    f"{args.export}: {len(differing)} events differ from this log, first at source position "
                    f"{differing[0]}",
                    FAILED,
                    "export-differs",
                    position=differing[0],
                    differing=len(differing),
                )
            report["export"], report["export_events"] = args.export, len(lines)
        print_result(report, args.json, _show_verified)
        return 0

    return with_runtime(args, action)


def cmd_log_checkpoint(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        assert runtime.proof is not None
        checkpoint = _checkpoint(runtime.proof.checkpoint())

        def show(r: dict[str, Any]) -> None:
            c = r["checkpoint"]
            if c is None:
                print("nothing appended since the last checkpoint")
            else:
                print(f"checkpoint at position {c['position']}, link {c['link']}, {c['time']}")

        print_result({"checkpoint": checkpoint}, args.json, show)
        return 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    log = commands.add_parser("log", help="prove the live log was not edited").add_subparsers(
        dest="log_command", required=True
    )
    verify = log.add_parser("verify", help="walk the hash chain and check it against the signed checkpoints")
    verify.add_argument(
        "--from",
        dest="start",
        type=int,
        metavar="POSITION",
        help="start at the last checkpoint at or before POSITION (default: the first checkpoint)",
    )
    verify.add_argument(
        "--export", metavar="FILE", help="also check that an export's events are this log's, link by link"
    )
    verify.add_argument("--json", action="store_true", help=JSON_HELP + " (an alteration: problem details, exit 1)")
    verify.set_defaults(func=cmd_log_verify)
    checkpoint = log.add_parser("checkpoint", help="sign the chain's head now")
    checkpoint.add_argument("--json", action="store_true", help=JSON_HELP + ' ({"checkpoint": null} if nothing new)')
    checkpoint.set_defaults(func=cmd_log_checkpoint)
