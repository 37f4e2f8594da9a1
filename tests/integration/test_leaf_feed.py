"""One feed of the log: the tree, verify, bundles and tiles read the ledger the same way.

An event whose model no earlier event registers cannot be given a leaf; every reader meets
it through the feed and reports the same error (`LogDamaged`) naming the sequence.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from api.bootstrap import build_log
from api.settings import Settings
from domain.decisions import Actor
from domain.errors import LogDamaged
from domain.ledger import Ledger
from domain.lifecycle import ModelLifecycle
from projections.translog.bundle import export_bundle
from projections.translog.checkpoint import verifier_key
from projections.translog.feed import leaf_feed
from projections.translog.keys import create_signing_key, load_signing_key
from projections.translog.tiles import leaf_bytes
from projections.translog.verify import verify_log
from tests.support import doc, parse, register, unique


def _signal(model: str) -> dict:  # type: ignore[type-arg]
    return doc(
        "record_signal",
        model,
        kind="research_use",
        period_start="2025-01-01",
        period_end="2025-01-31",
        value=1.0,
        unit="count",
    )


def test_the_feed_numbers_names_and_hashes_every_event(ledger: Ledger, database_url: str) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_signal(model)))
    log = build_log(Settings(database_url=database_url), ledger)
    log.catch_up()

    entries = list(leaf_feed(ledger))

    assert [e.sequence for e in entries] == [0, 1]
    assert [e.model for e in entries] == [model, model]
    assert [e.registers_model for e in entries] == [True, False]
    # The tiles read the same bytes the tree hashed.
    assert leaf_bytes(log, 0, 2) == [e.leaf for e in entries]


def test_an_event_of_an_unregistered_model_is_the_same_damage_everywhere(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    log = build_log(Settings(database_url=database_url), ledger)
    log.catch_up()
    # Written below the ledger, as a damaged or forged store would hold it.
    ledger.recorder.insert_events([ledger.mapper.to_stored_event(_stray_event(ledger, model))])

    with pytest.raises(LogDamaged, match="sequence 1: .* which no earlier event registers"):
        list(leaf_feed(ledger))
    with pytest.raises(LogDamaged, match="sequence 1"):
        log.catch_up()
    key_path = tmp_path / "signing.key"
    create_signing_key(key_path, "reliquary.test/ledger")
    key = load_signing_key(key_path)
    report = verify_log(log, verifier_key(key))
    assert not report.ok
    assert report.first_bad_sequence == 1
    with pytest.raises(LogDamaged, match="sequence 1"):
        export_bundle(log, tmp_path / "bundle", key, verifier_key(key))


def _stray_event(ledger: Ledger, model: str) -> ModelLifecycle.Event:
    """A signal event for a model id that nothing registered."""
    release = ledger.state(model).release_date
    return ModelLifecycle.SignalRecorded(  # type: ignore[call-arg]
        originator_id=uuid.uuid4(),
        originator_version=2,
        timestamp=ModelLifecycle.Event.create_timestamp(),
        actor=Actor("curator-1", "curator", "operator"),
        rationale="stray",
        evidence=(),
        effective_at=None,
        disclosure=2,
        kind="research_use",
        period_start=release,
        period_end=release,
        value=1.0,
        unit="count",
        corrects=False,
        correction_reason=None,
    )
