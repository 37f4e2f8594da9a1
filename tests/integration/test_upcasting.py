"""A version-1 event stored before a schema change is read back as its current version.

`SignalRecorded` gained ``unit`` in class version 2 (docs/events.md, "Evolving an event's
schema"). Events written before that carry neither ``unit`` nor ``class_version`` in their
stored state; the library's mapper sees no ``class_version``, takes it as 1, and runs
``upcast_v1_v2`` before building the event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from domain.commands import parse_command
from domain.decisions import Actor, DifferingFile, Evidence, differing_digest
from domain.identity import model_id
from domain.ledger import Ledger
from domain.lifecycle import ModelLifecycle
from domain.storage import store_for

MODEL = "upcast-model-1"


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger on a fresh SQLite file, built without the composition root."""
    app = Ledger(env=store_for(f"sqlite:///{tmp_path / 'ledger.db'}").env)
    yield app
    app.close()


def _register(ledger: Ledger) -> None:
    ledger.execute(
        parse_command(
            json.dumps(
                {
                    "command": "register_model",
                    "model": MODEL,
                    "actor": {"id": "curator-1", "role": "curator"},
                    "rationale": "enters the ledger before its retirement is planned",
                    "family": "example",
                    "model_version": "1.0",
                    "release_date": "2024-01-15",
                    "developer": "Example Lab",
                }
            )
        )
    )


def _version_1_signal_state(ledger: Ledger, kind: str) -> bytes:
    """The state a version-1 writer stored: no ``unit``, and so no ``class_version`` either."""
    state = {
        "timestamp": datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        "actor": Actor(id="monitor-1", role="curator"),
        "rationale": "monthly monitoring report",
        "evidence": (
            Evidence(uri="https://example.org/reports/2024-02", digest=None, description="report"),
        ),
        "effective_at": None,
        "kind": kind,
        "period_start": date(2024, 2, 1),
        "period_end": date(2024, 2, 29),
        "value": 4.2,
    }
    encoded: bytes = ledger.mapper.transcoder.encode(state)
    assert b'"unit"' not in encoded
    assert b"class_version" not in encoded
    return encoded


def test_a_stored_version_1_signal_is_read_with_its_kind_s_unit(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    # The model is registered through the ledger: version 1 of its lifecycle.
    _register(ledger)
    identifier = model_id(MODEL)

    # A version-1 SignalRecorded is written as an old writer would have: straight into the store.
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=identifier,
                originator_version=2,
                topic="reliquary/SignalRecorded/v1",
                state=_version_1_signal_state(ledger, "user_satisfaction"),
            )
        ]
    )

    # Read back, it is a version-2 event whose unit the upcaster filled in.
    events = list(ledger.events.get(identifier))
    assert [type(event).__name__ for event in events] == ["ModelRegistered", "SignalRecorded"]
    signal = events[1]
    assert isinstance(signal, ModelLifecycle.SignalRecorded)
    assert signal.unit == "score"
    assert signal.kind == "user_satisfaction"
    assert signal.period_end == date(2024, 2, 29)
    assert signal.actor == Actor(id="monitor-1", role="curator")
    assert (signal.corrects, signal.correction_reason) == (False, None)  # upcast v2 -> v3
    assert signal.disclosure == 1  # stored before the disclosure policy was versioned
    assert "class_version" not in vars(signal)

    # Replayed into the aggregate (fast-forwarded past the cached version 1), it counts.
    model: ModelLifecycle = ledger.repository.get(identifier)
    assert model.version == 2
    assert model.signals == 1


def test_a_version_1_signal_of_another_kind_gets_that_kind_s_unit(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    _register(ledger)
    identifier = model_id(MODEL)
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=identifier,
                originator_version=2,
                topic="reliquary/SignalRecorded/v1",
                state=_version_1_signal_state(ledger, "serving_cost"),
            )
        ]
    )

    signal = list(ledger.events.get(identifier, gt=1))[0]
    assert signal.unit == "usd"  # type: ignore[attr-defined]


def test_new_signals_are_stored_as_version_3_and_kept_as_given(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    _register(ledger)
    # A signal recorded now carries its unit, and the mapper marks its state as version 3.
    ledger.execute(
        parse_command(
            json.dumps(
                {
                    "command": "record_signal",
                    "model": MODEL,
                    "actor": {"id": "monitor-1", "role": "curator"},
                    "rationale": "monthly monitoring report",
                    "kind": "user_satisfaction",
                    "period_start": "2024-03-01",
                    "period_end": "2024-03-31",
                    "value": 0.8,
                    "unit": "ratio",
                }
            )
        )
    )
    stored = ledger.recorder.select_events(model_id(MODEL), gt=1)
    assert len(stored) == 1
    state = json.loads(stored[0].state)
    assert state["class_version"] == 3
    assert state["unit"] == "ratio"
    assert (state["corrects"], state["correction_reason"]) == (False, None)

    # The unit given is kept: the upcaster runs only for states older than the class.
    signal = list(ledger.events.get(model_id(MODEL), gt=1))[0]
    assert signal.unit == "ratio"  # type: ignore[attr-defined]
    assert ledger.repository.get(model_id(MODEL)).signals == 1


def test_a_version_1_archive_check_is_read_with_its_count_and_digest(
    sqlite_ledger: Ledger,
) -> None:
    ledger = sqlite_ledger
    _register(ledger)
    identifier = model_id(MODEL)
    files = (
        DifferingFile("weights/b.safetensors", "missing"),
        DifferingFile("weights/a.safetensors", "modified"),
    )
    state = {  # as a version-1 writer stored it: every differing file, no count, no digest
        "timestamp": datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        "actor": Actor(id="curator-1", role="curator"),
        "rationale": "quarterly check of the cold copy",
        "evidence": (),
        "effective_at": None,
        "location": "s3://archive/cold/upcast-model-1",
        "checked_at": datetime(2024, 3, 1, 9, 0, tzinfo=UTC),
        "manifest_digest": "a" * 64,
        "observed_digest": "b" * 64,
        "intact": False,
        "differing_files": files,
    }
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=identifier,
                originator_version=2,
                topic="reliquary/ArchiveVerified/v1",
                state=ledger.mapper.transcoder.encode(state),
            )
        ]
    )

    check = list(ledger.events.get(identifier))[1]
    assert isinstance(check, ModelLifecycle.ArchiveVerified)
    assert check.differing_count == 2
    assert check.differing_digest == differing_digest(files)
    assert (
        check.differing_digest
        == hashlib.sha256(
            b"modified  weights/a.safetensors\nmissing  weights/b.safetensors\n"
        ).hexdigest()
    )
    model: ModelLifecycle = ledger.repository.get(identifier)
    assert model.archive_checks[0].differing_count == 2
