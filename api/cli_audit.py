"""``ledgergate audit``: who changed what, and the catalog at any point."""

from __future__ import annotations

import argparse
from typing import Any

from ledgergate.api.bootstrap import DEFAULT_TENANT
from ledgergate.api.cli_common import print_result, require_tenant_in_log, with_runtime
from ledgergate.api.cli_output import table, when
from ledgergate.api.cli_time import point_argument, time_argument
from ledgergate.api.runtime import Runtime

POINT_HELP = "a log position, or a time: 2026-11-24T09:00:00Z, 2026-11-24, yesterday, 2h (ago)"


def cmd_audit_log(args: argparse.Namespace) -> int:
    from ledgergate.application.audit import AuditFilter

    def action(runtime: Runtime) -> int:
        if args.tenant is not None:
            require_tenant_in_log(runtime, args.tenant)
        flt = AuditFilter(
            tenant_id=args.tenant,
            actor=args.actor,
            token_id=args.token_id,
            actor_tenant=args.actor_tenant,
            entity_id=args.entity,
            entity_kind=args.kind,
            event_type=args.type,
            since=args.since,
            until=args.until,
        )
        runtime.audit_projector.catch_up()  # the CLI has no follower: bring the audit log up to the log's head
        entries = runtime.audit_log.feed(flt, args.after, args.limit)

        def show(rows: list[dict[str, Any]]) -> None:
            columns = [("position", "right"), "time", "tenant", "actor", "token id", "event", "kind", "id"]
            table(
                columns,
                [
                    (
                        e["position"],
                        when(e["occurred_at"]),
                        e["tenant_id"],
                        e["actor"],
                        e.get("actor_token_id"),
                        e["type"],
                        e["kind"],
                        e["stream_id"],
                    )
                    for e in rows
                ],
            )
            if len(rows) == args.limit:
                print(f"more: --after {rows[-1]['position']}")

        print_result(entries, args.json, show)
        return 0

    return with_runtime(args, action)


def _catalog_table(catalog: dict[str, Any]) -> None:
    rows = []
    for plural in ("tools", "resources", "prompts", "servers"):
        for item in catalog[plural]:
            state = "enabled" if item["enabled"] else "disabled"
            rows.append((plural[:-1], item["name"], state, f"v{item['version']}", item["updated_by"]))
    table(["kind", "name", "state", "version", "by"], rows, title=f"catalog at position {catalog['position']}")


def cmd_audit_catalog(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        require_tenant_in_log(runtime, args.tenant)
        print_result(runtime.audit.catalog(args.tenant, args.at, args.server), args.json, _catalog_table)
        return 0

    return with_runtime(args, action)


def cmd_audit_diff(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        require_tenant_in_log(runtime, args.tenant)
        diff = runtime.audit.diff(args.tenant, args.start, args.end, args.server)

        def show(d: dict[str, Any]) -> None:
            rows = [
                (sign, item["kind"], item["name"], "")
                for sign, key in (("+", "added"), ("-", "removed"))
                for item in d[key]
            ]
            rows += [("~", item["kind"], item["name"], ", ".join(sorted(item["fields"]))) for item in d["changed"]]
            table(["", "kind", "name", "changed fields"], rows, title=f"from position {d['from']} to {d['to']}")

        print_result(diff, args.json, show)
        return 0

    return with_runtime(args, action)


def _tenant(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", default=DEFAULT_TENANT, help=f"the tenant (default: {DEFAULT_TENANT})")


def _server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="only this virtual server's members (its id)")


def _json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON instead of a table")


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="who changed what, and the catalog at any point").add_subparsers(
        dest="audit_command", required=True, metavar="COMMAND"
    )
    log_cmd = audit.add_parser("log", help="events filtered by tenant, actor, token, entity, kind, type and time")
    log_cmd.add_argument("--tenant", help="only this tenant's events (default: every tenant)")
    log_cmd.add_argument("--actor", help="only what this actor wrote, e.g. acme:alice, cli:root, system:supervisor")
    log_cmd.add_argument("--token-id", help="only what this token wrote")
    log_cmd.add_argument("--actor-tenant", help="only what tokens of this tenant wrote")
    log_cmd.add_argument("--entity", help="only events of this entity (its id)")
    log_cmd.add_argument("--kind", help="tool, resource, prompt, server, upstream, tenant, token")
    log_cmd.add_argument("--type", help="only this event type, e.g. Disabled or Tool.Updated")
    log_cmd.add_argument("--since", type=time_argument, help="recorded at or after: 2026-11-24, yesterday, 2h, ...")
    log_cmd.add_argument("--until", type=time_argument, help="recorded at or before (same forms as --since)")
    log_cmd.add_argument("--after", type=int, default=0, help="the position to continue after (a cursor)")
    log_cmd.add_argument("--limit", type=int, default=200, help="at most this many entries (default: 200)")
    _json(log_cmd, "the entries")
    log_cmd.set_defaults(func=cmd_audit_log)
    catalog = audit.add_parser("catalog", help="a tenant's catalog at a time or position")
    _tenant(catalog)
    catalog.add_argument("--at", required=True, type=point_argument, help=POINT_HELP)
    _server(catalog)
    _json(catalog, "the catalog")
    catalog.set_defaults(func=cmd_audit_catalog)
    diff = audit.add_parser("diff", help="what changed between two points")
    _tenant(diff)
    diff.add_argument("--from", dest="start", required=True, type=point_argument, help=f"from: {POINT_HELP}")
    diff.add_argument("--to", dest="end", required=True, type=point_argument, help="to: the same forms as --from")
    _server(diff)
    _json(diff, "the differences")
    diff.set_defaults(func=cmd_audit_diff)
