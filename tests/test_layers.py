"""The layers hold: domain/ is pure, application/ reaches nothing outside itself but through ports, and api/
reaches infrastructure/ only from its composition roots.

Every import is read with ``ast``: at module level, inside functions, under ``TYPE_CHECKING``, relative or not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the modules that build the process and hand the adapters to everything else
COMPOSITION_ROOTS = {"api/app.py", "api/runtime.py", "api/mcp/wiring.py", "api/cli_common.py"}
FORBIDDEN = {
    "domain": {"application", "infrastructure", "api", "projections"},
    "application": {"infrastructure", "api"},
}


def _top(name: str) -> str:
    """The layer a dotted module name is in: ``ledgergate.infrastructure.x`` and ``infrastructure.x`` alike."""
    return name.removeprefix("ledgergate.").split(".")[0]


def imported_packages(path: Path, root: Path = ROOT) -> set[str]:
    """The top-level packages of this project a module imports, wherever in the module the import is."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_top(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                parts = list(path.relative_to(root).with_suffix("").parts)[: -node.level]
                target = [*parts, *(node.module.split(".") if node.module else [])]
                found.add(target[0] if target else "")
            elif node.module:
                found.add(_top(node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(_top(first.value))
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_import_reader_sees_imports_in_functions_under_type_checking_and_relative(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    module = tmp_path / "api" / "probe.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ledgergate.infrastructure.settings import Settings\n"
        "def f():\n    import projections.hot_catalog\n"
        "def g():\n    from . import auth\n"
        "__import__('ledgergate.infrastructure.telemetry')\n"
    )
    assert imported_packages(module, tmp_path) == {"typing", "infrastructure", "projections", "api"}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_inner_layers_import_no_outer_layer(layer: str) -> None:
    offences = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[layer]) for path in _modules(layer)
    }
    assert {module: found for module, found in offences.items() if found} == {}


def test_api_reaches_infrastructure_only_from_the_composition_roots() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _modules("api")
        if str(path.relative_to(ROOT)) not in COMPOSITION_ROOTS and "infrastructure" in imported_packages(path)
    ]
    assert offenders == []


def test_the_composition_roots_exist() -> None:
    """A renamed root would silently widen nothing, but it would leave this test guarding a ghost."""
    assert all((ROOT / root).is_file() for root in COMPOSITION_ROOTS)
