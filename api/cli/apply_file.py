"""Apply a JSON Lines stream of command documents, one transaction per line, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from domain.authority import Authentication
from domain.commands import parse_command
from domain.errors import LedgerError
from domain.ledger import Ledger


class LineRefused(Exception):
    """A line was malformed or refused; the lines before it stay applied."""

    def __init__(self, line: int, reason: str, applied: int) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason
        self.applied = applied


def read_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, bytes) for each non-blank line."""
    for number, raw in enumerate(stream, start=1):
        if raw.strip():
            yield number, raw


def apply_lines(
    ledger: Ledger,
    lines: Iterable[tuple[int, bytes]],
    on_applied: Callable[[int], None] | None = None,
) -> int:
    """Apply each line as one command; raise `LineRefused` at the first that fails."""
    applied = 0
    for number, raw in lines:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise LineRefused(number, f"not valid UTF-8 at byte {error.start}", applied) from None
        try:
            ledger.execute(parse_command(text), authentication=Authentication.OPERATOR)
        except LedgerError as error:
            raise LineRefused(number, str(error), applied) from None
        applied += 1
        if on_applied:
            on_applied(1)
    return applied
