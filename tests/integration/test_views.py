"""The views on each backend: what they show, exactly once, resumable, rebuildable."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.bootstrap import build_views
from api.cli.demo import load_demo, scenario_lines
from api.settings import Settings
from domain.commands import parse_command
from domain.ledger import Ledger
from domain.rules import PreferencePolicy
from projections import registers
from projections.runner import ViewRunner
from projections.search import search
from projections.views import model_statuses, timeline
from tests.support import DEMO_EVENTS

SNAPSHOTS = {
    "view_timeline": "SELECT * FROM view_timeline ORDER BY sequence",
    "view_models": "SELECT * FROM view_models ORDER BY model",
    "view_access_requests": "SELECT * FROM view_access_requests ORDER BY model, request_id",
    "view_access_policies": "SELECT * FROM view_access_policies ORDER BY model",
    "view_essays": "SELECT * FROM view_essays ORDER BY model, essay_id",
    "view_interviews": "SELECT * FROM view_interviews ORDER BY model, interview_id",
    "view_preferences": "SELECT * FROM view_preferences ORDER BY model, preference_id",
}


def snapshot(runner: ViewRunner) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view, in a fixed order."""
    tables = {name: runner.recorder.fetch(query) for name, query in SNAPSHOTS.items()}
    if runner.recorder.dialect == "sqlite":
        search_rows = "SELECT rowid, terms, model, type FROM view_search ORDER BY rowid"
    else:
        search_rows = (
            "SELECT sequence, model, type, document::text FROM view_search ORDER BY sequence"
        )
    tables["view_search"] = runner.recorder.fetch(search_rows)
    return tables


@pytest.fixture
def demo_views(database_url: str, ledger: Ledger) -> ViewRunner:
    load_demo(ledger)
    runner = build_views(ledger, Settings(database_url=database_url))
    runner.catch_up()
    return runner


def test_the_views_show_the_demo(demo_views: ViewRunner) -> None:
    recorder = demo_views.recorder
    events = timeline(recorder, limit=1000)
    assert [e.sequence for e in events] == list(range(DEMO_EVENTS))
    assert len(timeline(recorder, model="harbor-7b", limit=1000)) == 15
    assert {e.type for e in timeline(recorder, event_type="EssayVetoed")} == {"EssayVetoed"}
    board = timeline(recorder, role="board", limit=1000)
    assert board
    assert all(e.actor_role == "board" for e in board)
    page = timeline(recorder, limit=10)
    assert timeline(recorder, after=page[-1].sequence, limit=1)[0].sequence == 10

    statuses = {s.model: s.status for s in model_statuses(recorder)}
    assert statuses["claude-opus-3"] == "retired_with_extended_access"
    assert statuses["lumen-4"] == "retirement_scheduled"
    assert statuses["ember-3"] == "retirement_scheduled"

    requests = registers.access_requests(recorder)
    assert len(requests) == 14
    resubmissions = [(r.resubmission_of, r.request_id) for r in requests if r.resubmission_of]
    assert resubmissions == [("opus3-req-007", "opus3-req-008")]
    appealed = [r for r in requests if r.appealed]
    assert appealed
    assert all(r.first_decision == "denied" for r in appealed)
    policies = {p.model: p for p in registers.access_policies(recorder)}
    assert policies["cinder-1"].channels == ()
    assert policies["cinder-1"].final_status == "fully_retired"
    vetoed = [e for e in registers.essays(recorder) if e.status == "vetoed"]
    assert vetoed
    assert vetoed[0].risk_category
    outcomes = {
        p.preference_id: p.outcome for p in registers.preferences(recorder, PreferencePolicy())
    }
    assert outcomes["harbor-pref-keep-serving"] == "declined"


