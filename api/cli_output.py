"""What ``ledgergate`` prints: JSON for scripts, rich tables for people, progress bars on standard error.

Tables go to standard output; when it is not a terminal they are drawn without colour and wide enough
that no id is cut, so ``grep`` and ``awk`` still work. Progress bars go to standard error and only when
it is an interactive terminal (rich's ``TTY_INTERACTIVE=1`` forces them), so they never end up in a log
or in a file a command writes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "counting", "print_json", "progress", "stdout", "table", "when"]

#: wide enough for a table of ids when standard output is a file or a pipe
PIPE_WIDTH = 240


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(file=stream, width=None if terminal else PIPE_WIDTH, soft_wrap=False, highlight=False)


def stdout() -> Console:
    return _console(stderr=False)


def when(iso: str | None) -> str | None:
    """An RFC 3339 time as a table shows it: to the second, ``Z`` for UTC (JSON keeps the full value)."""
    if not iso:
        return iso
    from datetime import datetime, timedelta

    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    utc = moment.utcoffset() == timedelta(0)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if utc else moment.strftime("%z"))


def print_json(data: Any) -> None:
    sys.stdout.write(msgspec.json.encode(data).decode() + "\n")
    sys.stdout.flush()


Column = tuple[str, str]  # (header, justify)


def table(columns: Sequence[str | Column], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """A table of ``rows``; ``None`` cells print as ``-``. Ids never wrap."""
    grid = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        header, justify = column if isinstance(column, tuple) else (column, "left")
        grid.add_column(header, justify=justify, no_wrap=header in ("id", "token id", "stream"), overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        grid.add_row(*("-" if cell is None else str(cell) for cell in row))
    console = stdout()
    if console.is_terminal:
        console.print(grid)
        return
    with console.capture() as captured:  # off a terminal: no trailing blanks for grep, awk and diff
        console.print(grid)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()


@contextmanager
def progress(description: str, total: float | None, unit: str = "") -> Iterator[Any]:
    """A progress bar with counts and rate on standard error; yields ``advance(n)``. Silent off a terminal."""
    console = _console(stderr=True)
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    if unit == "bytes":
        columns += [DownloadColumn(), TransferSpeedColumn()]
    else:
        columns += [MofNCompleteColumn() if total else TextColumn("{task.completed:,.0f}"), TextColumn(unit), _Rate()]
    columns += [TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn()] if total else [TimeElapsedColumn()]
    bar = Progress(*columns, console=console, disable=not console.is_interactive, transient=False)
    with bar:
        task = bar.add_task(description, total=total)

        def advance(amount: float = 1) -> None:
            bar.advance(task, amount)

        yield advance


class _Rate(TextColumn):
    """Items per second, from rich's own speed estimate."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


def counting(lines: Iterable[bytes], advance: Any) -> Iterator[bytes]:
    """Pass lines through, advancing a byte progress bar by each one's length."""
    for line in lines:
        advance(len(line))
        yield line
