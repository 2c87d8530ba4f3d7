"""``ledgergate keys``: the instance's public signing key, master-key and tenant-key rotation.

Each prints a sentence, or with ``--json`` the report as one JSON object. A master key the operator gives
(``LEDGERGATE_MASTER_KEY[_FILE]``) is rotated by giving the new one there and the old one in
``LEDGERGATE_MASTER_KEYS_RETIRED[_FILE]``; ``rotate-master`` then re-wraps every data key under the given
key, and exits 2 saying how when no retired key is given.
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable
from typing import Any

from ledgergate.api.cli_common import cli_envelope, print_result, settings_from, with_runtime
from ledgergate.api.cli_errors import USAGE, CliError
from ledgergate.api.cli_output import progress
from ledgergate.api.runtime import Runtime

#: Testing aid: the rotation kills its own process (SIGKILL) after re-wrapping this many data keys.
KILL_AFTER_ENV = "LEDGERGATE_TEST_KILL_AFTER_REWRAPS"
JSON_HELP = "print the report as one JSON object"
GIVEN_KEY = (
    "the master key is given by LEDGERGATE_MASTER_KEY or LEDGERGATE_MASTER_KEY_FILE and no retired key is, so "
    "no key is made here (only a master key kept in the data directory is) and nothing was changed. To rotate a "
    "given key: give the new one there and the old one in LEDGERGATE_MASTER_KEYS_RETIRED to every process, "
    "restart them, then run this again. Tenant data keys rotate with `ledgergate keys rotate-tenant TENANT`"
)
RETIRED_SETTING = "LEDGERGATE_MASTER_KEYS_RETIRED"


def cmd_keys_show(args: argparse.Namespace) -> int:
    from ledgergate.api.cli_common import InstanceKeys, MasterKeyRing, SigningKey

    settings = settings_from(args)
    keys = InstanceKeys.of(settings)
    signing = SigningKey(settings.data_dir, settings.signing_key)
    ring = MasterKeyRing(settings.data_dir, settings.master_key, settings.master_keys_retired)
    shown = {
        "instance": keys.instance_id(),
        "signing_key": {"algorithm": "ed25519", "key_id": signing.key_id, "public_key": signing.public_key},
        "master_key": {
            "active": ring.active_id,
            "retired": ring.retired_ids(),
            "given": settings.master_key is not None,
        },
    }

    def show(r: dict[str, Any]) -> None:
        master = r["master_key"]
        given = ", given by the operator" if master["given"] else ""
        print(f"instance     {r['instance']}")
        print(f"signing key  {r['signing_key']['key_id']}  {r['signing_key']['public_key']}")
        print(
            f"master key   {master['active']} (active{given}){''.join(f', {k} (retired)' for k in master['retired'])}"
        )

    print_result(shown, args.json, show)
    return 0


def _rewrapping(advance: Callable[[float], None]) -> Callable[[int, int], None]:
    limit = int(os.environ.get(KILL_AFTER_ENV) or 0)

    def rewrapped(done: int, total: int) -> None:
        advance(1)
        if limit and done >= limit:
            os.kill(os.getpid(), signal.SIGKILL)

    return rewrapped


def cmd_keys_rotate_master(args: argparse.Namespace) -> int:
    from ledgergate.api.cli_common import GivenMasterKeyError
    from ledgergate.application.key_rotation import rotate_master

    def action(runtime: Runtime) -> int:
        assert runtime.ring is not None
        with progress("re-wrapping", total=None, unit="data keys") as advance:
            try:
                result = rotate_master(
                    runtime.registry.cipher,  # type: ignore[arg-type]
                    runtime.ring,
                    runtime.registry,
                    cli_envelope("_platform", "keys rotate-master"),
                    _rewrapping(advance),
                )
            except GivenMasterKeyError:
                raise CliError(GIVEN_KEY, USAGE, "master-key-given") from None

        def show(r: dict[str, Any]) -> None:
            retired = ", ".join(r["retired_keys"])
            if r["given"]:
                print(
                    f"master key {r['new_key_id']} (given) is active; {r['rewrapped']} data keys re-wrapped; "
                    f"nothing needs {retired} any more: `ledgergate keys retire-master` checks, then drop it "
                    f"from {RETIRED_SETTING}"
                )
            else:
                print(
                    f"master key {r['new_key_id']} is active; {r['rewrapped']} data keys re-wrapped; "
                    f"retired: {retired} (remove with `ledgergate keys retire-master`)"
                )

        print_result(result, args.json, show)
        return 0

    return with_runtime(args, action)


def cmd_keys_retire_master(args: argparse.Namespace) -> int:
    from ledgergate.application.key_rotation import retire_master_keys

    def action(runtime: Runtime) -> int:
        assert runtime.ring is not None
        result = retire_master_keys(runtime.registry.cipher, runtime.ring)  # type: ignore[arg-type]

        def show(r: dict[str, Any]) -> None:
            removed, kept = ", ".join(r["removed"]) or "none", ", ".join(r["kept"]) or "none"
            line = f"removed: {removed}; still wrapping keys: {kept}"
            if r["unused"]:
                line += f"; wrapping nothing, drop from {RETIRED_SETTING}: {', '.join(r['unused'])}"
            print(line)

        print_result(result, args.json, show)
        return 0 if not result["kept"] else 1

    return with_runtime(args, action)


def cmd_keys_rotate_tenant(args: argparse.Namespace) -> int:
    from ledgergate.api.cli_common import log_reader
    from ledgergate.application.key_rotation import rotate_tenant

    def action(runtime: Runtime) -> int:
        reader = log_reader(runtime.registry)
        result = rotate_tenant(
            runtime.registry.cipher,  # type: ignore[arg-type]
            runtime.registry,
            cli_envelope(args.tenant, "keys rotate-tenant"),
            args.tenant,
            reader.tenant_events if args.reseal else None,
        )

        def show(r: dict[str, Any]) -> None:
            line = f"tenant {args.tenant}: data key {r['new_key_id']} is active (was {r['old_key_id']})"
            if "resealed" in r:
                line += f"; re-sealed the secrets of {len(r['resealed'])} entities"
            else:
                line += "; earlier secrets stay readable by their key id (re-seal them with --reseal)"
            print(line)

        print_result(result, args.json, show)
        return 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="signing key, master and tenant key rotation").add_subparsers(
        dest="keys_command", required=True
    )
    show = keys.add_parser("show", help="the instance id, public signing key and master key ids")
    show.add_argument("--json", action="store_true", help=JSON_HELP)
    show.set_defaults(func=cmd_keys_show)
    master = keys.add_parser(
        "rotate-master", help="a new master key; re-wraps every tenant data key (no secret is re-encrypted)"
    )
    master.add_argument("--json", action="store_true", help=JSON_HELP + " (old and new key ids, re-wrapped count)")
    master.set_defaults(func=cmd_keys_rotate_master)
    retire = keys.add_parser("retire-master", help="remove retired master keys that no longer wrap any data key")
    retire.add_argument("--json", action="store_true", help=JSON_HELP + " (removed and kept key ids)")
    retire.set_defaults(func=cmd_keys_retire_master)
    tenant = keys.add_parser("rotate-tenant", help="a new data key for a tenant; --reseal seals every secret anew")
    tenant.add_argument("tenant", help="the tenant whose data key to rotate")
    tenant.add_argument("--reseal", action="store_true", help="append events sealing every secret with the new key")
    tenant.add_argument("--json", action="store_true", help=JSON_HELP + " (old and new key ids, re-sealed entities)")
    tenant.set_defaults(func=cmd_keys_rotate_tenant)
