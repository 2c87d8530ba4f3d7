"""A PostgreSQL cluster of the test's own, to stop and start at will (the shared service is never touched).

``initdb`` into a new temporary directory with the installed server binaries, trust authentication,
listening on 127.0.0.1 and a free port, its socket in the same directory. ``initdb`` refuses to run
as root, so under root every server command runs as the ``postgres`` account, which then owns the
directory. ``fsync`` is off: the test stops the server with ``pg_ctl stop -m immediate`` (the server
processes die, the machine does not), and what a committed transaction wrote to the kernel survives
that without a flush to disk.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_loopback_port

__all__ = ["PrivatePostgres", "private_postgres", "server_binaries"]

#: Where Debian and Ubuntu install the server binaries, one folder per major version.
DEBIAN_PREFIX = Path("/usr/lib/postgresql")


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: ``LEDGERGATE_TEST_PG_BIN``, the newest Debian-style
    install, or the ``PATH``; None when there is none."""
    configured = os.environ.get("LEDGERGATE_TEST_PG_BIN")
    if configured:
        return Path(configured)
    versions = sorted(
        (p for p in DEBIAN_PREFIX.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass
class PrivatePostgres:
    bin_dir: Path
    root: Path
    port: int
    run_as: str | None  # the account server commands run as (None: this one)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stdout}{result.stderr}")
        return result

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "60", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode == 0


def _account() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, and there is no postgres account to run the server as") from None
    return "postgres"


@contextmanager
def private_postgres(bin_dir: Path) -> Iterator[PrivatePostgres]:
    """A started cluster; stopped (immediately) and removed when the block ends."""
    account = _account()
    root = Path(tempfile.mkdtemp(prefix="lg-pg-"))
    if account is not None:
        entry = pwd.getpwnam(account)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = PrivatePostgres(bin_dir=bin_dir, root=root, port=free_loopback_port(), run_as=account)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.data.exists() and cluster.running():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
