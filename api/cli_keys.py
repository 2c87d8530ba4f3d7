"""``ledgergate keys``: the instance's public signing key, master-key and tenant-key rotation."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

import msgspec

from api.cli_common import CLI_ACTOR, settings_from, with_runtime
from api.runtime import Runtime

#: Testing aid: the rotation kills its own process (SIGKILL) after re-wrapping this many data keys.
KILL_AFTER_ENV = "LEDGERGATE_TEST_KILL_AFTER_REWRAPS"


def cmd_keys_show(args: argparse.Namespace) -> int:
    from api.cli_common import InstanceKeys, MasterKeyRing, SigningKey

    settings = settings_from(args)
    keys = InstanceKeys.of(settings)
    signing = SigningKey(settings.data_dir, settings.signing_key)
    ring = MasterKeyRing(settings.data_dir, settings.master_key)
    shown = {
        "instance": keys.instance_id(),
        "signing_key": {"algorithm": "ed25519", "key_id": signing.key_id, "public_key": signing.public_key},
        "master_key": {"active": ring.active_id, "retired": ring.retired_ids()},
    }
    if args.json:
        print(msgspec.json.encode(shown).decode())
    else:
        print(f"instance     {shown['instance']}")
        print(f"signing key  {signing.key_id}  {signing.public_key}")
        print(f"master key   {ring.active_id} (active){''.join(f', {k} (retired)' for k in ring.retired_ids())}")
    return 0


def _envelope(tenant: str) -> Any:
    from domain.envelope import Envelope

    return Envelope(tenant, CLI_ACTOR, "keys", "keys")


def _progress() -> Any:
    limit = int(os.environ.get(KILL_AFTER_ENV) or 0)

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"... re-wrapped {done} of {total} data keys", file=sys.stderr, flush=True)
        if limit and done >= limit:
            os.kill(os.getpid(), signal.SIGKILL)

    return progress


def cmd_keys_rotate_master(args: argparse.Namespace) -> int:
    from application.key_rotation import rotate_master

    def action(runtime: Runtime) -> int:
        assert runtime.ring is not None
        result = rotate_master(
            runtime.registry.cipher,  # type: ignore[arg-type]
            runtime.ring,
            runtime.registry,
            _envelope("_platform"),
            _progress(),
        )
        print(
            f"master key {result['new_key_id']} is active; {result['rewrapped']} data keys re-wrapped; "
            f"retired: {', '.join(result['retired_keys'])} (remove with `ledgergate keys retire-master`)"
        )
        return 0

    return with_runtime(args, action)


def cmd_keys_retire_master(args: argparse.Namespace) -> int:
    from application.key_rotation import retire_master_keys

    def action(runtime: Runtime) -> int:
        assert runtime.ring is not None
        result = retire_master_keys(runtime.registry.cipher, runtime.ring)  # type: ignore[arg-type]
        removed, kept = ", ".join(result["removed"]) or "none", ", ".join(result["kept"]) or "none"
        print(f"removed: {removed}; still wrapping keys: {kept}")
        return 0 if not result["kept"] else 1

    return with_runtime(args, action)


def cmd_keys_rotate_tenant(args: argparse.Namespace) -> int:
    from api.cli_common import log_reader
    from application.key_rotation import rotate_tenant

    def action(runtime: Runtime) -> int:
        reader = log_reader(runtime.registry)
        result = rotate_tenant(
            runtime.registry.cipher,  # type: ignore[arg-type]
            runtime.registry,
            _envelope(args.tenant),
            args.tenant,
            reader.tenant_events if args.reseal else None,
        )
        line = f"tenant {args.tenant}: data key {result['new_key_id']} is active (was {result['old_key_id']})"
        if args.reseal:
            line += f"; re-sealed the secrets of {len(result['resealed'])} entities"
        else:
            line += "; earlier secrets stay readable by their key id (re-seal them with --reseal)"
        print(line)
        return 0

    return with_runtime(args, action)


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="signing key, master and tenant key rotation").add_subparsers(
        dest="keys_command", required=True
    )
    show = keys.add_parser("show", help="the instance id, public signing key and master key ids")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_keys_show)
    keys.add_parser(
        "rotate-master", help="a new master key; re-wraps every tenant data key (no secret is re-encrypted)"
    ).set_defaults(func=cmd_keys_rotate_master)
    keys.add_parser("retire-master", help="remove retired master keys that no longer wrap any data key").set_defaults(
        func=cmd_keys_retire_master
    )
    tenant = keys.add_parser("rotate-tenant", help="a new data key for a tenant; --reseal seals every secret anew")
    tenant.add_argument("tenant")
    tenant.add_argument("--reseal", action="store_true", help="append events sealing every secret with the new key")
    tenant.set_defaults(func=cmd_keys_rotate_tenant)
