"""What ``pip install ledgergate`` may pick: every runtime dependency has a lower and an upper bound, and the
version the lock tested lies between them."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement

from tests.deploy.test_container import ROOT, canonical, pins


def test_every_runtime_dependency_is_bounded_on_both_sides_around_the_locked_version() -> None:
    locked = pins(ROOT / "requirements.lock")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert declared
    for line in declared:
        requirement = Requirement(line)
        operators = {spec.operator for spec in requirement.specifier}
        assert operators == {"=="} or ({">="} <= operators and "<" in operators), f"{line}: needs >= and < bounds"
        version = locked[canonical(requirement.name)]
        assert requirement.specifier.contains(version), f"{line} excludes the locked {version}"
        assert not re.search(r"[<>=]=?\s*$", line)
