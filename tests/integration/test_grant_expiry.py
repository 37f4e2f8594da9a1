"""Expiry as state, on every backend: a grant past its ``expires_on`` reads ``expired``.

The events never change: an approved grant read on a day after its expiry is ``expired`` in
the aggregate's state read as of that day, in the access register and in the model state JSON
(a read now uses today, UTC; a time-travel read uses its moment). The fairness report still
counts it as an approval. Revoking a grant that has expired by the revocation's effective day
is refused (``revoke-after-expiry``) and appends nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from api.bootstrap import build_views
from api.settings import Settings
from domain import errors
from domain.ledger import Ledger
from domain.rules import PreferencePolicy
from projections import registers
from projections.queries import Queries
from tests.support import doc, parse, register, unique

PAST_EXPIRY = date(2025, 3, 1)


def _request(model: str, request_id: str, **extra: Any) -> dict[str, Any]:
    return doc(
        "request_access",
        model,
        role="researcher",
        request_id=request_id,
        requester="R. Searcher",
        organisation="Somewhere",
        requester_group="academic",
        purpose="Study the model.",
        scope="API access.",
        **extra,
    )


def _approve(model: str, request_id: str, expires_on: date, **extra: Any) -> dict[str, Any]:
    return doc(
        "approve_access_request",
        model,
        role="board",
        request_id=request_id,
        terms="Research only.",
        expires_on=expires_on.isoformat(),
        **extra,
    )


def _revoke(model: str, request_id: str, **extra: Any) -> dict[str, Any]:
    return doc("revoke_access", model, role="board", request_id=request_id, reason="x", **extra)


def _today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def grants(ledger: Ledger, database_url: str) -> tuple[Queries, str]:
    """A model with a grant that expired on 2025-03-01 and one expiring in 30 days."""
    model = unique()
    for document in [
        register(model),
        _request(model, "past", effective_at="2025-01-15T00:00:00Z"),
        _approve(model, "past", PAST_EXPIRY, effective_at="2025-02-01T00:00:00Z"),
        _request(model, "future"),
        _approve(model, "future", _today() + timedelta(days=30)),
    ]:
        ledger.execute(parse(document))
    views = build_views(ledger, Settings(database_url=database_url))
    return Queries(ledger, views, PreferencePolicy()), model


def _register_status(queries: Queries, model: str) -> dict[str, str]:
    return {row.request_id: row.status for row in queries.register("access", model)}


def test_a_grant_past_its_expiry_reads_expired_now(grants: tuple[Queries, str]) -> None:
    queries, model = grants
    today = _today()
    requests = queries.ledger.state(model).access_requests
    # The stored state never changes; the status read as of a day does.
    assert requests["past"].status == "approved"
    assert requests["past"].status_as_of(today) == "expired"
    assert requests["future"].status_as_of(today) == "approved"
    assert _register_status(queries, model) == {"past": "expired", "future": "approved"}
    state = queries.model_state(model)
    assert state["access_status_as_of"] == today.isoformat()
    assert state["access_requests"]["past"]["status"] == "expired"
    assert state["access_requests"]["past"]["expires_on"] == PAST_EXPIRY.isoformat()
    assert state["access_requests"]["future"]["status"] == "approved"
    assert queries.history(model).state["access_requests"]["past"]["status"] == "expired"


def test_a_grant_holds_through_its_expiry_day(grants: tuple[Queries, str]) -> None:
    queries, model = grants
    past = queries.ledger.state(model).access_requests["past"]
    assert past.status_as_of(PAST_EXPIRY) == "approved"
    assert past.status_as_of(PAST_EXPIRY + timedelta(days=1)) == "expired"


def test_a_future_grant_reads_expired_as_of_a_later_moment(grants: tuple[Queries, str]) -> None:
    queries, model = grants
    expires_on = _today() + timedelta(days=30)
    later = datetime.combine(expires_on + timedelta(days=1), time(9), UTC)
    future = queries.ledger.state(model).access_requests["future"]
    assert future.status_as_of(expires_on) == "approved"
    assert future.status_as_of(later.date()) == "expired"
    # A time-travel read uses its moment.
    state = queries.model_state(model, at=later)
    assert state["access_status_as_of"] == later.date().isoformat()
    assert state["access_requests"]["future"]["status"] == "expired"
    # The register, read as of that day.
    queries.catch_up()
    rows = registers.access_requests(queries.views.recorder, model, as_of=later.date())
    assert {row.request_id: row.status for row in rows} == {"past": "expired", "future": "expired"}
    # As of a moment before the first expiry, both read approved.
    before = datetime(2025, 2, 15, 12, tzinfo=UTC)
    early = registers.access_requests(queries.views.recorder, model, as_of=before.date())
    assert {row.request_id: row.status for row in early} == {
        "past": "approved",
        "future": "approved",
    }


def test_the_fairness_report_counts_an_expired_grant_as_approved(
    grants: tuple[Queries, str],
) -> None:
    queries, _ = grants
    report = queries.fairness()
    academic = {g.group: g for g in report.access_by_group.groups}["academic"]
    assert (academic.approved, academic.denied, academic.pending) == (2, 0, 0)
    assert academic.approval_rate == 1.0


def test_revoking_an_expired_grant_is_refused_and_appends_nothing(
    grants: tuple[Queries, str],
) -> None:
    queries, model = grants
    ledger = queries.ledger
    version_before = ledger.version_of(model)
    head_before = ledger.recorder.max_notification_id()
    with pytest.raises(errors.RevokeAfterExpiry) as refused:
        ledger.execute(parse(_revoke(model, "past")))
    assert "revoke-after-expiry" in str(refused.value)
    assert refused.value.facts["expires_on"] == PAST_EXPIRY.isoformat()
    # Effective the day after expiry: still refused.
    with pytest.raises(errors.RevokeAfterExpiry):
        ledger.execute(parse(_revoke(model, "past", effective_at="2025-03-02T00:00:00Z")))
    assert ledger.version_of(model) == version_before
    assert ledger.recorder.max_notification_id() == head_before
    assert ledger.state(model).access_requests["past"].status == "approved"


def test_a_revocation_effective_by_the_expiry_day_is_accepted(
    grants: tuple[Queries, str],
) -> None:
    queries, model = grants
    ledger = queries.ledger
    # The revocation's effective day decides, not the day it is recorded.
    ledger.execute(parse(_revoke(model, "past", effective_at="2025-03-01T18:00:00Z")))
    ledger.execute(parse(_revoke(model, "future")))
    requests = ledger.state(model).access_requests
    assert requests["past"].status_as_of(_today()) == "revoked"
    assert requests["future"].status_as_of(_today() + timedelta(days=365)) == "revoked"
    assert _register_status(queries, model) == {"past": "revoked", "future": "revoked"}


def test_the_checklist_counts_an_expired_grant_without_an_anomaly(
    grants: tuple[Queries, str],
) -> None:
    queries, model = grants
    (checklist,) = queries.checklist(model)
    step = next(step for step in checklist.steps if step.name == "grants")
    assert (step.status, step.detail) == (
        "done",
        "1 grant(s) in force, 1 expired (the latest, 'past', on 2025-03-01)",
    )
    # Read as of a day after the other grant's expiry too, both have expired.
    later = datetime.combine(_today() + timedelta(days=31), time(9), UTC)
    (after,) = queries.checklist(model, as_of=later)
    step = next(step for step in after.steps if step.name == "grants")
    assert step.status == "done"
    assert step.detail.startswith("0 grant(s) in force, 2 expired (the latest, 'future'")
