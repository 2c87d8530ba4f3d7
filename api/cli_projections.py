"""``ledgergate projections``: where each durable projection stands, and rebuilding them from the log."""

from __future__ import annotations

import argparse
from typing import Any

from ledgergate.api.cli_common import print_result, with_runtime
from ledgergate.api.cli_output import progress, table
from ledgergate.api.runtime import Runtime

__all__ = ["register"]


def _projections(runtime: Runtime) -> dict[str, Any]:
    """The durable projections by the name the CLI knows them by."""
    return {"catalog": runtime.projector, "audit": runtime.audit_projector}


def _head(runtime: Runtime) -> int:
    return runtime.registry.recorder.max_notification_id() or 0


def cmd_status(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        head = _head(runtime)
        rows = []
        for name, projector in _projections(runtime).items():
            position = runtime.view.position(projector.name)
            rows.append({"projection": name, "tracking": projector.name, "position": position, "head": head})
        report = [{**row, "lag": row["head"] - row["position"]} for row in rows]

        def show(entries: list[dict[str, Any]]) -> None:
            columns = ["projection", "tracking", ("position", "right"), ("log head", "right"), ("lag", "right")]
            table(columns, [(e["projection"], e["tracking"], e["position"], e["head"], e["lag"]) for e in entries])

        print_result(report, args.json, show)
        return 0

    return with_runtime(args, action)


def cmd_rebuild(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        head = _head(runtime)
        report = []
        for name, projector in _projections(runtime).items():
            if args.name not in (None, name):
                continue
            with progress(f"rebuilding {name}", total=head or None, unit="events") as advance:
                reached = [0]

                def moved(position: int, reached: list[int] = reached, advance: Any = advance) -> None:
                    advance(position - reached[0])
                    reached[0] = position

                position = projector.rebuild(on_progress=moved)
            report.append({"projection": name, "tracking": projector.name, "position": position})
            if not args.json:
                print(f"rebuilt {name} ({projector.name}) up to position {position}")
        if args.json:
            print_result(report, True, None)
        return 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    projections = commands.add_parser(
        "projections", help="inspect and rebuild the read models", description="Inspect and rebuild the read models."
    ).add_subparsers(dest="projections_command", required=True, metavar="COMMAND")
    status = projections.add_parser("status", help="position and lag of each projection")
    status.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    status.set_defaults(func=cmd_status)
    rebuild = projections.add_parser("rebuild", help="rebuild projections from the log while serving goes on")
    rebuild.add_argument("name", nargs="?", choices=["catalog", "audit"], help="only this one (default: all)")
    rebuild.add_argument("--json", action="store_true", help="print what was rebuilt as a JSON array")
    rebuild.set_defaults(func=cmd_rebuild)
