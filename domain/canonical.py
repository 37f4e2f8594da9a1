"""RFC 8785 (JCS) canonical JSON: the one byte form of an event's stored state and of a leaf.

The ledger stores each event's state in this form as it saves it (`domain.codec`), so the
transparency log hashes the stored bytes as they are (`projections.translog.leaves`) instead of
re-deriving them, and anyone holding a leaf can recompute its bytes with any JCS library.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON of a JSON value (dicts, lists, str, int, float, bool, None).

    orjson writes strings, integers, literals and sorted ASCII keys exactly as JCS does (a
    property test checks this against the ``rfc8785`` library), so only floats, whose JCS
    form is ECMAScript's, are formatted by ``rfc8785``; a value with a non-ASCII key (JCS
    sorts keys by UTF-16 code units) goes to ``rfc8785`` whole.
    """
    try:
        prepared = _prepare(value)
    except _NotFast:
        return rfc8785.dumps(value)
    return orjson.dumps(prepared, option=orjson.OPT_SORT_KEYS)


class _NotFast(Exception):
    """The value needs the reference implementation."""


_SAFE_INTEGER = 2**53 - 1  # RFC 8785 section 3.2.2.3 (I-JSON): integers beyond are refused


def _prepare(value: Any) -> Any:
    """Floats to their JCS text (as orjson fragments); refuse what orjson would write otherwise."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if not -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
            raise _NotFast
        return value
    if kind is float:
        return orjson.Fragment(rfc8785.dumps(value))
    if kind is dict:
        prepared = {}
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                raise _NotFast
            prepared[key] = _prepare(item)
        return prepared
    if kind is list or kind is tuple:
        return [_prepare(item) for item in value]
    raise _NotFast
