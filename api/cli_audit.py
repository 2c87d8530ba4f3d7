"""``ledgergate audit``: who changed what, and the catalog at any point."""

from __future__ import annotations

import argparse
from typing import Any

from api.bootstrap import DEFAULT_TENANT
from api.cli_common import parse_point, print_result, with_runtime
from api.runtime import Runtime


def cmd_audit_log(args: argparse.Namespace) -> int:
    from application.audit import AuditFilter

    def action(runtime: Runtime) -> int:
        since = parse_point(args.since).time if args.since else None
        until = parse_point(args.until).time if args.until else None
        flt = AuditFilter(
            tenant_id=args.tenant,
            actor=args.actor,
            token_id=args.token_id,
            actor_tenant=args.actor_tenant,
            entity_id=args.entity,
            entity_kind=args.kind,
            event_type=args.type,
            since=since,
            until=until,
        )
        runtime.audit_projector.catch_up()  # the CLI has no follower: bring the audit log up to the log's head
        entries = runtime.audit_log.feed(flt, args.after, args.limit)

        def table(rows: list[dict[str, Any]]) -> None:
            print(f"{'position':>8}  {'time':32} {'actor':24} {'token':36} {'event':26} entity")
            for e in rows:
                who, what, token = e["actor"][:24], e["type"][:26], e.get("actor_token_id") or "-"
                print(f"{e['position']:>8}  {e['occurred_at']:32} {who:24} {token:36} {what:26} {e['stream_id']}")
            if len(rows) == args.limit:
                print(f"more: --after {rows[-1]['position']}")

        print_result(entries, args.json, table)
        return 0

    return with_runtime(args, action)


def _catalog_table(catalog: dict[str, Any]) -> None:
    print(f"catalog at position {catalog['position']}")
    for plural in ("tools", "resources", "prompts", "servers"):
        for item in catalog[plural]:
            state = "enabled" if item["enabled"] else "disabled"
            print(f"  {plural[:-1]:9} {item['name'][:40]:40} {state:9} v{item['version']} by {item['updated_by']}")


def cmd_audit_catalog(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        print_result(runtime.audit.catalog(args.tenant, parse_point(args.at), args.server), args.json, _catalog_table)
        return 0

    return with_runtime(args, action)


def cmd_audit_diff(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        diff = runtime.audit.diff(args.tenant, parse_point(args.start), parse_point(args.end), args.server)

        def table(d: dict[str, Any]) -> None:
            print(f"from position {d['from']} to {d['to']}")
            for sign, key in (("+", "added"), ("-", "removed")):
                for item in d[key]:
                    print(f"  {sign} {item['kind']:9} {item['name']}")
            for item in d["changed"]:
                print(f"  ~ {item['kind']:9} {item['name']}: {', '.join(sorted(item['fields']))}")

        print_result(diff, args.json, table)
        return 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="who changed what, and the catalog at any point").add_subparsers(
        dest="audit_command", required=True
    )
    log_cmd = audit.add_parser("log", help="events filtered by tenant, actor, token, entity, kind, type and time")
    for name in ("--tenant", "--actor", "--entity", "--type", "--since", "--until"):
        log_cmd.add_argument(name)
    log_cmd.add_argument("--token-id", help="only what this token wrote")
    log_cmd.add_argument("--actor-tenant", help="only what tokens of this tenant wrote")
    log_cmd.add_argument("--kind", help="tool, resource, prompt, server, upstream, tenant, token")
    log_cmd.add_argument("--after", type=int, default=0, help="the position to continue after (a cursor)")
    log_cmd.add_argument("--limit", type=int, default=200)
    log_cmd.add_argument("--json", action="store_true")
    log_cmd.set_defaults(func=cmd_audit_log)
    catalog = audit.add_parser("catalog", help="a tenant's catalog at a time or position")
    catalog.add_argument("--tenant", default=DEFAULT_TENANT)
    catalog.add_argument("--at", required=True)
    catalog.add_argument("--server")
    catalog.add_argument("--json", action="store_true")
    catalog.set_defaults(func=cmd_audit_catalog)
    diff = audit.add_parser("diff", help="what changed between two points")
    diff.add_argument("--tenant", default=DEFAULT_TENANT)
    diff.add_argument("--from", dest="start", required=True)
    diff.add_argument("--to", dest="end", required=True)
    diff.add_argument("--server")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(func=cmd_audit_diff)
