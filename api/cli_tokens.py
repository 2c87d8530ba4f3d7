"""``ledgergate token``: issue, list and revoke tokens, and rotate the platform-admin token of the first start."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ledgergate.api.bootstrap import DEFAULT_TENANT, announce, expires_at_of, rotate_admin, token_lifetimes
from ledgergate.api.cli_common import cli_actor, cli_envelope, print_result, require_tenant, with_runtime
from ledgergate.api.cli_errors import NOT_FOUND, CliError
from ledgergate.api.cli_output import table, when
from ledgergate.api.runtime import Runtime
from ledgergate.application.errors import NotFoundError
from ledgergate.application.ports import ItemFilter

__all__ = ["register"]

TENANT_HELP = f"the tenant (default: {DEFAULT_TENANT})"


def cmd_token_create(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        require_tenant(runtime, args.tenant)
        given = args.expires_days is not None
        seconds = args.expires_days * 86400 if given else None
        ttl = token_lifetimes(runtime.settings).lifetime(seconds, args.service, given)
        servers = args.server or None
        written, token = runtime.registry.issue_token(
            cli_envelope(args.tenant, "token create"),
            "platform-admin",
            args.name,
            args.subject or args.name,
            args.role,
            servers,
            ttl,
            args.issue_key,
        )
        expires = expires_at_of(runtime.codec, token)
        result = {"id": written.id, "position": written.position, "expires_at": expires, "token": token}

        def show(r: dict[str, Any]) -> None:
            print(f"token id: {r['id']}\nposition: {r['position']}\nexpires: {r['expires_at'] or 'never'}\n\n{token}")

        print_result(result, args.json, show)
        return 0

    return with_runtime(args, action)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        require_tenant(runtime, args.tenant)
        written = runtime.registry.revoke_token(cli_envelope(args.tenant, "token revoke"), args.token_id)
        result = {"id": written.id, "version": written.version, "position": written.position}
        print_result(result, args.json, lambda r: print(f"revoked {r['id']} at position {r['position']}"))
        return 0

    return with_runtime(args, action)


def cmd_token_list(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        require_tenant(runtime, args.tenant)
        cursor = None
        tokens: list[dict[str, Any]] = []
        while True:
            items, cursor = runtime.queries.list(args.tenant, "token", ItemFilter(), cursor, 500)
            tokens += items
            if cursor is None:
                break

        def show(rows: list[dict[str, Any]]) -> None:
            columns = ["id", "name", "subject", "role", "revoked", "expires_at"]
            table(
                columns,
                [
                    (t["id"], t["name"], t.get("subject"), t["role"], t["revoked"], when(t["expires_at"]) or "never")
                    for t in rows
                ],
            )

        print_result(tokens, args.json, show)
        return 0

    return with_runtime(args, action)


def cmd_token_rotate_admin(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        try:
            started = rotate_admin(runtime, cli_actor())
        except NotFoundError:
            raise CliError(
                f"nothing to rotate: no first start yet (no tenant {DEFAULT_TENANT!r}); run `ledgergate serve` once",
                NOT_FOUND,
                "not-found",
            ) from None
        if args.json:  # the token itself stays in the file, as announce() keeps it off anything but a terminal
            expires = started.expires_at.isoformat() if started.expires_at else None
            report = {"token_file": str(started.token_file), "expires_at": expires, "revoked_id": started.revoked_id}
            print_result(report, True, None)
        else:
            announce(started, sys.stdout)
        return 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True, metavar="COMMAND"
    )
    create = token.add_parser("create", help="issue a token and print it once")
    create.add_argument("--tenant", default=DEFAULT_TENANT, help=TENANT_HELP)
    create.add_argument("--name", required=True, help="the token's display name")
    create.add_argument(
        "--role",
        required=True,
        choices=["client", "viewer", "editor", "admin", "platform-admin"],
        help="what it may do: client (MCP only) < viewer < editor < admin < platform-admin",
    )
    create.add_argument("--subject", help="who it acts as in the audit log (default: the name)")
    create.add_argument("--server", action="append", help="limit to this virtual server id (repeatable)")
    create.add_argument("--expires-days", type=int, help="lifetime in days (default: LEDGERGATE_TOKEN_TTL_DAYS)")
    create.add_argument(
        "--issue-key",
        help="16 to 128 URL-safe characters made once per token meant: run again with it, nothing is issued (exit 5)",
    )
    create.add_argument("--service", action="store_true", help="a service token: never expires without --expires-days")
    create.add_argument("--json", action="store_true", help="print id, position, expires_at and the token as JSON")
    create.set_defaults(func=cmd_token_create)
    revoke = token.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token_id", help="the id `token list` shows")
    revoke.add_argument("--tenant", default=DEFAULT_TENANT, help=TENANT_HELP)
    revoke.add_argument("--json", action="store_true", help="print id, version and position as JSON")
    revoke.set_defaults(func=cmd_token_revoke)
    listing = token.add_parser("list", help="list a tenant's tokens (never the tokens themselves)")
    listing.add_argument("--tenant", default=DEFAULT_TENANT, help=TENANT_HELP)
    listing.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    listing.set_defaults(func=cmd_token_list)
    rotate = token.add_parser(
        "rotate-admin", help="issue a new platform-admin token into <data dir>/admin-token and revoke the old one"
    )
    rotate.add_argument("--json", action="store_true", help="print token_file, expires_at and revoked_id as JSON")
    rotate.set_defaults(func=cmd_token_rotate_admin)
