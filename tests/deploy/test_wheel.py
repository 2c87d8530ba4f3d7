"""The built wheel, installed into a clean virtual environment as a user would: it claims one import name,
``ledgergate``, and ``ledgergate serve`` runs from it outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, free_loopback_port

pytestmark = pytest.mark.slow
GENERIC = ("api", "application", "domain", "infrastructure", "migrations", "projections")


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, ROOT, cwd=out)
    (built,) = out.glob("ledgergate-*.whl")
    return built


def test_the_wheel_holds_only_the_ledgergate_package_with_its_templates_assets_and_migrations(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"ledgergate", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "ledgergate/api/cli.py" in names and "ledgergate/domain/tool.py" in names
    assert any(n.startswith("ledgergate/migrations/sqlite/") and n.endswith(".sql") for n in names)
    assert any(n.startswith("ledgergate/migrations/postgres/") and n.endswith(".sql") for n in names)
    assert any(n.startswith("ledgergate/api/ui/templates/") for n in names)
    assert any(n.startswith("ledgergate/api/ui/static/") for n in names)
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]


def test_the_wheel_installs_into_a_clean_environment_and_serves_outside_the_repository(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    # the wheel's own dependency ranges, resolved within the versions the lock tested
    run(python, "-m", "pip", "install", "--quiet", wheel, "-c", ROOT / "requirements-runtime.txt", cwd=tmp_path)
    run(python, "-m", "pip", "check", cwd=tmp_path)
    for name in GENERIC:
        probe = subprocess.run([python, "-c", f"import {name}"], cwd=tmp_path, capture_output=True, check=False)
        assert probe.returncode != 0, f"the installed wheel provides a top-level {name!r}"

    port = free_loopback_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LEDGERGATE_DATA_DIR": str(tmp_path / "data"),
        "LEDGERGATE_PORT": str(port),
    }
    process = subprocess.Popen(
        [venv / "bin" / "ledgergate", "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else "exited"
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the installed gateway did not become ready"
            time.sleep(0.2)
        assert ready.json()["ready"] is True
        signin = httpx.get(f"http://127.0.0.1:{port}/admin/login", timeout=5)
        assert signin.status_code == 200 and "<form" in signin.text  # templates from the installed package
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5)
        assert docs.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
