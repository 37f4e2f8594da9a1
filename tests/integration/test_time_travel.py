"""Time travel: a model's state at a past version or moment is a replay up to that point."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import CommandRejected, ModelNotFound, VersionNotFound
from domain.ledger import Ledger
from tests.support import doc, parse, preserve, register, unique


def _scheduled(ledger: Ledger, model: str) -> None:
    ledger.execute(
        parse(doc("schedule_retirement", model, retirement_date="2025-06-01", reasons=["cost"]))
    )


def test_state_at_each_version_is_what_it_was(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    _scheduled(ledger, model)
    ledger.execute(parse(preserve(model)))

    # Version 1: just registered; version 2: scheduled, no weights yet; version 3: preserved.
    assert ledger.state_as_of(model, version=1).status == "registered"
    at_two = ledger.state_as_of(model, version=2)
    assert (at_two.status, at_two.weights) == ("retirement_scheduled", None)
    assert ledger.state_as_of(model, version=3).weights is not None
    # The latest version is the current state.
    assert ledger.state_as_of(model, version=3) == ledger.state(model)


def test_state_as_of_a_moment_uses_the_recorded_time(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    _scheduled(ledger, model)

    assert ledger.state_as_of(model, at=between).version == 1
    assert ledger.state_as_of(model, at=datetime.now(UTC)).version == 2
    # Before the model existed, there is nothing to show, and the error says so.
    with pytest.raises(VersionNotFound, match="not yet registered"):
        ledger.state_as_of(model, at=between - timedelta(days=1))


def test_time_travel_refuses_what_does_not_exist(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    with pytest.raises(VersionNotFound, match="versions 1 to 1"):
        ledger.state_as_of(model, version=5)
    with pytest.raises(VersionNotFound):
        ledger.state_as_of(model, version=0)
    with pytest.raises(ModelNotFound):
        ledger.state_as_of(unique(), version=1)
    with pytest.raises(CommandRejected, match="time zone"):
        ledger.state_as_of(model, at=datetime(2025, 1, 1))  # noqa: DTZ001 (naive on purpose)


def test_history_stops_at_the_version_asked(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    _scheduled(ledger, model)
    events = ledger.history(model, up_to_version=1)
    assert [type(e).__name__ for e in events] == ["ModelRegistered"]
    assert len(ledger.history(model)) == 2
