"""``ledgergate tools|resources|prompts|servers|upstreams ...``: the registry from a shell, without curl.

Every command runs the use case the REST route runs (``application/registry.py``,
``application/queries.py``, upstream registration and refresh through ``UpstreamService``), with the
REST API's own request bodies (``api/schemas.py``, unknown fields refused), so a file that the API
refuses is refused here with the same message. An entity is named by its id or by its name (a
resource by its URI), as the user typed it. Writes act on the local store as ``cli:<login name>``
(see ``api/cli_common.py``); upstreams have no ``revert`` (nor has the API) but have ``refresh``.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

import msgspec

from ledgergate.api.bootstrap import DEFAULT_TENANT
from ledgergate.api.cli_common import cli_envelope, print_result, read_bytes, require_tenant, with_runtime
from ledgergate.api.cli_errors import INVALID, NOT_FOUND, CliError
from ledgergate.api.cli_output import print_json, table, when
from ledgergate.api.json_limits import BadJson, decode_json
from ledgergate.api.runtime import Runtime, upstream_service
from ledgergate.api.schemas import CREATE_BODIES, UPDATE_BODIES, UpstreamCreate, UpstreamUpdate, to_fields
from ledgergate.application.ports import ItemFilter
from ledgergate.application.queries import MAX_PAGE
from ledgergate.application.registry import KINDS, Written
from ledgergate.domain.upstream import Upstream

__all__ = ["GROUPS", "register"]

#: command group -> entity kind
GROUPS = {"tools": "tool", "resources": "resource", "prompts": "prompt", "servers": "server", "upstreams": "upstream"}
NAME_FIELD = {"resource": "uri"}
COLUMNS = {
    "tool": ["name", "description"],
    "resource": ["uri", "name", "mime_type"],
    "prompt": ["name", "description"],
    "server": ["name", "description"],
    "upstream": ["name", "transport", "url", "health"],
}
BODIES = {**CREATE_BODIES, "upstream": UpstreamCreate}
PATCHES = {**UPDATE_BODIES, "upstream": UpstreamUpdate}


def _body(path: str, kind: str, schema: type[msgspec.Struct]) -> dict[str, Any]:
    """The file decoded as the REST API decodes a request body. Raises: CliError (exit 3 or 4)."""
    try:
        value = decode_json(read_bytes(path))
        return to_fields(msgspec.convert(value, type=schema))
    except (BadJson, msgspec.ValidationError) as exc:
        where = "standard input" if path == "-" else path
        raise CliError(f"{where}: {exc}", INVALID, "invalid-request") from None


def _name_of(kind: str, item: dict[str, Any]) -> str:
    return str(item.get(NAME_FIELD.get(kind, "name")))


def resolve(runtime: Runtime, tenant: str, kind: str, ref: str) -> str:
    """An entity's id from its id or its name (a resource's URI). Raises: CliError (exit 3)."""
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        pass
    items, _ = runtime.queries.list(tenant, kind, ItemFilter(name_prefix=ref), None, MAX_PAGE)
    for item in items:
        if _name_of(kind, item) == ref:
            return str(item["id"])
    raise CliError(f"no {kind} named {ref!r} in tenant {tenant!r}", NOT_FOUND, "not-found")


def _written(args: argparse.Namespace, verb: str, result: Written, **extra: Any) -> int:
    answer = {"id": result.id, "version": result.version, "position": result.position, **extra}
    if args.json:
        print_json(answer)
    else:
        print(f"{verb} {GROUPS[args.group]} {result.id}: version {result.version}, position {result.position}")
        report = extra.get("report") or extra
        for key in ("added", "changed", "removed", "skipped"):
            for entry in report.get(key) or []:
                print(f"  {key}: {entry.get('kind')} {entry.get('name')} {entry.get('reason') or ''}".rstrip())
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return msgspec.json.encode(value).decode()
    return "-" if value is None else str(value)


def _show_item(item: dict[str, Any]) -> None:
    table(["field", "value"], [(key, _cell(value)) for key, value in item.items()])


def cmd_list(args: argparse.Namespace, runtime: Runtime, kind: str) -> int:
    enabled = True if args.enabled else False if args.disabled else None
    flt = ItemFilter(enabled=enabled, tag=args.tag, name_prefix=args.name_prefix)
    found: list[dict[str, Any]] = []
    cursor = None
    while args.limit is None or len(found) < args.limit:
        page = MAX_PAGE if args.limit is None else min(MAX_PAGE, args.limit - len(found))
        items, cursor = runtime.queries.list(args.tenant, kind, flt, cursor, page)
        found += items
        if cursor is None:
            break

    def show(rows: list[dict[str, Any]]) -> None:
        extra = COLUMNS[kind]
        cells = []
        for r in rows:
            health = r.get("health") or {}
            values = {**r, "health": health.get("state") if isinstance(health, dict) else health}
            cells.append((r["id"], *(values.get(c) for c in extra), "yes" if r["enabled"] else "no", r["version"]))
        table(["id", *extra, "enabled", ("version", "right")], cells)

    print_result(found, args.json, show)
    return 0


def cmd_get(args: argparse.Namespace, runtime: Runtime, kind: str) -> int:
    item_id = resolve(runtime, args.tenant, kind, args.ref)
    item = runtime.queries.get(args.tenant, kind, item_id)
    if kind == "server":
        item["members"] = runtime.catalog.member_ids(item_id)
    print_result(item, args.json, _show_item)
    return 0


def cmd_create(args: argparse.Namespace, runtime: Runtime, kind: str) -> int:
    fields = _body(args.file, kind, BODIES[kind])
    envelope = cli_envelope(args.tenant, f"{args.group} create")
    if kind == "upstream":  # connects and discovers first, as the API does: unreachable means nothing written
        result, report = asyncio.run(upstream_service(runtime).register(envelope, fields))
        return _written(args, "registered", result, report=report)
    return _written(args, "created", runtime.registry.create_entity(envelope, kind, fields))


def cmd_update(args: argparse.Namespace, runtime: Runtime, kind: str) -> int:
    fields = _body(args.file, kind, PATCHES[kind])
    item_id = resolve(runtime, args.tenant, kind, args.ref)
    envelope = cli_envelope(args.tenant, f"{args.group} update")
    if kind == "upstream":
        return _written(args, "updated", runtime.registry.update_upstream(envelope, item_id, fields, args.if_version))
    return _written(args, "updated", runtime.registry.update_entity(envelope, kind, item_id, fields, args.if_version))


def _lifecycle(action: str, verb: str) -> Any:
    def command(args: argparse.Namespace, runtime: Runtime, kind: str) -> int:
        item_id = resolve(runtime, args.tenant, kind, args.ref)
        envelope = cli_envelope(args.tenant, f"{args.group} {action}")
        if kind == "upstream":
            return _written(args, verb, runtime.registry.change_upstream(envelope, item_id, action))
        return _written(args, verb, runtime.registry.change_entity(envelope, kind, item_id, action, args.if_version))

    return command


def cmd_history(args: argparse.Namespace, runtime: Runtime, kind: str) -> int:
    item_id = resolve(runtime, args.tenant, kind, args.ref)
    versions = runtime.queries.history(args.tenant, Upstream if kind == "upstream" else KINDS[kind], item_id)

    def show(rows: list[dict[str, Any]]) -> None:
        def what(v: dict[str, Any]) -> str:
            if "to_version" in v:
                return f"to version {v['to_version']}"
            return ", ".join(sorted(v.get("changes") or {}))

        cells = [(v["version"], v["event"], when(v["occurred_at"]), v["actor"], what(v)) for v in rows]
        table([("version", "right"), "event", "time", "actor", "changed"], cells)

    print_result({"id": item_id, "versions": versions} if args.json else versions, args.json, show)
    return 0


def cmd_revert(args: argparse.Namespace, runtime: Runtime, kind: str) -> int:
    item_id = resolve(runtime, args.tenant, kind, args.ref)
    envelope = cli_envelope(args.tenant, f"{args.group} revert")
    result = runtime.registry.revert_entity(envelope, kind, item_id, args.version)
    return _written(args, "reverted", result, reverted_to=args.version)


def cmd_refresh(args: argparse.Namespace, runtime: Runtime, kind: str) -> int:
    item_id = resolve(runtime, args.tenant, kind, args.ref)
    envelope = cli_envelope(args.tenant, f"{args.group} refresh")
    result, report = asyncio.run(upstream_service(runtime).refresh(envelope, item_id))
    if result is None:
        answer = {"id": item_id, "appended": False, **report}
        print_result(answer, args.json, lambda _: print(f"refreshed upstream {item_id}: nothing changed"))
        return 0
    return _written(args, "refreshed", result, appended=True, **report)


def _run(command: Any, kind: str) -> Any:
    def func(args: argparse.Namespace) -> int:
        def action(runtime: Runtime) -> int:
            require_tenant(runtime, args.tenant)  # also brings the catalog up to the log's head
            return int(command(args, runtime, kind))

        return with_runtime(args, action)

    return func


def _ref(parser: argparse.ArgumentParser, kind: str) -> None:
    name = "URI" if kind == "resource" else "name"
    parser.add_argument("ref", metavar="ID_OR_NAME", help=f"the {kind}'s id or its {name}")


def _if_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--if-version", type=int, help="only if the entity is still at this version (else exit 5, nothing written)"
    )


def _common(parser: argparse.ArgumentParser, group: str, what: str) -> None:
    parser.add_argument("--tenant", default=DEFAULT_TENANT, help=f"the tenant (default: {DEFAULT_TENANT})")
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON (the REST API's answer)")
    parser.set_defaults(group=group)


def _add(subcommands: Any, group: str, name: str, command: Any, helptext: str, what: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        name, help=helptext, description=helptext[0].upper() + helptext[1:] + "."
    )
    _common(parser, group, what)
    parser.set_defaults(func=_run(command, GROUPS[group]))
    return parser


def _register_group(commands: Any, group: str) -> None:
    kind = GROUPS[group]
    sub = commands.add_parser(group, help=f"list, create, change and revert {group}").add_subparsers(
        dest=f"{group}_command", required=True, metavar="COMMAND"
    )
    listing = _add(sub, group, "list", cmd_list, f"list the tenant's {group}", "a JSON array")
    state = listing.add_mutually_exclusive_group()
    state.add_argument("--enabled", action="store_true", help="only enabled ones")
    state.add_argument("--disabled", action="store_true", help="only disabled ones")
    listing.add_argument("--tag", help="only those with this tag")
    listing.add_argument("--name-prefix", help=f"only those whose {NAME_FIELD.get(kind, 'name')} starts with this")
    listing.add_argument("--limit", type=int, help="at most this many (default: all)")
    _ref(_add(sub, group, "get", cmd_get, f"show a {kind} (secrets masked)", f"the {kind}"), kind)
    create = _add(sub, group, "create", cmd_create, f"create a {kind} from a JSON file", "the id, version and position")
    body = f"JSON body as POST /v1/tenants/T/{group} takes it ('-': standard input)"
    create.add_argument("--file", "-f", required=True, help=body)
    update = _add(sub, group, "update", cmd_update, f"change some fields of a {kind}", "the id, version and position")
    _ref(update, kind)
    update.add_argument("--file", "-f", required=True, help="the fields to change, as PATCH takes them ('-': stdin)")
    _if_version(update)
    for action, verb in (("enable", "enabled"), ("disable", "disabled"), ("delete", "deleted")):
        parser = _add(
            sub, group, action, _lifecycle(action, verb), f"{action} a {kind}", "the id, version and position"
        )
        _ref(parser, kind)
        if kind != "upstream":
            _if_version(parser)
    history = _add(
        sub, group, "history", cmd_history, f"every version of a {kind}, who made it and when", "the versions"
    )
    _ref(history, kind)
    if kind == "upstream":
        refresh = _add(sub, group, "refresh", cmd_refresh, "rediscover an upstream's catalog", "what changed")
        _ref(refresh, kind)
        return
    revert = _add(sub, group, "revert", cmd_revert, f"restore an earlier version of a {kind}", "the new version")
    _ref(revert, kind)
    revert.add_argument("--version", type=int, required=True, help="the version to restore (see history)")


def register(commands: Any) -> None:
    for group in GROUPS:
        _register_group(commands, group)
