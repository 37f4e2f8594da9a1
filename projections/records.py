"""The public record of a decoded event: the JSON form `history`, the views and pages show.

`event_record` is derived from the event alone: its envelope (who, why, on what evidence, when)
and its facts. The transparency log's leaves carry the same fields but are computed from the
*stored* bytes, never upcast (`projections.translog.leaves`), so that a leaf never changes when
the code that decodes events does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from domain.decisions import Sealed
from domain.lifecycle import ModelLifecycle

if TYPE_CHECKING:
    from domain.sealed import Opened
    from projections.views import TimelineEntry

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
        "disclosure",
    }
)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Convert event and state values to plain JSON types (dates as ISO 8601, UTC ``Z``)."""
    if type(value) in _PLAIN:  # most values: tested first, by exact type (the timeline's rows)
        return value
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
        "disclosure": event.disclosure,
        "facts": event_facts(event),
    }


def opened_record(value: Any, openings: Mapping[str, Opened]) -> Any:
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
            if opened.erased or opened.value is None or opened.opening is None:
                return {**value, "erased": True}
            return {**value, "value": opened.value, "opening": opened.opening.hex()}
        return {key: opened_record(item, openings) for key, item in value.items()}
    if isinstance(value, list):
        return [opened_record(item, openings) for item in value]
    return value


def _is_sealed(value: Any) -> bool:
    """Whether a record's value is a sealed value's public form ``{"commitment", "subject"}``."""
    return (
        isinstance(value, dict)
        and set(value) == {"commitment", "subject"}
        and isinstance(value["commitment"], str)
        and isinstance(value["subject"], str)
    )


def sealed_values(value: Any) -> list[Sealed]:
    """Every sealed value a record holds (in its public form), at any depth, in record order."""
    if _is_sealed(value):
        return [Sealed(value["commitment"], value["subject"])]
    if isinstance(value, dict):
        return [found for item in value.values() for found in sealed_values(item)]
    if isinstance(value, list):
        return [found for item in value for found in sealed_values(item)]
    return []


def shown_decision(entry: TimelineEntry, openings: Mapping[str, Opened]) -> dict[str, Any]:
    """Everything the decision page shows of a decision: its leaf's public form, opened.

    The one structure the page renders and embeds as its claims, so the page cannot show a
    field the browser's check (``api/web/static/verify.js``) does not see. ``facts`` are the
    event's own fields (criteria, channels, files, reasons, ...); ``recorded_at`` and
    ``effective_at`` are moments in UTC. A private value (`domain.disclosure`) is its
    commitment and subject, completed by ``openings`` (`opened_record`): with its value and
    opening where the reader may open it, which the browser recomputes the commitment from, or
    ``"erased": true``; any other stays sealed, as the leaf holds it.
    """
    shown = {
        "sequence": entry.sequence,
        "model": entry.model,
        "version": entry.version,
        "type": entry.type,
        "recorded_at": entry.recorded_at,
        "effective_at": entry.effective_at,
        "actor": {"id": entry.actor_id, "role": entry.actor_role},
        "rationale": entry.rationale,
        "evidence": list(entry.evidence),
        "facts": dict(entry.facts),
    }
    opened: dict[str, Any] = opened_record(shown, openings)
    return opened
