"""The image's files, read as a builder would: no container runtime is needed to check what goes in it."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = ("pytest", "ruff", "hypothesis", "mypy", "schemathesis", "playwright", "mcp-server-time", "types-")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    return {canonical(m.group(1)): m.group(3) for m in PIN.finditer(path.read_text())}


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined), as (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_the_runtime_requirements_hold_no_development_package() -> None:
    runtime = pins(ROOT / "requirements-runtime.txt")
    assert runtime, "requirements-runtime.txt pins nothing"
    assert [name for name in runtime if name.startswith(DEV_ONLY)] == []
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    for requirement in dev:
        name = canonical(re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0])
        assert name not in runtime, f"{name} is a development dependency but is in the runtime requirements"


def test_every_runtime_pin_is_the_version_the_lock_tested() -> None:
    lock = pins(ROOT / "requirements.lock")
    runtime = pins(ROOT / "requirements-runtime.txt")
    mismatched = {name: (version, lock.get(name)) for name, version in runtime.items() if lock.get(name) != version}
    assert mismatched == {}


def test_the_runtime_requirements_pin_every_dependency_the_project_declares() -> None:
    runtime = pins(ROOT / "requirements-runtime.txt")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    missing = [d for d in declared if canonical(re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0]) not in runtime]
    assert missing == []


def test_the_image_is_built_in_stages_and_installs_only_the_runtime_requirements() -> None:
    instructions = dockerfile()
    stages = [args for op, args in instructions if op == "FROM"]
    assert len(stages) >= 2 and any(" AS build" in s for s in stages)
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert "requirements-runtime.txt" in runs and "requirements.lock" not in runs
    copies = [args for op, args in instructions if op == "COPY"]
    assert not any("requirements.lock" in c for c in copies)
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    assert any(op == "COPY" and "--from=build" in args for op, args in final)  # the venv, not the sources


def test_the_image_runs_unprivileged_with_a_data_volume_and_a_readiness_health_check() -> None:
    instructions = dockerfile()
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    volumes = " ".join(args for op, args in instructions if op == "VOLUME")
    assert "/data" in volumes
    env = " ".join(args for op, args in instructions if op == "ENV")
    assert "LEDGERGATE_DATA_DIR=/data" in env and "LEDGERGATE_HOST=0.0.0.0" in env
    checks = [args for op, args in instructions if op == "HEALTHCHECK"]
    assert len(checks) == 1 and "/ready" in checks[0] and "CMD" in checks[0]


def ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern that matches decides; ``!`` re-includes."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        if fnmatch.fnmatch(path, body) or fnmatch.fnmatch(path, body.replace("**/", "")) or path.startswith(body + "/"):
            verdict = not negate
    return verdict


def test_the_build_context_has_what_the_image_copies_and_never_local_state() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for op, args in dockerfile():
        if op == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not ignored(patterns, source), f"{source} is copied but .dockerignore leaves it out"
    for local in (".venv", "data", ".env", "data/master.key", ".git", "tests", "bench", ".cache", "dist"):
        assert ignored(patterns, local), f"{local} would be sent to the image build"
