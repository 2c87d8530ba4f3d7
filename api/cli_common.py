"""What every ``ledgergate`` subcommand shares: settings, a runtime for one command, who is acting, output.

The command line acts on the local store directly (the database and the keys the settings name), as an
operator who can read the data directory: it needs no token and is not limited by a role. Its writes
are recorded as actor ``cli:<login name>`` (``LEDGERGATE_CLI_USER`` overrides the login name), with a
correlation id of its own for each command run, so the audit log tells them from API writes.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from ledgergate.api.cli_errors import NOT_FOUND, USAGE, CliError, recognise_store_errors
from ledgergate.api.cli_output import print_json
from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.errors import NotFoundError
from ledgergate.domain.envelope import Envelope
from ledgergate.domain.tenant import tenant_stream_id
from ledgergate.infrastructure.crypto.keys import InstanceKeys as InstanceKeys
from ledgergate.infrastructure.crypto.master_keys import GivenMasterKeyError as GivenMasterKeyError
from ledgergate.infrastructure.crypto.master_keys import MasterKeyRing as MasterKeyRing
from ledgergate.infrastructure.crypto.signing import PublicKeyError as PublicKeyError
from ledgergate.infrastructure.crypto.signing import SigningKey as SigningKey
from ledgergate.infrastructure.crypto.signing import key_id_of as key_id_of
from ledgergate.infrastructure.crypto.signing import parse_public_key as parse_public_key
from ledgergate.infrastructure.crypto.signing import read_trusted_keys as read_trusted_keys
from ledgergate.infrastructure.crypto.signing import verify_signature as verify_signature
from ledgergate.infrastructure.database_errors import UNREACHABLE_ERRORS, reason
from ledgergate.infrastructure.eventstore import log_reader as log_reader
from ledgergate.infrastructure.settings import Settings, load_settings

recognise_store_errors(UNREACHABLE_ERRORS, reason)
# The adapters the commands use (keys, signatures, the log reader) are handed to them from here, the
# command line's composition root: InstanceKeys, MasterKeyRing, SigningKey, the signing functions, log_reader.

__all__ = [
    "CLI_ACTOR",
    "cli_actor",
    "cli_envelope",
    "parse_point",
    "print_result",
    "read_bytes",
    "require_tenant",
    "require_tenant_in_log",
    "settings_from",
    "with_runtime",
]

#: the namespace of every actor the command line records (no tenant may be named ``cli``)
CLI_ACTOR = "cli"
USER_ENV = "LEDGERGATE_CLI_USER"


def cli_actor() -> str:
    """``cli:<login name>``: who ran the command, as the audit log records it."""
    try:
        user = os.environ.get(USER_ENV) or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container with an unnamed uid)
        user = f"uid-{os.getuid()}"
    return f"{CLI_ACTOR}:{re.sub(r'[^A-Za-z0-9._@-]', '_', user) or 'unknown'}"


def cli_envelope(tenant_id: str, command: str) -> Envelope:
    """The envelope of a command-line write: no token; the command run is the causation."""
    return Envelope(tenant_id, cli_actor(), f"cli:{uuid.uuid4()}", f"cli:{command}")


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        "LEDGERGATE_HOST": getattr(args, "host", None),
        "LEDGERGATE_PORT": getattr(args, "port", None),
        "LEDGERGATE_WORKERS": getattr(args, "workers", None),
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    return load_settings()


def with_runtime(args: argparse.Namespace, action: Any) -> int:
    runtime = build_runtime(settings_from(args), follow=False)
    try:
        return int(action(runtime))
    finally:
        runtime.close()


def print_result(data: Any, as_json: bool, table: Any) -> None:
    if as_json:
        print_json(data)
    else:
        table(data)


def require_tenant(runtime: Runtime, slug: str) -> None:
    """Bring the catalog up to the log's head, then check the tenant exists. Raises: NotFoundError."""
    runtime.board.publish(runtime.projector.catch_up())  # the command line has no follower
    if runtime.catalog.get_item(None, "tenant", str(tenant_stream_id(slug))) is None:
        raise NotFoundError(f"no tenant {slug!r}")


def require_tenant_in_log(runtime: Runtime, slug: str) -> None:
    """For audit and export, a deleted tenant still counts: it only has to have events. Raises: NotFoundError."""
    from ledgergate.application.audit import AuditFilter

    runtime.audit_projector.catch_up()
    if not runtime.audit_log.feed(AuditFilter(tenant_id=slug), 0, 1):
        raise NotFoundError(f"no tenant {slug!r}: the log has no event of it")


def read_bytes(path: str) -> bytes:
    """A file's content, or standard input for ``-``. Raises: CliError (exit 3) naming the path as typed."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", NOT_FOUND, "file-error") from None


def parse_point(value: str) -> Any:
    """A log position or a time (see ``api.cli_time``). Raises: CliError (exit 2)."""
    from ledgergate.api.cli_time import parse_point as parse

    try:
        return parse(value)
    except ValueError as exc:
        raise CliError(str(exc), USAGE, "usage") from None
