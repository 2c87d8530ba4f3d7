"""``ledgergate tenants list|get|create|rename|disable|enable|delete``: tenants from a shell, without curl.

The same use cases as ``/v1/tenants`` (``Registry.create_tenant`` and ``change_tenant``, the catalog
queries), recorded as the REST API records them (envelope tenant ``_platform``) with actor
``cli:<login name>``. A tenant is named by its slug; its slug never changes, so ``rename`` sets the
display name (and, with ``--description``, the description), as ``PATCH /v1/tenants/{tenant}`` does.
"""

from __future__ import annotations

import argparse
from typing import Any

from ledgergate.api.cli_common import cli_envelope, print_result, with_runtime
from ledgergate.api.cli_output import print_json, table
from ledgergate.api.runtime import Runtime
from ledgergate.application.errors import NotFoundError
from ledgergate.application.ports import ItemFilter
from ledgergate.application.queries import MAX_PAGE
from ledgergate.application.registry import PLATFORM_TENANT, Written

__all__ = ["register"]

WRITTEN = "the id, version and position"


def _catch_up(runtime: Runtime) -> None:
    runtime.board.publish(runtime.projector.catch_up())  # the command line has no follower


def _named(slug: str, action: Any) -> Any:
    """Run ``action``; a missing tenant is named as typed, never by its derived id."""
    try:
        return action()
    except NotFoundError:
        raise NotFoundError(f"no tenant {slug!r}") from None


def _written(args: argparse.Namespace, verb: str, result: Written, **extra: Any) -> int:
    answer = {"id": result.id, "version": result.version, "position": result.position, **extra}
    if args.json:
        print_json(answer)
    else:
        print(f"{verb} tenant {args.slug}: version {result.version}, position {result.position}")
    return 0


def cmd_list(args: argparse.Namespace, runtime: Runtime) -> int:
    _catch_up(runtime)
    enabled = True if args.enabled else False if args.disabled else None
    flt = ItemFilter(enabled=enabled, name_prefix=args.name_prefix)
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        items, cursor = runtime.queries.list(None, "tenant", flt, cursor, MAX_PAGE)
        found += items
        if cursor is None:
            break

    def show(rows: list[dict[str, Any]]) -> None:
        cells = [
            (r["name"], r.get("display_name"), "yes" if r["enabled"] else "no", r["version"], r["id"]) for r in rows
        ]
        table(["name", "display name", "enabled", ("version", "right"), "id"], cells)

    print_result(found, args.json, show)
    return 0


def cmd_get(args: argparse.Namespace, runtime: Runtime) -> int:
    _catch_up(runtime)
    tenant = _named(args.slug, lambda: runtime.queries.get_tenant(args.slug))

    def show(item: dict[str, Any]) -> None:
        table(["field", "value"], [(key, "-" if value is None else str(value)) for key, value in item.items()])

    print_result(tenant, args.json, show)
    return 0


def cmd_create(args: argparse.Namespace, runtime: Runtime) -> int:
    fields = {"name": args.slug, "display_name": args.display_name, "description": args.description}
    envelope = cli_envelope(PLATFORM_TENANT, "tenants create")
    return _written(args, "created", runtime.registry.create_tenant(envelope, fields))


def _change(args: argparse.Namespace, runtime: Runtime, action: str, fields: dict[str, Any] | None = None) -> Written:
    envelope = cli_envelope(PLATFORM_TENANT, f"tenants {args.tenants_command}")
    shred = bool(getattr(args, "shred", False))
    registry = runtime.registry
    return _named(  # type: ignore[no-any-return]
        args.slug, lambda: registry.change_tenant(envelope, args.slug, action, fields, args.if_version, shred)
    )


def cmd_rename(args: argparse.Namespace, runtime: Runtime) -> int:
    fields: dict[str, Any] = {"display_name": args.display_name or None}
    if args.description is not None:
        fields["description"] = args.description or None
    return _written(args, "renamed", _change(args, runtime, "update", fields))


def _lifecycle(action: str, verb: str) -> Any:
    def command(args: argparse.Namespace, runtime: Runtime) -> int:
        result = _change(args, runtime, action)
        shredded = {"shredded": True} if getattr(args, "shred", False) else {}
        return _written(args, verb + (" and shredded" if shredded else ""), result, **shredded)

    return command


def _run(command: Any) -> Any:
    def func(args: argparse.Namespace) -> int:
        return with_runtime(args, lambda runtime: command(args, runtime))

    return func


def _add(sub: Any, name: str, command: Any, helptext: str, what: str, slug: bool = True) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=helptext, description=helptext[0].upper() + helptext[1:] + "."
    )
    if slug:
        parser.add_argument("slug", metavar="TENANT", help="the tenant's name (its slug, e.g. acme)")
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON (the REST API's answer)")
    parser.set_defaults(func=_run(command))
    return parser


def _if_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--if-version", type=int, help="only if the tenant is still at this version (else exit 5, nothing written)"
    )


def register(commands: Any) -> None:
    sub = commands.add_parser("tenants", help="list, create, rename, disable and delete tenants").add_subparsers(
        dest="tenants_command", required=True, metavar="COMMAND"
    )
    listing = _add(sub, "list", cmd_list, "list the tenants", "a JSON array", slug=False)
    state = listing.add_mutually_exclusive_group()
    state.add_argument("--enabled", action="store_true", help="only enabled ones")
    state.add_argument("--disabled", action="store_true", help="only disabled ones")
    listing.add_argument("--name-prefix", help="only those whose name starts with this")
    _add(sub, "get", cmd_get, "show a tenant", "the tenant")
    create = _add(sub, "create", cmd_create, "create a tenant (and its data key)", WRITTEN)
    create.add_argument("--display-name", help="a name for people (default: none)")
    create.add_argument("--description", help="what the tenant is for")
    rename = _add(sub, "rename", cmd_rename, "set a tenant's display name (its slug never changes)", WRITTEN)
    rename.add_argument("display_name", metavar="DISPLAY_NAME", help="the new display name ('' clears it)")
    rename.add_argument("--description", help="set the description too ('' clears it)")
    _if_version(rename)
    for action, verb, helptext in (
        ("disable", "disabled", "disable a tenant: its tokens and MCP endpoints are refused until enabled"),
        ("enable", "enabled", "enable a disabled tenant"),
        ("delete", "deleted", "delete a tenant (its history stays in the log)"),
    ):
        parser = _add(sub, action, _lifecycle(action, verb), helptext, WRITTEN)
        _if_version(parser)
        if action == "delete":
            parser.add_argument(
                "--shred",
                action="store_true",
                help="also destroy its data key: its secrets become unreadable everywhere, exports included",
            )
