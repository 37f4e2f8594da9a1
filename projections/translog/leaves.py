"""A leaf of the transparency log: the RFC 8785 canonical JSON of an event's public record.

The record is computed from the stored event alone (its topic and its stored state, decoded
but never upcast), so it stays the same for as long as the stored bytes do, whatever later
code does with the event, and anyone holding the events can recompute every leaf. Its fields:

``sequence`` (the leaf index: the event's position in ledger order, from 0), ``model``,
``model_id``, ``version`` (the model's own version number), ``type``, ``topic``,
``class_version``, ``recorded_at``, ``effective_at``, ``actor``, ``rationale``, ``evidence``
and ``facts`` (the event's own fields). See docs/transparency.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import rfc8785
from eventsourcing.persistence import StoredEvent

# Fields of the stored state that the record lifts out of ``facts``.
_ENVELOPE = frozenset(
    {"timestamp", "actor", "rationale", "evidence", "effective_at", "class_version"}
)
# The creation event also stores the aggregate's topic, which is the same for every model.
_NOT_A_FACT = frozenset({"originator_topic"})


def event_type(topic: str) -> str:
    """The event's type from its topic (``reliquary/WeightsPreserved/v1``: ``WeightsPreserved``)."""
    parts = topic.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "reliquary" else topic


def leaf_record(stored: StoredEvent, *, model: str, sequence: int) -> dict[str, Any]:
    """The public record of one stored event, at its position in the ledger.

    The stored state is read as the JSON it is, each transcoded value (the library's
    ``{"_type_": name, "_data_": value}``) turned into its public form by `public_value`.
    Reading the stored JSON directly keeps the record independent of upcasters and codecs.
    """
    state: dict[str, Any] = orjson.loads(stored.state)
    effective_at = state.get("effective_at")
    return {
        "sequence": sequence,
        "model": model,
        "model_id": str(_uuid(stored.originator_id)),
        "version": stored.originator_version,
        "type": event_type(stored.topic),
        "topic": stored.topic,
        "class_version": state.get("class_version", 1),
        "recorded_at": public_value(state["timestamp"]),
        "effective_at": public_value(effective_at) if effective_at is not None else None,
        "actor": public_value(state["actor"]),
        "rationale": state["rationale"],
        "evidence": public_value(state["evidence"]),
        "facts": {
            name: public_value(value)
            for name, value in sorted(state.items())
            if name not in _ENVELOPE and name not in _NOT_A_FACT
        },
    }


def public_value(value: Any) -> Any:
    """A stored JSON value in its public form: transcoded values unwrapped (see codec.py)."""
    if isinstance(value, dict):
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return _UNWRAP[value["_type_"]](value["_data_"])
        return {key: public_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [public_value(item) for item in value]
    return value


def _utc_moment(text: str) -> str:
    # Stored as Python's isoformat() of an aware date-time; shown in UTC with a Z.
    if text.endswith("+00:00"):  # the ledger's own clock writes UTC: skip the parse
        return text[:-6] + "Z"
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _manifest_file(data: list[Any]) -> dict[str, Any]:
    path, size, sha256 = data
    return {"path": path, "size": size, "sha256": sha256}


# The public form of each transcoding the ledger registers (domain/codec.py and the library's).
_UNWRAP: dict[str, Any] = {
    "datetime_iso": _utc_moment,
    "date_iso": str,
    "uuid_hex": lambda data: str(UUID(data)),
    "decimal_str": str,
    "actor": public_value,
    "evidence": public_value,
    "channel": public_value,
    "differing_file": public_value,
    "file": _manifest_file,
}


def canonical_bytes(record: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) canonical JSON: the exact bytes a leaf hashes.

    orjson writes strings, integers, literals and sorted ASCII keys exactly as JCS does (a
    property test checks this against the ``rfc8785`` library), so only floats, whose JCS
    form is ECMAScript's, are formatted by ``rfc8785``; a record with a non-ASCII key (JCS
    sorts keys by UTF-16 code units) goes to ``rfc8785`` whole.
    """
    try:
        prepared = _prepare(record)
    except _NotFast:
        return rfc8785.dumps(record)
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


def registered_name(stored: StoredEvent) -> str | None:
    """The model name a ``ModelRegistered`` event carries, or None for any other event."""
    if stored.originator_version != 1:
        return None
    name = orjson.loads(stored.state).get("name")
    return name if isinstance(name, str) else None


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
