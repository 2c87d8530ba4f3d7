"""One run of one suite configuration against one URL, and its score.

A configuration is a suite version and, for 0.2.0, a ``--requirements`` revision. Only scored scenarios
count: for 0.1.16 every scenario of its default (active) suite, for 0.2.0 the server scenarios the
revision requires (``conformance list --requirements R``); scenarios run but not scored (extensions,
pending, added after the release) are kept apart. A scenario passes when none of its checks is a
FAILURE; a scored scenario with no result (the suite crashed or timed out) fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from conformance.toolchain import Toolchain


@dataclass(frozen=True)
class Config:
    label: str
    version: str
    requirements: str | None = None

    def arguments(self) -> list[str]:
        return ["--requirements", self.requirements] if self.requirements else []


CONFIGS = (
    Config("0.1.16", "0.1.16"),
    Config("0.2.0-alpha.12 2025-11-25", "0.2.0-alpha.12", "2025-11-25"),
    Config("0.2.0-alpha.12 2026-07-28", "0.2.0-alpha.12", "2026-07-28"),
)
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
RUNNING = re.compile(r"^=== Running scenario: (?P<scenario>\S+) ===$", re.MULTILINE)
SUITE_SIZE = re.compile(r"^Running \w+ suite \((?P<count>\d+) scenarios?\)", re.MULTILINE)


@dataclass
class Outcome:
    """The scored scenarios of one run: passed, and failed with the failing checks' messages."""

    passed: list[str] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)
    unscored_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.passed) + len(self.failed)

    def to_json(self) -> dict[str, object]:
        return {
            "passed": len(self.passed),
            "total": self.total,
            "failed": self.failed,
            "passed_scenarios": sorted(self.passed),
            "unscored_failed": self.unscored_failed,
            "seconds": round(self.seconds, 1),
        }


@cache
def required_server_scenarios(toolchain: Toolchain, config: Config) -> tuple[str, ...]:
    """What ``list --requirements`` prints under "Server scenarios" of the required set."""
    listed = subprocess.run(
        [str(Toolchain.suite(config.version)), "list", *config.arguments()],
        env=toolchain.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    required = listed.split("Run and reported, but never scored:")[0]
    server = required.split("Server scenarios")[1].split("Client scenarios")[0]
    return tuple(re.findall(r"^\s+- (\S+)", server, re.MULTILINE))


def _failures(checks_file: Path) -> list[str]:
    try:
        checks = json.loads(checks_file.read_text())
    except (OSError, ValueError) as exc:
        return [f"no readable checks.json ({exc.__class__.__name__})"]
    return [f"{c.get('id')}: {c.get('errorMessage') or 'failed'}" for c in checks if c.get("status") == "FAILURE"]


def run(toolchain: Toolchain, config: Config, url: str, output: Path, timeout_s: float = 600) -> Outcome:
    """Run the configuration against ``url``, keep its output under ``output``, and score it."""
    output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    command = [str(Toolchain.suite(config.version)), "server", "--url", url, "-o", str(output), *config.arguments()]
    try:
        done = subprocess.run(command, env=toolchain.env(), capture_output=True, text=True, timeout=timeout_s)
        stdout = done.stdout
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    (output / "suite.log").write_text(stdout)
    results = {m["scenario"]: d / "checks.json" for d in output.iterdir() if (m := RESULT_DIR.match(d.name))}
    if config.requirements:
        scored: list[str] = list(required_server_scenarios(toolchain, config))
    else:
        scored = RUNNING.findall(stdout)
        size = SUITE_SIZE.search(stdout)
        scored += [f"(scenario {i + 1} not run)" for i in range(len(scored), int(size["count"]) if size else 0)]
    outcome = Outcome(seconds=time.monotonic() - started)
    for scenario in scored:
        failures = _failures(results[scenario]) if scenario in results else ["no result: the suite did not finish it"]
        if failures:
            outcome.failed[scenario] = failures
        else:
            outcome.passed.append(scenario)
    outcome.unscored_failed = sorted(s for s, f in results.items() if s not in scored and _failures(f))
    return outcome
