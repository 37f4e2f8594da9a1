"""Apply a JSON Lines stream of command documents, one transaction per line, in order.

A line is one command document, held to the same limit as an HTTP request body
(``RELIQUARY_MAX_DOCUMENT_BYTES``): a longer line is refused without being held in memory
whole or parsed, with its size counted as it is skipped. A line's ``expected_version`` pins the
model version its writer saw: the ledger refuses the line (``stale-version``) if the model is at
another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from domain.authority import Authentication
from domain.commands import parse_command
from domain.errors import LedgerError, StaleVersion
from domain.ledger import Ledger

_SKIP_CHUNK = 64 * 1024


class LineRefused(Exception):
    """A line was malformed or refused; the lines before it stay applied."""

    def __init__(self, line: int, reason: str, applied: int) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason
        self.applied = applied


@dataclass(frozen=True)
class TooLong:
    """A line over the limit, skipped unread: its size in bytes (without its line ending)."""

    size: int
    limit: int

    @property
    def reason(self) -> str:
        """The refusal, in the words `domain.commands.parse_command` uses for it."""
        return f"command document is {self.size} bytes, over the limit of {self.limit} bytes"


def configured_limit() -> int:
    """The largest command document the settings allow (``RELIQUARY_MAX_DOCUMENT_BYTES``)."""
    from api.settings import get_settings

    return get_settings().max_document_bytes


def read_lines(
    stream: BinaryIO, max_bytes: int | None = None
) -> Iterator[tuple[int, bytes | TooLong]]:
    """Yield (line number, bytes) for each non-blank line; `TooLong` for a line over the limit.

    ``max_bytes`` defaults to the configured limit. No more than the limit (and its line
    ending) of a line is held at once.
    """
    limit = configured_limit() if max_bytes is None else max_bytes
    number = 0
    while raw := stream.readline(limit + 2):  # the limit, and "\r\n"
        number += 1
        if raw.endswith(b"\n") or len(raw) < limit + 2:  # the whole line (or the last one)
            content = raw.removesuffix(b"\n").removesuffix(b"\r")
            if len(content) > limit:
                yield number, TooLong(len(content), limit)
            elif content.strip():
                yield number, raw
            continue
        # Over the limit: the rest of the line is counted, not kept.
        size, last = len(raw), raw[-2:]
        while not last.endswith(b"\n"):
            chunk = stream.readline(_SKIP_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            last = (last + chunk)[-2:]
        ending = 2 if last == b"\r\n" else 1 if last.endswith(b"\n") else 0
        yield number, TooLong(size - ending, limit)


def apply_lines(
    ledger: Ledger,
    lines: Iterable[tuple[int, bytes | TooLong]],
    on_applied: Callable[[int], None] | None = None,
    max_bytes: int | None = None,
) -> int:
    """Apply each line as one command; raise `LineRefused` at the first that fails.

    ``max_bytes`` defaults to the configured limit, as for `read_lines`.
    """
    limit = configured_limit() if max_bytes is None else max_bytes
    applied = 0
    for number, raw in lines:
        if isinstance(raw, TooLong):
            raise LineRefused(number, raw.reason, applied)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise LineRefused(number, f"not valid UTF-8 at byte {error.start}", applied) from None
        try:
            command = parse_command(text, max_bytes=limit)
            ledger.execute(
                command,
                authentication=Authentication.OPERATOR,
                expected_version=command.expected_version,
            )
        except StaleVersion as error:
            facts = error.facts
            reason = (
                f"{error.rule}: the line expects model {facts['model']!r} at version "
                f"{facts['expected']} (expected_version), but it is at version {facts['actual']}"
            )
            raise LineRefused(number, reason, applied) from None
        except LedgerError as error:
            raise LineRefused(number, str(error), applied) from None
        applied += 1
        if on_applied:
            on_applied(1)
    return applied
