"""Node 22, the pinned conformance suites and the MCP Inspector, installed by npm into a cache directory.

The suites need Node 22 while the system's may be older, so Node itself comes from the npm registry
(the ``node`` package ships the binary) and is put first on ``PATH`` before the suites are installed, so
npm resolves them for it. Each package lives in its own prefix; an installed prefix of the right version
is reused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("LEDGERGATE_CONFORMANCE_CACHE", ROOT / ".cache" / "conformance"))
NODE = "22"
SUITES = ("0.1.16", "0.2.0-alpha.12")
INSPECTOR = "2.12.0"


class ToolchainError(RuntimeError):
    """npm is missing, or an install failed: the message says which and why."""


@dataclass(frozen=True)
class Toolchain:
    path: str  # PATH with Node 22 first

    def env(self) -> dict[str, str]:
        return {**os.environ, "PATH": self.path}

    @staticmethod
    def suite(version: str) -> Path:
        return CACHE / f"conformance-{version}" / "node_modules" / ".bin" / "conformance"

    @staticmethod
    def inspector() -> Path:
        return CACHE / f"inspector-{INSPECTOR}" / "node_modules" / ".bin" / "mcp-inspector"


def npm_available() -> bool:
    return shutil.which("npm") is not None


def _installed_version(prefix: Path, package: str) -> str | None:
    manifest = prefix / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _npm_install(prefix: Path, spec: str, path: str) -> None:
    prefix.mkdir(parents=True, exist_ok=True)
    command = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", spec]
    done = subprocess.run(command, env={**os.environ, "PATH": path}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ToolchainError(f"npm install {spec} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def install(*, inspector: bool = False) -> Toolchain:
    """Install (or reuse) Node 22 and the suites, and the Inspector if asked; raises ToolchainError."""
    if not npm_available():
        raise ToolchainError("npm is not installed; the conformance suite needs it to install Node 22")
    node_prefix = CACHE / f"node-{NODE}"
    version = _installed_version(node_prefix, "node")
    if version is None or not version.startswith(f"{NODE}."):
        _npm_install(node_prefix, f"node@{NODE}", os.environ.get("PATH", ""))
    path = f"{node_prefix / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    node = subprocess.run(["node", "--version"], env={"PATH": path}, capture_output=True, text=True, check=False)
    if not node.stdout.startswith(f"v{NODE}."):
        raise ToolchainError(f"node@{NODE} did not install a Node {NODE} binary (got {node.stdout or node.stderr!r})")
    packages = [(f"conformance-{v}", "@modelcontextprotocol/conformance", v) for v in SUITES]
    if inspector:
        packages.append((f"inspector-{INSPECTOR}", "@modelcontextprotocol/inspector", INSPECTOR))
    for directory, package, pinned in packages:
        if _installed_version(CACHE / directory, package) != pinned:
            _npm_install(CACHE / directory, f"{package}@{pinned}", path)
    return Toolchain(path=path)
