"""One place for how the CLI prints: JSON for machines, tables for people, progress on a TTY.

Data goes to stdout; messages (``OK:``, errors, progress) go to stderr, so a pipe receives
only data. Progress bars show only when stderr is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson


def print_json(data: Any) -> None:
    """Print data as indented JSON on stdout."""
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table for people; tab-separated lines with a header when stdout is a pipe."""
    if not sys.stdout.isatty():
        print(f"# {title}")  # noqa: T201
        print("\t".join(columns))  # noqa: T201
        for row in rows:
            cells = (
                "" if cell is None else str(cell).replace("\t", " ").replace("\n", " ")
                for cell in row
            )
            print("\t".join(cells))  # noqa: T201
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(soft_wrap=False).print(table)


def shown(value: Any) -> Any:
    """A value for a table cell: a sealed value (``{"commitment", "subject"}``, perhaps opened)
    as its opened value, ``[erased]``, or ``[sealed ps:…]`` naming whose it is; anything else
    as it is."""
    if isinstance(value, dict) and "commitment" in value and "subject" in value:
        if "value" in value:
            return value["value"]
        return "[erased]" if value.get("erased") else f"[sealed {value['subject']}]"
    return value


def say(message: str) -> None:
    """Print a message for the person at the terminal, on stderr."""
    print(message, file=sys.stderr)  # noqa: T201


def fail(message: str) -> None:
    """Print an error on stderr."""
    print(message, file=sys.stderr)  # noqa: T201


class Progress:
    """Counts work done; draws a bar with a rate only when stderr is a terminal."""

    def __init__(self, description: str, total: int | None, unit: str) -> None:
        self._bar: Any = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                ProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as RichProgress
            from rich.text import Text

            class RateColumn(ProgressColumn):
                def render(self, task: Any) -> Text:
                    return Text(f"{task.speed or 0:,.0f} {unit}/s")

            self._bar = RichProgress(
                TextColumn(description),
                BarColumn(),
                MofNCompleteColumn(),
                RateColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        """Record that some work was done."""
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def start(self) -> None:
        """Show the bar."""
        if self._bar is not None:
            self._bar.start()

    def stop(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def progress(description: str, total: int | None, unit: str) -> Iterator[Progress]:
    """A progress bar for the duration of a block (silent when piped)."""
    bar = Progress(description, total, unit)
    bar.start()
    try:
        yield bar
    finally:
        bar.stop()
