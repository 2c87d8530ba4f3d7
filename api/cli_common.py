"""What every ``ledgergate`` subcommand shares: settings, a runtime for one command, output."""

from __future__ import annotations

import argparse
import os
from typing import Any

import msgspec

from api.runtime import build_runtime
from infrastructure.settings import Settings, SettingsError, load_settings

CLI_ACTOR = "cli"


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
        print(msgspec.json.encode(data).decode())
    else:
        table(data)


def parse_point(value: str) -> Any:
    from application.audit import parse_point

    try:
        return parse_point(value)
    except ValueError as exc:
        raise SettingsError(f"{value!r} is neither a position nor an RFC 3339 time: {exc}") from None
