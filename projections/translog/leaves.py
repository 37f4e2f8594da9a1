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

from typing import Any
from uuid import UUID

import rfc8785
from eventsourcing.persistence import StoredEvent, Transcoder

from projections.records import jsonable

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


def leaf_record(
    stored: StoredEvent, transcoder: Transcoder, *, model: str, sequence: int
) -> dict[str, Any]:
    """The public record of one stored event, at its position in the ledger."""
    state: dict[str, Any] = transcoder.decode(stored.state)
    effective_at = state.get("effective_at")
    return {
        "sequence": sequence,
        "model": model,
        "model_id": str(_uuid(stored.originator_id)),
        "version": stored.originator_version,
        "type": event_type(stored.topic),
        "topic": stored.topic,
        "class_version": state.get("class_version", 1),
        "recorded_at": jsonable(state["timestamp"]),
        "effective_at": jsonable(effective_at) if effective_at is not None else None,
        "actor": jsonable(state["actor"]),
        "rationale": state["rationale"],
        "evidence": jsonable(state["evidence"]),
        "facts": {
            name: jsonable(value)
            for name, value in sorted(state.items())
            if name not in _ENVELOPE and name not in _NOT_A_FACT
        },
    }


def canonical_bytes(record: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) canonical JSON: the exact bytes a leaf hashes."""
    return rfc8785.dumps(record)


def registered_name(stored: StoredEvent, transcoder: Transcoder) -> str | None:
    """The model name a ``ModelRegistered`` event carries, or None for any other event."""
    if stored.originator_version != 1:
        return None
    name = transcoder.decode(stored.state).get("name")
    return name if isinstance(name, str) else None


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