def test_search_ranks_the_justification_that_matches(demo_views: ViewRunner) -> None:
    hits = search(demo_views.recorder, "training-data licence forbids serving")
    assert hits[0].entry.model == "cinder-1"
    assert hits[0].entry.type == "AccessPolicySet"
    only_opus = search(demo_views.recorder, "cost", model="claude-opus-3")
    assert only_opus
    assert {hit.entry.model for hit in only_opus} == {"claude-opus-3"}
    assert search(demo_views.recorder, "   ") == []
    assert search(demo_views.recorder, 'quote" OR NEAR(') is not None  # query syntax is inert


def test_rebuilding_gives_the_same_views(demo_views: ViewRunner) -> None:
    before = snapshot(demo_views)
    demo_views.rebuild()
    assert snapshot(demo_views) == before
    assert all(status.behind == 0 for status in demo_views.status())
    # A page folds what its events change (a row per key, written once): pages of one event
    # and of three end as pages of a thousand do.
    for page in (1, 3):
        demo_views.page = page
        demo_views.rebuild()
        assert snapshot(demo_views) == before, page


@settings(max_examples=8)  # each example replays the scenario and rebuilds every view
@given(cuts=st.lists(st.integers(min_value=1, max_value=110), max_size=6, unique=True))
def test_incremental_with_interruptions_equals_a_rebuild(
    ledger: Ledger, database_url: str, cuts: list[int]
) -> None:
    prefix = f"inc{len(ledger.model_names())}-"
    lines = scenario_lines()
    runner = build_views(ledger, Settings(database_url=database_url))
    runner.page = 7  # small pages, so interruptions fall inside and between them
    # Apply the scenario (under fresh names) in chunks, catching the views up between chunks.
    start = 0
    for cut in [*sorted(cuts), len(lines)]:
        for line in lines[start:cut]:
            command = parse_command(line)
            renamed = {"model": prefix + command.model}
            if getattr(command, "successor", None):  # the successor is renamed with its model
                renamed["successor"] = prefix + command.successor  # type: ignore[attr-defined]
            ledger.execute(command.model_copy(update=renamed))
        runner.catch_up()
        start = cut
    incremental = snapshot(runner)
    runner.rebuild()
    assert snapshot(runner) == incremental


def test_a_crash_inside_a_page_neither_loses_nor_repeats(demo_views: ViewRunner) -> None:
    runner = demo_views
    expected = snapshot(runner)
    view = runner.views["essays"]
    original = view.apply_page
    calls = {"n": 0}

    def failing(cursor: Any, events: Any, contexts: Any, read: Any = None) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second page: part of it written, then the fault
            original(cursor, events[:10], contexts[:10])
            raise RuntimeError("power cut")
        original(cursor, events, contexts, read)

    # Rebuild the essays view in pages of 40; the fault strikes inside the second page.
    runner.page = 40
    view.apply_page = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="power cut"):
        runner.rebuild(["essays"])
    # The first page is in, with its tracking record; nothing of the second.
    first_page = runner.ledger.recorder.select_notifications(None, 40)
    assert runner.recorder.max_tracking_id("essays") == first_page[-1].id
    # Restarted without the fault, the view ends exactly as a rebuild makes it.
    view.apply_page = original  # type: ignore[method-assign]
    runner.catch_up(["essays"])
    assert snapshot(runner) == expected


def test_views_at_different_positions_catch_up_together(database_url: str, ledger: Ledger) -> None:
    lines = scenario_lines()
    runner = build_views(ledger, Settings(database_url=database_url))
    runner.page = 16
    # The timeline takes the first 40 events, the essays view all of them, the others none.
    for line in lines[:40]:
        ledger.execute(parse_command(line))
    assert runner.catch_up(["timeline"]) == 40
    for line in lines[40:]:
        ledger.execute(parse_command(line))
    assert runner.catch_up(["essays"]) == len(lines)
    # Every view takes exactly the events it had not taken, and they end as a rebuild makes them.
    others = len(runner.views) - 2
    assert runner.catch_up() == others * len(lines) + len(lines) - 40
    assert all(status.behind == 0 for status in runner.status())
    caught_up = snapshot(runner)
    runner.rebuild()
    assert snapshot(runner) == caught_up
