"""``ledgergate log``: verify the live log's hash chain against the signed checkpoints, write a checkpoint."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from api.cli_common import with_runtime
from api.runtime import Runtime


def _export_lines(path: str) -> list[dict[str, Any]]:
    from application.event_archive import verified_reader

    with open(path, "rb") as handle:
        verified_reader(handle)  # the file itself must be intact first
    with open(path, "rb") as handle:
        decoded = [msgspec.json.decode(line) for line in handle if line.strip()]
    return [line for line in decoded[1:-1] if "link" in line]


def cmd_log_verify(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        assert runtime.proof is not None
        verdict = runtime.proof.verify(args.start)
        for note in verdict.notes:
            print(note, file=sys.stderr)
        if verdict.finding is not None:
            print(f"ledgergate: the log was altered: {verdict.finding.describe()}", file=sys.stderr)
            return 1
        last = verdict.last_checkpoint
        covered = f", last checkpoint at position {last.position} ({last.time})" if last else ", no checkpoint yet"
        print(
            f"intact: verified from position {verdict.start + 1} to {verdict.last_position} "
            f"({verdict.checked} events, {verdict.checkpoints} checkpoints{covered})"
        )
        if last is not None and verdict.last_position > last.position:
            print(f"events after position {last.position} are chained but not yet checkpointed", file=sys.stderr)
        if args.export:
            lines = _export_lines(args.export)
            differing = runtime.proof.compare_export(lines)
            if differing:
                print(
                    f"ledgergate: {args.export}: {len(differing)} events differ from this log, first at source "
                    f"position {differing[0]}",
                    file=sys.stderr,
                )
                return 1
            print(f"{args.export}: its {len(lines)} chained events are the ones in this log at their positions")
        return 0

    return with_runtime(args, action)


def cmd_log_checkpoint(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        assert runtime.proof is not None
        checkpoint = runtime.proof.checkpoint()
        if checkpoint is None:
            print("nothing appended since the last checkpoint")
        else:
            print(f"checkpoint at position {checkpoint.position}, link {checkpoint.link.hex()}, {checkpoint.time}")
        return 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    log = commands.add_parser("log", help="prove the live log was not edited").add_subparsers(
        dest="log_command", required=True
    )
    verify = log.add_parser("verify", help="walk the hash chain and check it against the signed checkpoints")
    verify.add_argument("--from", dest="start", type=int, help="start at the last checkpoint at or before POSITION")
    verify.add_argument("--export", help="also check that an export's events are this log's, link by link")
    verify.set_defaults(func=cmd_log_verify)
    log.add_parser("checkpoint", help="sign the chain's head now").set_defaults(func=cmd_log_checkpoint)
