"""``ledgergate import contextforge FILE``: migrate a ContextForge configuration export into a tenant."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledgergate.api.bootstrap import DEFAULT_TENANT
from ledgergate.api.cli_common import cli_actor, print_result, read_bytes, require_tenant, with_runtime
from ledgergate.api.cli_errors import FAILED, INVALID, CliError
from ledgergate.api.cli_output import progress, table
from ledgergate.api.runtime import Runtime


def _read_plan(path: str) -> Any:
    from ledgergate.application.contextforge_plan import ExportFormatError, plan_contextforge_import

    content = read_bytes(path)  # a missing file: one line, exit 3
    try:
        return plan_contextforge_import(json.loads(content))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(
            f"{path} is not a valid ContextForge export, nothing imported: it is not JSON: {exc}", INVALID
        ) from None
    except ExportFormatError as exc:
        raise CliError(f"{path} is not a valid ContextForge export, nothing imported: {exc}", INVALID) from None


def _table(report: dict[str, Any]) -> None:
    export = report["export"]
    verb = "Would import" if report["dry_run"] else "Imported"
    print(f"{verb} into tenant {report['tenant']!r} from {export.get('source_gateway')} ({export.get('exported_at')})")
    rows = []
    for item in report["items"]:
        detail = item.get("reason") or item.get("id") or ""
        rows.append((item["status"], item["kind"], item["name"], item["enabled"], "\n".join([detail, *item["notes"]])))
    table(["status", "kind", "name", "enabled", "detail"], rows)
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
    from ledgergate.application.contextforge_import import import_contextforge

    plan = _read_plan(args.file)

    def action(runtime: Runtime) -> int:
        require_tenant(runtime, args.tenant)
        verb = "checking" if args.dry_run else "importing"
        with progress(verb, total=len(plan.commands) or None, unit="items") as advance:
            report = import_contextforge(
                runtime.registry,
                args.tenant,
                plan,
                dry_run=args.dry_run,
                actor=cli_actor(),
                on_item=lambda _: advance(),
            )
        print_result(report, args.json, _table)
        return FAILED if report["counts"]["failed"] or report["counts"]["would fail"] else 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    importing = commands.add_parser("import", help="import configuration from another gateway").add_subparsers(
        dest="import_command", required=True, metavar="COMMAND"
    )
    contextforge = importing.add_parser(
        "contextforge", help="create a ContextForge export's tools, gateways, servers, prompts and resources"
    )
    contextforge.add_argument("file", help="JSON from ContextForge's /export endpoint or `mcpgateway export`")
    contextforge.add_argument(
        "--tenant", default=DEFAULT_TENANT, help=f"the tenant to import into (default: {DEFAULT_TENANT})"
    )
    contextforge.add_argument("--dry-run", action="store_true", help="report what would be imported; write nothing")
    contextforge.add_argument("--json", action="store_true", help="print the report as JSON")
    contextforge.set_defaults(func=cmd_import_contextforge)
