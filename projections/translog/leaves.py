"""A leaf of the transparency log (format 2): an event's stored bytes, in canonical JSON.

A leaf is the RFC 8785 canonical JSON object

    {"leaf": 2, "model_id": "<uuid>", "sequence": <n>, "state": <stored state>,
     "topic": "<topic>", "version": <v>}

where ``state`` is the event's stored state exactly as the ledger stored it: the ledger writes
every state in canonical JSON when it saves it (`domain.codec`), so the leaf is built by
concatenating the stored bytes into the envelope, never by decoding and re-encoding them
(`leaf_bytes`). The leaf covers every byte the event store keeps of the event: its model's id
(``originator_id``), its version, its topic and its whole state (recorded and effective times,
actor, rationale, evidence, the disclosure policy's version it was sealed under, facts, and the
aggregate's topic on a registration). Changing any of
them changes the leaf. ``sequence`` is the event's position in ledger order, from 0. The format
is defined in docs/transparency.md so that anyone can recompute it.

`leaf_fields` reads a leaf back into the public form pages and reviewers show: the type, the
recorded and effective moments in UTC, the actor, rationale, evidence and the event's own facts,
each value object unwrapped from the library's ``{"_type_": .., "_data_": ..}`` form.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent

from domain.canonical import canonical_bytes

LEAF_FORMAT = 2
"""The leaf format's version, the first field of every leaf."""

# Fields of the stored state that the record lifts out of ``facts``.
_ENVELOPE = frozenset(
    {"timestamp", "actor", "rationale", "evidence", "effective_at", "class_version", "disclosure"}
)
# The creation event also stores the aggregate's topic, which is the same for every model.
_NOT_A_FACT = frozenset({"originator_topic"})


def event_type(topic: str) -> str:
    """The event's type from its topic (``reliquary/WeightsPreserved/v1``: ``WeightsPreserved``)."""
    parts = topic.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "reliquary" else topic


_LEAF = b'{"leaf":2,"model_id":"%b","sequence":%d,"state":%b,"topic":%b,"version":%d}'
"""The envelope, in JCS key order, with the stored state spliced in as it is."""


def leaf_bytes(stored: StoredEvent, *, sequence: int) -> bytes:
    """The leaf of one stored event at its position: its canonical envelope and stored state.

    The keys are written in JCS order (``leaf``, ``model_id``, ``sequence``, ``state``,
    ``topic``, ``version``), the stored state spliced in as it is: the result is the JCS form
    of the whole object whenever the stored state is canonical, as the ledger stores it.
    """
    return leaf_of_columns(
        str(_uuid(stored.originator_id)).encode(),
        sequence,
        stored.state,
        orjson.dumps(stored.topic),
        stored.originator_version,
    )


def leaf_of_columns(
    model_id: bytes, sequence: int, state: Any, topic: bytes, version: int
) -> bytes:
    """`leaf_bytes` from the stored columns as a page reader holds them: the model's id in
    text (UTF-8), the stored state (bytes or a buffer), the topic already as a JSON string.
    One formatting of one template: verify builds a million of these (docs/performance.md)."""
    return _LEAF % (model_id, sequence, state, topic, version)


def leaf_fields(leaf: bytes | dict[str, Any]) -> dict[str, Any]:
    """A leaf in its public form: what a page, a report or a reviewer shows of the event.

    ``sequence``, ``model_id``, ``version``, ``type``, ``topic``, ``class_version``,
    ``recorded_at`` and ``effective_at`` (UTC, ``Z``), ``actor``, ``rationale``, ``evidence``,
    ``disclosure`` (the disclosure policy's version the event was sealed under) and ``facts``
    (the event's own fields; a registration's ``name`` among them).
    """
    record: dict[str, Any] = orjson.loads(leaf) if isinstance(leaf, bytes) else leaf
    state: dict[str, Any] = record["state"]
    effective_at = state.get("effective_at")
    return {
        "sequence": record["sequence"],
        "model_id": record["model_id"],
        "version": record["version"],
        "type": event_type(record["topic"]),
        "topic": record["topic"],
        "class_version": state.get("class_version", 1),
        "recorded_at": public_value(state["timestamp"]),
        "effective_at": public_value(effective_at) if effective_at is not None else None,
        "actor": public_value(state["actor"]),
        "rationale": state["rationale"],
        "evidence": public_value(state["evidence"]),
        "disclosure": state.get("disclosure", 1),
        "facts": {
            name: public_value(value)
            for name, value in sorted(state.items())
            if name not in _ENVELOPE and name not in _NOT_A_FACT
        },
    }


def leaf_state(leaf: dict[str, Any]) -> bytes:
    """The stored state a parsed leaf carries, in the canonical bytes the ledger stored."""
    return canonical_bytes(leaf["state"])


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
    "sealed": public_value,
    "file": _manifest_file,
}


def registered_name(stored: StoredEvent) -> str | None:
    """The model name a ``ModelRegistered`` event carries, or None for any other event."""
    if stored.originator_version != 1:
        return None
    name = orjson.loads(stored.state).get("name")
    return name if isinstance(name, str) else None


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


_STATE_KEY = b',"state":'
_TOPIC_KEY = b',"topic":'


def stored_event_of_leaf(leaf: bytes) -> tuple[int, StoredEvent]:
    """The sequence and stored event a leaf was made from, checked to give back this very leaf.

    The state is the leaf's bytes between ``"state":`` and the envelope's ``,"topic":`` (a JSON
    string escapes every quote, so the last ``,"topic":`` is the envelope's), taken as they are:
    no decoding and re-encoding. The leaf is rebuilt from what was read (`leaf_bytes`) and must
    equal the input byte for byte, so a leaf that is not in this format is refused
    (``ValueError``), never half read. The topic is not resolved here: look it up in the
    ledger's catalogue before decoding the event (a topic may name any module).
    """
    start = leaf.find(_STATE_KEY)
    end = leaf.rfind(_TOPIC_KEY)
    if start < 0 or end <= start:
        raise ValueError("not a leaf: no state and topic in it")
    envelope = orjson.loads(leaf[:start] + b"}")
    tail = orjson.loads(b"{" + leaf[end + 1 :])
    if not isinstance(envelope, dict) or not isinstance(tail, dict):
        raise ValueError("not a leaf: the envelope is not a JSON object")
    sequence, model, topic, version = (
        envelope.get("sequence"),
        envelope.get("model_id"),
        tail.get("topic"),
        tail.get("version"),
    )
    if not (isinstance(sequence, int) and isinstance(version, int) and isinstance(topic, str)):
        raise ValueError("not a leaf: its sequence, topic or version is missing")
    stored = StoredEvent(
        originator_id=UUID(str(model)),
        originator_version=version,
        topic=topic,
        state=leaf[start + len(_STATE_KEY) : end],
    )
    if leaf_bytes(stored, sequence=sequence) != leaf:
        raise ValueError("not a leaf of format 2: it does not rebuild to itself")
    return sequence, stored
