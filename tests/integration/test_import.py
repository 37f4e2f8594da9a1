"""Bulk import: large transactions, the same rules, all-or-nothing per batch."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from api.cli.demo import scenario_lines
from domain import errors
from domain.commands import parse_command
from domain.ledger import Ledger
from tests.support import doc, parse, register, unique


def test_import_gives_the_same_models_as_one_command_at_a_time(open_ledger) -> None:  # type: ignore[no-untyped-def]
    one_by_one, bulk = open_ledger(), open_ledger()
    commands = [parse_command(line) for line in scenario_lines()]
    # Both ledgers share one store, so the bulk copy is imported under other names.
    renamed = [c.model_copy(update={"model": "bulk-" + c.model}) for c in commands]

    for command in commands:
        one_by_one.execute(command)
    batches: list[int] = []
    assert bulk.import_commands(renamed, batch_size=40, on_batch=batches.append) == len(commands)

    assert batches == sorted(batches)
    assert batches[-1] == len(commands)
    names = [name for name in one_by_one.model_names() if not name.startswith("bulk-")]
    assert len(names) >= 3
    for name in names:
        a, b = one_by_one.state(name), bulk.state("bulk-" + name)
        assert (a.version, a.lifecycle_status, a.preferences, a.essays) == (
            b.version,
            b.lifecycle_status,
            b.preferences,
            b.essays,
        )
        # Private fields are sealed under fresh openings: the same person, other commitments.
        assert _unsealed(a.access_requests) == _unsealed(b.access_requests)


def test_a_refused_command_leaves_nothing_of_its_batch(ledger: Ledger) -> None:
    kept, lost = unique(), unique()
    first_batch = [parse(register(kept))]
    second_batch = [
        parse(register(lost)),
        parse(doc("retire_model", lost, retired_on="2025-01-02", final_status="fully_retired")),
    ]
    head = ledger.recorder.max_notification_id() or 0

    with pytest.raises(errors.RetiredWithoutSchedule):
        ledger.import_commands(first_batch + second_batch, batch_size=1)

    # One command per batch: the batches before the refused one were saved, it saved nothing.
    assert ledger.version_of(kept) == 1
    assert ledger.version_of(lost) == 1  # its registration was its own batch
    assert (ledger.recorder.max_notification_id() or 0) == head + 2


def test_a_batch_is_all_or_nothing(ledger: Ledger) -> None:
    model = unique()
    batch = [
        parse(register(model)),
        parse(doc("schedule_retirement", model, retirement_date="2025-06-01", reasons=["x"])),
        parse(doc("retire_model", model, retired_on="2025-06-01", final_status="fully_retired")),
    ]
    with pytest.raises(errors.RetiredBeforePreservation):
        ledger.import_commands(batch, batch_size=100)
    assert ledger.version_of(model) == 0


def test_importing_a_model_that_exists_refuses_the_whole_batch(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    other = unique()
    with pytest.raises(errors.LedgerError, match="nothing of this batch was written"):
        ledger.import_commands([parse(register(other)), parse(register(model))], batch_size=10)
    assert ledger.version_of(other) == 0


def _unsealed(requests: dict[str, Any]) -> dict[str, Any]:
    return {
        key: dataclasses.replace(
            request, requester=request.requester.subject, organisation=request.organisation.subject
        )
        for key, request in requests.items()
    }
