"""``ledgergate token``: issue, list and revoke tokens, and rotate the platform-admin token of the first start."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from api.bootstrap import DEFAULT_TENANT, announce, expires_at_of, rotate_admin, token_lifetimes
from api.cli_common import CLI_ACTOR, with_runtime
from api.runtime import Runtime
from application.ports import ItemFilter
from domain.envelope import Envelope

__all__ = ["register"]


def cmd_token_create(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        envelope = Envelope(args.tenant, CLI_ACTOR, "cli", "cli")
        given = args.expires_days is not None
        seconds = args.expires_days * 86400 if given else None
        ttl = token_lifetimes(runtime.settings).lifetime(seconds, args.service, given)
        servers = args.server or None
        written, token = runtime.registry.issue_token(
            envelope, "platform-admin", args.name, args.subject or args.name, args.role, servers, ttl
        )
        expires = expires_at_of(runtime.codec, token) or "never"
        print(f"token id: {written.id}\nposition: {written.position}\nexpires: {expires}\n\n{token}")
        return 0

    return with_runtime(args, action)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        written = runtime.registry.revoke_token(Envelope(args.tenant, CLI_ACTOR, "cli", "cli"), args.token_id)
        print(f"revoked {written.id} at position {written.position}")
        return 0

    return with_runtime(args, action)


def cmd_token_list(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        runtime.board.publish(runtime.projector.catch_up())
        cursor = None
        print(f"{'id':36}  {'name':24} {'role':14} {'revoked':7} expires_at")
        while True:
            items, cursor = runtime.queries.list(args.tenant, "token", ItemFilter(), cursor, 500)
            for item in items:
                print(
                    f"{item['id']:36}  {item['name'][:24]:24} {item['role']:14} {item['revoked']!s:7} "
                    f"{item['expires_at'] or 'never'}"
                )
            if cursor is None:
                return 0

    return with_runtime(args, action)


def cmd_token_rotate_admin(args: argparse.Namespace) -> int:
    def action(runtime: Runtime) -> int:
        announce(rotate_admin(runtime, CLI_ACTOR), sys.stdout)
        return 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    token = commands.add_parser("token", help="manage API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="issue a token and print it once")
    create.add_argument("--tenant", default=DEFAULT_TENANT)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["client", "viewer", "editor", "admin", "platform-admin"])
    create.add_argument("--subject")
    create.add_argument("--server", action="append", help="limit to this virtual server id (repeatable)")
    create.add_argument("--expires-days", type=int, help="lifetime in days (default: LEDGERGATE_TOKEN_TTL_DAYS)")
    create.add_argument("--service", action="store_true", help="a service token: never expires without --expires-days")
    create.set_defaults(func=cmd_token_create)
    revoke = token.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token_id")
    revoke.add_argument("--tenant", default=DEFAULT_TENANT)
    revoke.set_defaults(func=cmd_token_revoke)
    listing = token.add_parser("list", help="list a tenant's tokens")
    listing.add_argument("--tenant", default=DEFAULT_TENANT)
    listing.set_defaults(func=cmd_token_list)
    rotate = token.add_parser(
        "rotate-admin", help="issue a new platform-admin token into <data dir>/admin-token and revoke the old one"
    )
    rotate.set_defaults(func=cmd_token_rotate_admin)
