"""Counts a suite reports at the end of the pytest run (requests made, wrongly allowed, ...)."""

from __future__ import annotations

import pytest

__all__ = ["report_count"]


class _CountsSummary:
    name = "ledgergate-suite-counts"

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.section("suite counts")
        for title, line in self.lines.items():
            terminalreporter.write_line(f"{title}: {line}")


def report_count(config: pytest.Config, title: str, line: str) -> None:
    """Show ``title: line`` in the run's closing summary (the latest line per title)."""
    plugin = config.pluginmanager.get_plugin(_CountsSummary.name)
    if plugin is None:
        plugin = _CountsSummary()
        config.pluginmanager.register(plugin, _CountsSummary.name)
    assert isinstance(plugin, _CountsSummary)
    plugin.lines[title] = line
