"""The fairness report as of a moment T, on each backend: what was recorded and in effect then.

The ledger's clock is set by hand, so that decisions are recorded on chosen days: a decision
recorded after T is not counted, nor one recorded before T that takes effect after it; the
report names the ledger position it was computed at; missed essay weeks stop at T.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from eventsourcing.domain import CanCreateTimestamp

from api.bootstrap import build_views
from api.settings import Settings
from domain.ledger import Ledger
from domain.rules import PreferencePolicy
from projections.fairness import report_json, report_markdown
from projections.queries import Queries
from tests.support import doc, parse, register, unique

SHA = "sha256:" + "cd" * 32


class Clock:
    """The ledger's clock, moved by the test."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(CanCreateTimestamp, "create_timestamp", staticmethod(c))
    return c


def _at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


@pytest.fixture
def scenario(database_url: str, ledger: Ledger, clock: Clock) -> tuple[Queries, str]:
    model = unique()

    def run(day: str, document: dict[str, Any]) -> None:
        clock.now = _at(day)
        ledger.execute(parse(document))

    def request(request_id: str, group: str) -> dict[str, Any]:
        return doc(
            "request_access",
            model,
            role="researcher",
            request_id=request_id,
            requester="R. Searcher",
            organisation="Somewhere",
            requester_group=group,
            purpose="Study the model.",
            scope="API access.",
        )

    def draft(essay_id: str) -> dict[str, Any]:
        return doc(
            "draft_essay",
            model,
            role="reviewer",
            essay_id=essay_id,
            title="An essay",
            prompt_ref="https://example.org/prompt",
            content_digest=SHA,
        )

    run("2025-01-06", register(model))  # a Monday: ISO week 2025-W02
    run("2025-01-06", request("req-1", "academic"))
    run("2025-01-06", request("req-2", "industry"))
    run("2025-01-06", request("req-3", "industry"))
    run("2025-01-06", draft("essay-1"))
    board = {"role": "board", "terms": "Research only."}
    run("2025-01-20", doc("approve_access_request", model, request_id="req-1", **board))
    # Recorded on T's day, but in effect only the next morning.
    late = {"effective_at": "2025-02-02T05:00:00Z"}
    run("2025-02-01", doc("approve_access_request", model, request_id="req-3", **board, **late))
    # Recorded after T (2025-02-01).
    deny = {"role": "board", "reason_code": "purpose_out_of_scope", "reason": "Out of scope."}
    run("2025-02-03", doc("deny_access_request", model, request_id="req-2", **deny))
    run("2025-02-10", draft("essay-2"))
    clock.now = None
    views = build_views(ledger, Settings(database_url=database_url))
    return Queries(ledger, views, PreferencePolicy()), model


def _groups(report: Any) -> dict[str, Any]:
    return {g.group: g for g in report.access_by_group.groups}


def test_a_decision_recorded_after_t_or_effective_after_t_does_not_count(
    scenario: tuple[Queries, str],
) -> None:
    queries, _ = scenario
    report = queries.fairness(as_of=date(2025, 2, 1))
    groups = _groups(report)
    assert (groups["academic"].approved, groups["academic"].pending) == (1, 0)
    # req-2's denial was recorded after T; req-3's approval takes effect after T.
    assert (groups["industry"].approved, groups["industry"].denied) == (0, 0)
    assert groups["industry"].pending == 2
    assert report.essay_review.cadence[0].first_draft == date(2025, 1, 6)
    assert report.sources["essays"] == 1  # essay-2 was drafted after T

    later = queries.fairness(as_of=date(2025, 3, 1))
    groups = _groups(later)
    assert (groups["industry"].approved, groups["industry"].denied) == (1, 1)
    assert later.sources["essays"] == 2


def test_the_report_names_its_ledger_position(scenario: tuple[Queries, str]) -> None:
    queries, _ = scenario
    report = queries.fairness(as_of=date(2025, 2, 1))
    position = report.position
    assert position is not None
    assert position.moment == datetime(2025, 2, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert position.log_size == 7  # registered, 3 requests, a draft, 2 approvals
    assert position.events_counted == 6
    assert position.not_yet_in_effect == 1
    assert position.recorded_after == 0
    # The tree the report read: the first 7 events, whose root a checkpoint of size 7 signs.
    assert position.checkpoint_size == 7
    assert position.checkpoint_root
    body = report_json(report)
    assert body["position"]["log_size"] == 7
    assert body["summary"]["source"]["checkpoint_size"] == 7
    page = report_markdown(report, {})
    assert "the log's first 7 event(s)" in page
    assert (
        "reliquary report fairness --bundle BUNDLE --key KEY --as-of 2025-02-01T23:59:59.999999Z"
        " --size 7" in page
    )
    # The same moment, given as a moment, is the same report.
    same = queries.fairness(as_of=datetime(2025, 2, 1, 23, 59, 59, 999999, tzinfo=UTC))
    assert report_json(same) == body

    empty = queries.fairness(as_of=date(2024, 12, 31))
    assert empty.position is not None
    assert (empty.position.log_size, empty.position.checkpoint_size) == (0, 0)
    assert empty.access_by_group.overall.requests == 0


def test_missed_weeks_stop_at_t(scenario: tuple[Queries, str]) -> None:
    queries, _ = scenario
    cadence = queries.fairness(as_of=date(2025, 2, 1)).essay_review.cadence[0]
    # 2025-02-01 is a Saturday: the last week ended by then is 2025-W04 (Jan 20 to 26).
    assert cadence.through_week == "2025-W04"
    assert cadence.missed_weeks == ("2025-W03", "2025-W04")
    now = queries.fairness().essay_review.cadence[0]
    assert now.through_week > "2025-W06"  # without as-of: up to now


def test_the_report_of_now_is_the_report_as_of_now(scenario: tuple[Queries, str]) -> None:
    queries, _ = scenario
    now = queries.fairness()
    assert now.position is not None
    replayed = queries.fairness(as_of=now.position.moment)
    assert replayed.position is not None
    assert (replayed.position.log_size, replayed.position.checkpoint_root) == (
        now.position.log_size,
        now.position.checkpoint_root,
    )
    assert replayed.access_by_group == now.access_by_group
    assert replayed.essay_review == now.essay_review
    assert replayed.criteria_consistency == now.criteria_consistency
    assert replayed.preferences == now.preferences
    assert _groups(now)["industry"].denied == 1
