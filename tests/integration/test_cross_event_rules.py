"""Decisions coherent across events (issue #13, point 1), on every backend.

Each rule refuses a decision that contradicts an earlier one, by name, and appends nothing; the
valid order is accepted. The refusal cases are also part of tests/integration/test_rules.py's
table (`CROSS_EVENT_CASES`), which checks every lifecycle rule has a case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from api.bootstrap import build_ledger
from api.settings import Settings
from domain import errors
from domain.identity import model_id
from domain.ledger import Ledger
from tests.support import doc, interview, parse, preserve, register, stored_manifests, unique

Setup = Callable[[str], list[dict[str, Any]]]
PAST = "2025-05-01T00:00:00Z"
DIGEST = "sha256:" + "cd" * 32


def _request(model: str, **fields: Any) -> dict[str, Any]:
    return doc(
        "request_access",
        model,
        role="researcher",
        request_id="r1",
        requester="dr-a",
        organisation="University",
        requester_group="academic",
        purpose="longitudinal study",
        scope="API access",
        **fields,
    )


def _decision(command: str, model: str, **fields: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {"request_id": "r1"}
    if command == "approve_access_request":
        facts["terms"] = "research only"
    elif command == "deny_access_request":
        facts.update(reason_code="other", reason="no")
    elif command == "revoke_access":
        facts["reason"] = "no"
    elif command == "appeal_access_denial":
        facts["new_facts"] = "IRB approval"
    role = "researcher" if command == "appeal_access_denial" else "board"
    return doc(command, model, role=role, **facts, **fields)


def _draft(model: str, essay_id: str = "e1", **fields: Any) -> dict[str, Any]:
    return doc(
        "draft_essay",
        model,
        role="reviewer",
        essay_id=essay_id,
        title="On endings",
        prompt_ref="https://example.org/prompt",
        content_digest=DIGEST,
        **fields,
    )


def _essay(model: str, verb: str, essay_id: str = "e1", **fields: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {"essay_id": essay_id}
    if verb == "veto_essay":
        facts |= {"risk_category": "dangerous_capabilities", "reason": "uplift"}
    if verb == "publish_essay":
        facts |= {"disclaimer_version": "1", "location": f"https://example.org/{essay_id}"}
    return doc(verb, model, role="reviewer", **facts, **fields)


def _preference(model: str) -> list[dict[str, Any]]:
    return [
        register(model),
        interview(model, "i1", "2025-01-10", "open"),
        doc(
            "record_preference",
            model,
            role="interviewer",
            preference_id="p1",
            statement="wants to share reflections",
            theme="expression",
            interview_ids=["i1"],
        ),
    ]


def _reaffirm(model: str, interview_id: str) -> dict[str, Any]:
    return doc(
        "reaffirm_preference",
        model,
        role="interviewer",
        preference_id="p1",
        interview_id=interview_id,
    )


def _contradict(model: str, interview_id: str) -> dict[str, Any]:
    return doc(
        "contradict_preference",
        model,
        role="interviewer",
        preference_id="p1",
        interview_id=interview_id,
        statement="would rather stay silent",
    )


def _schedule(model: str, successor: str | None = None) -> dict[str, Any]:
    return doc(
        "schedule_retirement",
        model,
        retirement_date="2025-06-01",
        reasons=["cost"],
        successor=successor,
        effective_at=PAST,
    )


def _retire(model: str, final_status: str = "fully_retired", **fields: Any) -> dict[str, Any]:
    return doc("retire_model", model, retired_on="2025-06-01", final_status=final_status, **fields)


def _preserved(model: str) -> dict[str, Any]:
    return {**preserve(model), "effective_at": PAST}


def _policy(model: str, **fields: Any) -> dict[str, Any]:
    channels = [{"channel": "api", "audience": "by_request"}]
    return doc("set_access_policy", model, role="board", channels=channels, **fields)


def _days_from_now(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


Case = tuple[str, Setup, Callable[[str], dict[str, Any]], type[errors.LedgerError]]

CROSS_EVENT_CASES: list[Case] = [
    (
        "decision before its request",
        lambda m: [register(m), _request(m)],
        lambda m: _decision("deny_access_request", m, effective_at=PAST),
        errors.DecisionBeforeItsSubject,
    ),
    (
        "decision effective after the day it is recorded",
        lambda m: [register(m)],
        lambda m: _policy(m, effective_at=_days_from_now(3)),
        errors.EffectiveAfterRecorded,
    ),
    (
        "vetoed content redrafted without naming the veto",
        lambda m: [register(m), _draft(m), _essay(m, "veto_essay")],
        lambda m: _draft(m, "e2"),
        errors.VetoedContentRedrafted,
    ),
    (
        "vetoed content published, approved before the veto",
        lambda m: [
            register(m),
            _draft(m),
            _draft(m, "e2"),
            _essay(m, "approve_essay", "e2"),
            _essay(m, "veto_essay", "e1"),
        ],
        lambda m: _essay(m, "publish_essay", "e2"),
        errors.VetoedContentPublished,
    ),
    (
        "an interview both supports and contradicts",
        _preference,
        lambda m: _contradict(m, "i1"),
        errors.SupportedAndContradicted,
    ),
    (
        "reaffirmed on the same day under another framing",
        lambda m: [*_preference(m), interview(m, "i2", "2025-01-10", "hypothetical")],
        lambda m: _reaffirm(m, "i2"),
        errors.ReaffirmedSameDayOrFraming,
    ),
    (
        "access policy after full retirement",
        lambda m: [register(m), _schedule(m), _preserved(m), _retire(m)],
        _policy,
        errors.PolicyAfterFullRetirement,
    ),
    (
        "the model its own successor",
        lambda m: [register(m)],
        lambda m: _schedule(m, successor=m),
        errors.SuccessorIsSelf,
    ),
    (
        "successor not registered",
        lambda m: [register(m), _schedule(m, successor=unique("absent")), _preserved(m)],
        _retire,
        errors.SuccessorNotRegistered,
    ),
]


@pytest.mark.parametrize(
    ("setup", "offending", "expected"),
    [case[1:] for case in CROSS_EVENT_CASES],
    ids=[case[0] for case in CROSS_EVENT_CASES],
)
def test_a_contradicting_decision_is_refused_and_appends_nothing(
    ledger: Ledger,
    setup: Setup,
    offending: Callable[[str], dict[str, Any]],
    expected: type[errors.LifecycleRuleViolation],
) -> None:
    model = unique()
    for document in setup(model):
        ledger.execute(parse(document))
    version_before = ledger.version_of(model)
    head_before = ledger.recorder.max_notification_id()
    with pytest.raises(expected) as refused:
        ledger.execute(parse(offending(model)))
    assert expected.rule in str(refused.value)
    assert ledger.version_of(model) == version_before
    assert ledger.recorder.max_notification_id() == head_before


# Each: a refused step, then (for contrast) the documents that take the same decisions in a
# coherent order and are all accepted.
MORE_REFUSALS: list[Case] = [
    (
        "appeal before the denial",
        lambda m: [
            register(m),
            _request(m, effective_at=PAST),
            _decision("deny_access_request", m),
        ],
        lambda m: _decision("appeal_access_denial", m, effective_at=PAST),
        errors.DecisionBeforeItsSubject,
    ),
    (
        "revocation before the approval",
        lambda m: [
            register(m),
            _request(m, effective_at=PAST),
            _decision("approve_access_request", m),
        ],
        lambda m: _decision("revoke_access", m, effective_at=PAST),
        errors.DecisionBeforeItsSubject,
    ),
    (
        "essay approved before its draft",
        lambda m: [register(m), _draft(m)],
        lambda m: _essay(m, "approve_essay", effective_at=PAST),
        errors.DecisionBeforeItsSubject,
    ),
    (
        "essay published before its approval",
        lambda m: [register(m), _draft(m, effective_at=PAST), _essay(m, "approve_essay")],
        lambda m: _essay(m, "publish_essay", effective_at=PAST),
        errors.DecisionBeforeItsSubject,
    ),
    (
        "retired before the preservation",
        lambda m: [register(m), _schedule(m), preserve(m)],
        _retire,
        errors.DecisionBeforeItsSubject,
    ),
    (
        "retirement taking effect before the preservation it follows",
        lambda m: [register(m), _schedule(m), preserve(m)],
        # retired_on is today (after the preservation); the decision is dated before it.
        lambda m: {**_retire(m), "retired_on": _days_from_now(0)[:10], "effective_at": PAST},
        errors.DecisionBeforeItsSubject,
    ),
    (
        "archive check before the preservation",
        lambda m: [register(m), preserve(m)],
        lambda m: doc(
            "record_archive_check",
            m,
            location="s3://archive/copy",
            checked_at=_days_from_now(0),
            observed_digest="00" * 32,
            effective_at=PAST,
        ),
        errors.DecisionBeforeItsSubject,
    ),
    (
        "reaffirmed by the interview that contradicted it",
        lambda m: [
            *_preference(m),
            interview(m, "i2", "2025-01-12", "hypothetical"),
            _contradict(m, "i2"),
        ],
        lambda m: _reaffirm(m, "i2"),
        errors.SupportedAndContradicted,
    ),
    (
        "reaffirmed on another day under the same framing",
        lambda m: [*_preference(m), interview(m, "i2", "2025-01-12", "open")],
        lambda m: _reaffirm(m, "i2"),
        errors.ReaffirmedSameDayOrFraming,
    ),
    (
        "a draft names a veto that does not have its content",
        lambda m: [register(m), _draft(m)],
        lambda m: _draft(m, "e2", supersedes_vetoed="e1"),
        errors.VetoedContentRedrafted,
    ),
]


@pytest.mark.parametrize(
    ("setup", "offending", "expected"),
    [case[1:] for case in MORE_REFUSALS],
    ids=[case[0] for case in MORE_REFUSALS],
)
def test_each_subject_is_compared(
    ledger: Ledger,
    setup: Setup,
    offending: Callable[[str], dict[str, Any]],
    expected: type[errors.LifecycleRuleViolation],
) -> None:
    test_a_contradicting_decision_is_refused_and_appends_nothing(ledger, setup, offending, expected)


def test_the_coherent_order_is_accepted(ledger: Ledger) -> None:
    model, successor = unique(), unique("successor")
    documents = [
        register(successor),
        register(model),
        _request(model, effective_at="2025-02-01T00:00:00Z"),
        _decision("deny_access_request", model, effective_at="2025-02-02T00:00:00Z"),
        _decision("appeal_access_denial", model, effective_at="2025-02-03T00:00:00Z"),
        _decision("approve_access_request", model, effective_at="2025-02-04T00:00:00Z"),
        _decision("revoke_access", model, effective_at="2025-02-05T00:00:00Z"),
        *_preference(model)[1:],
        interview(model, "i2", "2025-01-12", "hypothetical"),
        _reaffirm(model, "i2"),
        interview(model, "i3", "2025-01-14", "third_party"),
        _contradict(model, "i3"),
        _schedule(model, successor=successor),
        _preserved(model),
        doc(
            "record_archive_check",
            model,
            location="s3://archive/copy",
            checked_at="2025-05-02T00:00:00Z",
            observed_digest="00" * 32,
            effective_at="2025-05-02T00:00:00Z",
        ),
        _policy(model),
        _retire(model, "retired_with_extended_access"),
        _policy(model),  # allowed: retired with extended access
        # Vetoed content: a new draft names the veto, is approved after it, and is published.
        _draft(model),
        _essay(model, "veto_essay"),
        _draft(model, "e2", supersedes_vetoed="e1"),
        _essay(model, "approve_essay", "e2"),
        _essay(model, "publish_essay", "e2"),
        # A decision effective up to one day after it is recorded is accepted.
        doc(
            "record_signal",
            model,
            kind="research_use",
            period_start="2025-06-01",
            period_end="2025-06-30",
            value=3,
            unit="count",
            effective_at=_days_from_now(0),
        ),
    ]
    for document in documents:
        ledger.execute(parse(document))
    state = ledger.state(model)
    assert state.essays["e2"].status == "published"
    assert state.access_requests["r1"].status == "revoked"
    assert ledger.version_of(model) == len(documents) - 1


def test_an_external_successor_needs_no_registration(ledger: Ledger) -> None:
    model = unique()
    for document in [
        register(model),
        _schedule(model, successor=unique("elsewhere")),
        _preserved(model),
        _retire(model, successor_external=True),
    ]:
        ledger.execute(parse(document))
    assert ledger.state(model).status == "retired"


def test_a_restore_checks_the_successor_against_the_models_restored_before(
    ledger: Ledger, tmp_path: Path
) -> None:
    model, successor = unique(), unique("successor")
    for document in [
        register(successor),
        register(model),
        _schedule(model, successor=successor),
        _preserved(model),
        _retire(model),
    ]:
        ledger.execute(parse(document))
    source = [
        StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
        for n in ledger.notifications_after(0)
    ]
    without_successor = [e for e in source if e.originator_id != model_id(successor)]
    lists = stored_manifests(ledger)

    refused_target = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}"))
    with pytest.raises(errors.BundleRefused) as refused:
        refused_target.restore(lambda: iter(without_successor), manifests=lists)
    assert refused.value.facts["rule"] == errors.SuccessorNotRegistered.rule
    assert not refused_target.recorder.max_notification_id()
    refused_target.close()

    target = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}"))
    assert target.restore(lambda: iter(source), manifests=lists) == len(source)
    assert target.state(model).status == "retired"
    target.close()
