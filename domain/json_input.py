"""JSON input read strictly: an object that names a key twice is refused, at any depth.

RFC 8259 leaves an object with a repeated name to the parser, and most keep the last value, so
``{"rationale": "seen by the reviewer", "rationale": "recorded"}`` would record what nobody
reviewed. Every door refuses such a document instead: `reliquary apply` through
`domain.commands.parse_command`, the HTTP API before its routes read the body.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateKey(ValueError):
    """An object of the document names ``key`` twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key)
        found[key] = value
    return found


def loads(document: str | bytes) -> Any:
    """The JSON value of ``document``, or `DuplicateKey` (or the parser's `ValueError`)."""
    return json.loads(document, object_pairs_hook=_refuse_duplicates)


def duplicate_key(document: str | bytes) -> str | None:
    """The first key that an object of ``document`` names twice, at any depth, or None.

    None too when ``document`` is not JSON at all: the caller's own parser says what is wrong
    with it, in its own words.
    """
    try:
        loads(document)
    except DuplicateKey as error:
        return error.key
    except (ValueError, RecursionError):
        return None
    return None
