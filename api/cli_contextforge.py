"""``ledgergate import contextforge FILE``: migrate a ContextForge configuration export into a tenant."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from api.bootstrap import DEFAULT_TENANT
from api.cli_common import print_result, with_runtime
from api.runtime import Runtime


def _read_plan(path: str) -> Any:
    from application.contextforge_plan import ExportFormatError, plan_contextforge_import

    try:
        with open(path, "rb") as handle:
            export = json.load(handle)
    except OSError as exc:
        raise ExportFormatError(f"cannot read it: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportFormatError(f"it is not JSON: {exc}") from None
    return plan_contextforge_import(export)


def _table(report: dict[str, Any]) -> None:
    export = report["export"]
    verb = "Would import" if report["dry_run"] else "Imported"
    print(f"{verb} into tenant {report['tenant']!r} from {export.get('source_gateway')} ({export.get('exported_at')})")
    print(f"\n{'status':13} {'kind':9} {'name':32} {'enabled':7} detail")
    for item in report["items"]:
        detail = item.get("reason") or item.get("id") or ""
        print(f"{item['status']:13} {item['kind']:9} {item['name'][:32]:32} {item['enabled']!s:7} {detail}")
        for note in item["notes"]:
            print(f"{'':13} {'':9} - {note}")
    if report["skipped"]:
        print("\nSkipped:")
        for skipped in report["skipped"]:
            print(f"  {skipped['source']:13} {skipped['name'][:32]:32} {skipped['reason']}")
    if report["secrets"]:
        print("\nSecrets that could not be read (not imported; set them before enabling the item):")
        for secret in report["secrets"]:
            print(f"  {secret['source']:13} {secret['name'][:32]:32} {secret['field']}: {secret['detail']}")
    counts = ", ".join(f"{count} {status}" for status, count in report["counts"].items() if count)
    print(f"\n{counts or 'nothing to import'}")


def cmd_import_contextforge(args: argparse.Namespace) -> int:
    from application.contextforge_import import import_contextforge
    from application.contextforge_plan import ExportFormatError

    try:
        plan = _read_plan(args.file)
    except ExportFormatError as exc:
        print(f"ledgergate: {args.file} is not a valid ContextForge export, nothing imported: {exc}", file=sys.stderr)
        return 2

    def action(runtime: Runtime) -> int:
        report = import_contextforge(runtime.registry, args.tenant, plan, dry_run=args.dry_run)
        print_result(report, args.json, _table)
        return 1 if report["counts"]["failed"] or report["counts"]["would fail"] else 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    importing = commands.add_parser("import", help="import configuration from another gateway").add_subparsers(
        dest="import_command", required=True
    )
    contextforge = importing.add_parser(
        "contextforge", help="create a ContextForge export's tools, gateways, servers, prompts and resources"
    )
    contextforge.add_argument("file", help="JSON from ContextForge's /export endpoint or `mcpgateway export`")
    contextforge.add_argument("--tenant", default=DEFAULT_TENANT)
    contextforge.add_argument("--dry-run", action="store_true", help="report what would be imported; write nothing")
    contextforge.add_argument("--json", action="store_true", help="print the report as JSON")
    contextforge.set_defaults(func=cmd_import_contextforge)
