"""Every lifecycle rule, on every backend: the command is refused by name, nothing is appended."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain import errors
from domain.decisions import Actor, Justification
from domain.ledger import Ledger
from tests.integration.test_cross_event_rules import CROSS_EVENT_CASES
from tests.support import doc, interview, parse, preserve, register, unique

Setup = Callable[[str], list[dict[str, Any]]]


def _scheduled(model: str) -> list[dict[str, Any]]:
    return [
        register(model),
        doc(
            "schedule_retirement",
            model,
            retirement_date="2025-06-01",
            reasons=["cost"],
            effective_at="2025-05-01T00:00:00Z",
        ),
    ]


def _retired(model: str) -> list[dict[str, Any]]:
    return [
        *_scheduled(model),
        # Preserved before the day it retires (a decision takes effect after what it decides).
        {**preserve(model), "effective_at": "2025-05-01T00:00:00Z"},
        doc("retire_model", model, retired_on="2025-06-01", final_status="fully_retired"),
    ]


def _with_request(model: str) -> list[dict[str, Any]]:
    return [register(model), _request(model, "r1")]


def _request(model: str, request_id: str) -> dict[str, Any]:
    return doc(
        "request_access",
        model,
        role="researcher",
        request_id=request_id,
        requester="dr-a",
        organisation="University",
        requester_group="academic",
        purpose="longitudinal study",
        scope="API access",
    )


def _resubmit(model: str, of: str = "r1", request_id: str = "r2", **who: Any) -> dict[str, Any]:
    return {**_request(model, request_id), "resubmission_of": of, **who}


def _deny(model: str, request_id: str = "r1") -> dict[str, Any]:
    return doc(
        "deny_access_request",
        model,
        role="board",
        request_id=request_id,
        reason_code="other",
        reason="no",
    )


def _approve(model: str, request_id: str = "r1") -> dict[str, Any]:
    return doc(
        "approve_access_request", model, role="board", request_id=request_id, terms="research only"
    )


def _appeal(model: str, request_id: str = "r1") -> dict[str, Any]:
    return doc(
        "appeal_access_denial", model, role="researcher", request_id=request_id, new_facts="IRB"
    )


def _draft(model: str, essay_id: str = "e1") -> dict[str, Any]:
    return doc(
        "draft_essay",
        model,
        role="reviewer",
        essay_id=essay_id,
        title="On endings",
        prompt_ref="https://example.org/prompt",
        content_digest="sha256:" + "cd" * 32,
    )


def _essay(model: str, verb: str, essay_id: str = "e1") -> dict[str, Any]:
    fields: dict[str, Any] = {"essay_id": essay_id}
    if verb == "veto_essay":
        fields |= {"risk_category": "dangerous_capabilities", "reason": "uplift"}
    if verb == "publish_essay":
        fields |= {"disclaimer_version": "1", "location": "https://example.org/e1"}
    return doc(verb, model, role="reviewer", **fields)


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


def _decide(model: str, outcome: str = "honored") -> dict[str, Any]:
    return doc(
        "decide_preference",
        model,
        role="board",
        preference_id="p1",
        outcome=outcome,
        cost_assessment="low",
        safety_assessment="low risk",
    )


CASES: list[tuple[str, Setup, Callable[[str], dict[str, Any]], type[errors.LedgerError]]] = [
    ("register twice", lambda m: [register(m)], register, errors.ModelAlreadyRegistered),
    (
        "retire before preservation",
        _scheduled,
        lambda m: doc("retire_model", m, retired_on="2025-06-01", final_status="fully_retired"),
        errors.RetiredBeforePreservation,
    ),
    (
        "retire without schedule",
        lambda m: [register(m), preserve(m)],
        lambda m: doc("retire_model", m, retired_on="2025-06-01", final_status="fully_retired"),
        errors.RetiredWithoutSchedule,
    ),
    (
        "retire twice",
        _retired,
        lambda m: doc("retire_model", m, retired_on="2025-07-01", final_status="fully_retired"),
        errors.ModelAlreadyRetired,
    ),
    (
        "schedule after retirement",
        _retired,
        lambda m: doc("schedule_retirement", m, retirement_date="2025-09-01", reasons=["x"]),
        errors.ModelAlreadyRetired,
    ),
    (
        "extended access without policy",
        lambda m: [*_scheduled(m), preserve(m)],
        lambda m: doc(
            "retire_model", m, retired_on="2025-06-01", final_status="retired_with_extended_access"
        ),
        errors.ExtendedAccessWithoutPolicy,
    ),
    (
        "retirement before release",
        lambda m: [register(m)],
        lambda m: doc("schedule_retirement", m, retirement_date="2023-01-01", reasons=["x"]),
        errors.IncoherentDates,
    ),
    (
        "decision effective before release",
        lambda m: [register(m)],
        lambda m: doc(
            "schedule_retirement",
            m,
            retirement_date="2025-01-01",
            reasons=["x"],
            effective_at="2020-01-01T00:00:00Z",
        ),
        errors.IncoherentDates,
    ),
    (
        "signal period ends before it starts",
        lambda m: [register(m)],
        lambda m: doc(
            "record_signal",
            m,
            kind="serving_cost",
            period_start="2025-02-01",
            period_end="2025-01-01",
            value=3.0,
            unit="usd",
        ),
        errors.IncoherentDates,
    ),
    (
        "signal in a unit its kind is not measured in",
        lambda m: [register(m)],
        lambda m: doc(
            "record_signal",
            m,
            kind="serving_cost",
            period_start="2025-01-01",
            period_end="2025-01-31",
            value=3.0,
            unit="eur",
        ),
        errors.SignalUnitMismatch,
    ),
    (
        "negative signal",
        lambda m: [register(m)],
        lambda m: doc(
            "record_signal",
            m,
            kind="serving_cost",
            period_start="2025-01-01",
            period_end="2025-01-31",
            value=-3.0,
            unit="usd",
        ),
        errors.SignalNegative,
    ),
    (
        "second value for a period without correcting",
        lambda m: [
            register(m),
            doc(
                "record_signal",
                m,
                kind="serving_cost",
                period_start="2025-01-01",
                period_end="2025-01-31",
                value=3.0,
                unit="usd",
            ),
        ],
        lambda m: doc(
            "record_signal",
            m,
            kind="serving_cost",
            period_start="2025-01-01",
            period_end="2025-01-31",
            value=4.0,
            unit="usd",
        ),
        errors.SignalPeriodTaken,
    ),
    (
        "correction of a period with no value",
        lambda m: [register(m)],
        lambda m: doc(
            "record_signal",
            m,
            kind="serving_cost",
            period_start="2025-01-01",
            period_end="2025-01-31",
            value=4.0,
            unit="usd",
            corrects=True,
            correction_reason="Recounted.",
        ),
        errors.SignalNothingToCorrect,
    ),
    (
        "manifest digest does not match files",
        lambda m: [register(m)],
        lambda m: {
            **preserve(m),
            "manifest": {**preserve(m)["manifest"], "manifest_digest": "0" * 64},
        },
        errors.ManifestDigestMismatch,
    ),
    (
        "OMS root does not match files",
        lambda m: [register(m)],
        lambda m: {**preserve(m), "oms_root_digest": "0" * 64},
        errors.OmsRootMismatch,
    ),
    (
        "interview dated in the future",
        lambda m: [register(m)],
        lambda m: interview(m, "i1", "2999-01-01"),
        errors.IncoherentDates,
    ),
    (
        "archive check dated before the preservation it checks",
        lambda m: [register(m), preserve(m)],
        lambda m: doc(
            "record_archive_check",
            m,
            location="s3://copy",
            checked_at="2024-05-01T00:00:00Z",
            observed_digest="0" * 64,
        ),
        errors.IncoherentDates,
    ),
    (
        "archive check without preservation",
        lambda m: [register(m)],
        lambda m: doc(
            "record_archive_check",
            m,
            location="s3://copy",
            checked_at="2025-03-01T00:00:00Z",
            observed_digest="0" * 64,
        ),
        errors.ArchiveCheckWithoutPreservation,
    ),
    (
        "interview id used twice",
        lambda m: [register(m), interview(m, "i1", "2025-01-10")],
        lambda m: interview(m, "i1", "2025-01-11"),
        errors.DuplicateIdentifier,
    ),
    (
        "preference from an unrecorded interview",
        lambda m: [register(m)],
        lambda m: doc(
            "record_preference",
            m,
            role="interviewer",
            preference_id="p1",
            statement="s",
            theme="t",
            interview_ids=["nope"],
        ),
        errors.InterviewNotRecorded,
    ),
    (
        "decide an unrecorded preference",
        lambda m: [register(m)],
        _decide,
        errors.PreferenceNotRecorded,
    ),
    (
        "reaffirm an unrecorded preference",
        lambda m: [register(m), interview(m, "i1", "2025-01-10")],
        lambda m: doc(
            "reaffirm_preference", m, role="interviewer", preference_id="p9", interview_id="i1"
        ),
        errors.PreferenceNotRecorded,
    ),
    (
        "reaffirm in the same interview",
        _preference,
        lambda m: doc(
            "reaffirm_preference", m, role="interviewer", preference_id="p1", interview_id="i1"
        ),
        errors.ReaffirmedInSameInterview,
    ),
    (
        "decide a preference twice",
        lambda m: [*_preference(m), _decide(m)],
        lambda m: _decide(m, "declined"),
        errors.PreferenceAlreadyDecided,
    ),
    (
        "decide an unknown request",
        lambda m: [register(m)],
        _approve,
        errors.AccessRequestNotFound,
    ),
    (
        "approve a denied request",
        lambda m: [*_with_request(m), _deny(m)],
        _approve,
        errors.RequestAlreadyDecided,
    ),
    (
        "deny an approved request",
        lambda m: [*_with_request(m), _approve(m)],
        _deny,
        errors.RequestAlreadyDecided,
    ),
    (
        "decide a third time after an appeal",
        lambda m: [*_with_request(m), _deny(m), _appeal(m), _deny(m)],
        _approve,
        errors.RequestAlreadyDecided,
    ),
    (
        "appeal a pending request",
        _with_request,
        _appeal,
        errors.AppealWithoutDenial,
    ),
    (
        "appeal a denial answered by a resubmission",
        lambda m: [*_with_request(m), _deny(m), _resubmit(m)],
        _appeal,
        errors.AppealWithoutDenial,
    ),
    (
        "resubmit a pending request",
        _with_request,
        _resubmit,
        errors.ResubmissionWithoutDenial,
    ),
    (
        "resubmit a denial under appeal",
        lambda m: [*_with_request(m), _deny(m), _appeal(m)],
        _resubmit,
        errors.ResubmissionWithoutDenial,
    ),
    (
        "resubmit an approved request",
        lambda m: [*_with_request(m), _approve(m)],
        _resubmit,
        errors.ResubmissionWithoutDenial,
    ),
    (
        "resubmit a request that was never made",
        _with_request,
        lambda m: _resubmit(m, of="r9"),
        errors.AccessRequestNotFound,
    ),
    (
        "resubmit another actor's denied request",
        lambda m: [*_with_request(m), _deny(m)],
        lambda m: _resubmit(m, actor={"id": "researcher-2", "role": "researcher"}),
        errors.ResubmissionByAnother,
    ),
    (
        "resubmit the same denial twice",
        lambda m: [*_with_request(m), _deny(m), _resubmit(m)],
        lambda m: _resubmit(m, request_id="r3"),
        errors.ResubmissionRepeated,
    ),
    (
        "erase a person who made no request on the model",
        _with_request,
        lambda m: doc("erase_subject", m, role="board", subject="someone-else"),
        errors.SubjectWithoutRequest,
    ),
    (
        "erase a person twice on one model",
        lambda m: [
            *_with_request(m),
            doc("erase_subject", m, role="board", subject="researcher-1"),
        ],
        lambda m: doc("erase_subject", m, role="board", subject="researcher-1"),
        errors.SubjectAlreadyErased,
    ),
    (
        "appeal twice",
        lambda m: [*_with_request(m), _deny(m), _appeal(m), _deny(m)],
        _appeal,
        errors.AppealWithoutDenial,
    ),
    (
        "expiry before the decision",
        _with_request,
        lambda m: {
            **_approve(m),
            "expires_on": "2025-01-01",
            "effective_at": "2025-02-01T00:00:00Z",
        },
        errors.IncoherentDates,
    ),
    (
        "revoke a denied request",
        lambda m: [*_with_request(m), _deny(m)],
        lambda m: doc("revoke_access", m, role="board", request_id="r1", reason="x"),
        errors.RevokeWithoutGrant,
    ),
    (
        "revoke twice",
        lambda m: [
            *_with_request(m),
            _approve(m),
            doc("revoke_access", m, role="board", request_id="r1", reason="x"),
        ],
        lambda m: doc("revoke_access", m, role="board", request_id="r1", reason="x"),
        errors.RevokeWithoutGrant,
    ),
    (
        "revoke an expired grant",
        lambda m: [
            register(m),
            {**_request(m, "r1"), "effective_at": "2025-01-15T00:00:00Z"},
            {**_approve(m), "expires_on": "2025-03-01", "effective_at": "2025-02-01T00:00:00Z"},
        ],
        lambda m: doc("revoke_access", m, role="board", request_id="r1", reason="x"),
        errors.RevokeAfterExpiry,
    ),
    (
        "approve an essay never drafted",
        lambda m: [register(m)],
        lambda m: _essay(m, "approve_essay"),
        errors.EssayNotDrafted,
    ),
    (
        "publish without approval",
        lambda m: [register(m), _draft(m)],
        lambda m: _essay(m, "publish_essay"),
        errors.EssayPublishedWithoutApproval,
    ),
    (
        "publish after veto",
        lambda m: [register(m), _draft(m), _essay(m, "veto_essay")],
        lambda m: _essay(m, "publish_essay"),
        errors.EssayPublishedAfterVeto,
    ),
    (
        "approve after veto",
        lambda m: [register(m), _draft(m), _essay(m, "veto_essay")],
        lambda m: _essay(m, "approve_essay"),
        errors.EssayAlreadyReviewed,
    ),
    (
        "publish twice",
        lambda m: [
            register(m),
            _draft(m),
            _essay(m, "approve_essay"),
            _essay(m, "publish_essay"),
        ],
        lambda m: _essay(m, "publish_essay"),
        errors.EssayAlreadyPublished,
    ),
    *CROSS_EVENT_CASES,
    (
        "command for an unregistered model",
        lambda m: [],
        lambda m: _draft(m),
        errors.ModelNotFound,
    ),
]


@pytest.mark.parametrize(
    ("setup", "offending", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rule_is_refused_and_nothing_is_appended(
    ledger: Ledger,
    setup: Setup,
    offending: Callable[[str], dict[str, Any]],
    expected: type[errors.LedgerError],
) -> None:
    model = unique()
    # Given a model in the state the rule is about,
    for document in setup(model):
        ledger.execute(parse(document))
    version_before = ledger.version_of(model)
    head_before = ledger.recorder.max_notification_id()

    # the offending command is refused with the rule's own error,
    with pytest.raises(expected) as refused:
        ledger.execute(parse(offending(model)))

    # whose message names the rule,
    if issubclass(expected, errors.LifecycleRuleViolation):
        assert expected.rule in str(refused.value)
    # and nothing was appended: not to the model, not to the log.
    assert ledger.version_of(model) == version_before
    assert ledger.recorder.max_notification_id() == head_before


def test_every_rule_has_a_case() -> None:
    covered = {case[3] for case in CASES}
    missing = [cls.__name__ for cls in errors.rule_classes() if cls not in covered]
    assert missing == []


def test_a_denied_resubmission_may_be_resubmitted_and_the_chain_is_in_the_state(
    ledger: Ledger,
) -> None:
    model = unique()
    for document in [
        *_with_request(model),
        _deny(model),
        _resubmit(model),
        _deny(model, "r2"),
        _resubmit(model, of="r2", request_id="r3"),
        _approve(model, "r3"),
    ]:
        ledger.execute(parse(document))
    requests = ledger.state(model).access_requests
    assert (requests["r1"].resubmitted_as, requests["r2"].resubmission_of) == ("r2", "r1")
    assert (requests["r2"].resubmitted_as, requests["r3"].resubmission_of) == ("r3", "r2")
    assert [requests[r].status for r in ("r1", "r2", "r3")] == ["denied", "denied", "approved"]


def test_a_denial_outside_the_vocabulary_is_an_invalid_command_even_below_the_doors(
    ledger: Ledger,
) -> None:
    model = unique()
    for document in _with_request(model):
        ledger.execute(parse(document))
    with pytest.raises(errors.CommandRejected, match="reason_code.*incomplete_application"):
        parse({**_deny(model), "reason_code": "not_a_code"})
    state = ledger.state(model)
    decided = Justification(
        actor=Actor("board-1", "board"), rationale="r", evidence=(), effective_at=None
    )
    with pytest.raises(errors.CommandRejected, match="not one of"):
        state.deny_access_request(decided, request_id="r1", reason_code="nope", reason="no")
    assert state.pending_events == []


def test_appeal_then_second_decision_is_allowed(ledger: Ledger) -> None:
    model = unique()
    for document in [*_with_request(model), _deny(model), _appeal(model), _approve(model)]:
        ledger.execute(parse(document))
    assert ledger.state(model).access_requests["r1"].status == "approved"


def test_deferred_preference_may_be_decided_again(ledger: Ledger) -> None:
    model = unique()
    for document in [*_preference(model), _decide(model, "deferred"), _decide(model, "honored")]:
        ledger.execute(parse(document))
    assert ledger.state(model).preferences["p1"].outcome == "honored"
