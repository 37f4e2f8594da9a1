"""The aggregate's fast copy is a deep copy: changing the copy never changes the original."""

from __future__ import annotations

import copy

from api.cli.demo import load_demo
from domain.ledger import Ledger, justification
from tests.support import doc, parse


def test_copies_are_equal_and_independent(ledger: Ledger) -> None:
    load_demo(ledger)
    for name in ledger.model_names():
        original = ledger.state(name)
        clone = copy.deepcopy(original)
        assert clone == original
        assert clone is not original
        # Change the copy through a command method; the original must not see any of it.
        before = copy.copy(original.__dict__)
        clone.record_signal(
            justification(
                parse(
                    doc(
                        "record_signal",
                        name,
                        role="curator",
                        kind="research_use",
                        period_start="2026-01-01",
                        period_end="2026-01-31",
                        value=1.0,
                        unit="count",
                    )
                )
            ),
            kind="research_use",
            period_start=original.release_date,
            period_end=original.release_date,
            value=1.0,
            unit="count",
        )
        assert clone.version == original.version + 1
        assert original.__dict__ == before
        assert original.pending_events == []
