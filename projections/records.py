"""The public record of a decoded event: the JSON form `history` and the views show.

`event_record` is derived from the event alone: its envelope (who, why, on what evidence, when)
and its facts. The transparency log's leaves carry the same fields but are computed from the
*stored* bytes, never upcast (`projections.translog.leaves`), so that a leaf never changes when
the code that decodes events does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from domain.decisions import Sealed
from domain.lifecycle import ModelLifecycle

# Fields every event has that are not facts of the decision itself.
_ENVELOPE = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "actor",
        "rationale",
        "evidence",
        "effective_at",
    }
)


def jsonable(value: Any) -> Any:
    """Convert event and state values to plain JSON types (dates as ISO 8601, UTC ``Z``)."""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Sealed):  # its public form, as in the log: never its value
        return {"commitment": value.commitment, "subject": value.subject}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return value


def _iso(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def event_facts(event: ModelLifecycle.Event) -> dict[str, Any]:
    """The facts of an event: its own fields, without the shared decision fields."""
    return {
        name: jsonable(value)
        for name, value in sorted(vars(event).items())
        if name not in _ENVELOPE and name != "class_version"
    }


def event_record(event: ModelLifecycle.Event, model: str) -> dict[str, Any]:
    """The public record of one lifecycle event of the named model."""
    return {
        "model": model,
        "model_id": str(event.originator_id),
        "version": event.originator_version,
        "type": type(event).__name__,
        "topic": type(event).TOPIC,  # type: ignore[attr-defined]
        "recorded_at": _iso(event.timestamp),
        "effective_at": _iso(event.effective_at) if event.effective_at else None,
        "actor": jsonable(event.actor),
        "rationale": jsonable(event.rationale),
        "evidence": jsonable(event.evidence),
        "facts": event_facts(event),
    }


def opened_record(value: Any, openings: Mapping[str, Any]) -> Any:
    """A record with each sealed value's public form completed by its opening, where given.

    ``openings`` maps a commitment to what the store holds of it (`domain.sealed.Opened`),
    for the commitments the reader may open: the value and its opening (hex), so the reader
    can check them against the leaf, or ``"erased": true``. Other sealed values stay as the
    log shows them.
    """
    if isinstance(value, dict):
        commitment = value.get("commitment")
        if set(value) == {"commitment", "subject"} and isinstance(commitment, str):
            opened = openings.get(commitment)
            if opened is None:
                return value
            if opened.erased or opened.value is None:
                return {**value, "erased": True}
            return {**value, "value": opened.value, "opening": opened.opening.hex()}
        return {key: opened_record(item, openings) for key, item in value.items()}
    if isinstance(value, list):
        return [opened_record(item, openings) for item in value]
    return value
