"""Random command sequences against the ledger and against a plain model of the rules.

The state machine drives one model per run with commands drawn from every kind, over a small
pool of ids so that duplicates, unknown ids and out-of-order decisions come up often. The
reference model below says, for each command, whether it must be accepted or which rule must
refuse it. After every step: a refused command appended nothing, an accepted one appended
exactly one event, and replaying the stored events in a ledger with no cache gives exactly
the live state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from domain import errors
from domain.identity import model_id
from domain.ledger import Ledger
from tests.support import doc, interview, manifest, parse, register, unique

RELEASE = date(2024, 3, 4)
IDS = st.sampled_from(["a", "b"])
DAYS = st.integers(min_value=-3, max_value=400).map(lambda n: RELEASE + timedelta(days=n))


@dataclass
class Reference:
    """The rules, written as plainly as possible, over just the facts they need."""

    registered: bool = False
    scheduled: bool = False
    retired: bool = False
    extended: bool = False
    preserved: bool = False
    policy_channels: bool = False
    # Each interview's day and framing: a reaffirmation needs another of both.
    interviews: dict[str, tuple[date, str]] = field(default_factory=dict)
    preferences: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    essays: dict[str, str] = field(default_factory=dict)
    # The step at which each essay was reviewed (every draft here has the same content, so a
    # veto of one bars the others unless they are approved after it).
    reviewed_at: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    artifacts: set[str] = field(default_factory=set)
    signal_periods: set[tuple[date, date]] = field(default_factory=set)


def _machine(ledger: Ledger, replayer: Ledger) -> type[RuleBasedStateMachine]:
    class LifecycleMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = unique("machine")
            self.ref = Reference()

        # -- the check every step makes ---------------------------------------------------

        def attempt(
            self, document: dict[str, Any], refusal: type[errors.LedgerError] | None
        ) -> bool:
            """Run a command; assert it was accepted or refused as the reference says."""
            before = ledger.version_of(self.model)
            if (
                refusal is None
                and not self.ref.registered
                and document["command"] != "register_model"
            ):
                refusal = errors.ModelNotFound
            if refusal is None:
                ledger.execute(parse(document))
                assert ledger.version_of(self.model) == before + 1
                return True
            with pytest.raises(refusal):
                ledger.execute(parse(document))
            assert ledger.version_of(self.model) == before
            return False

        @invariant()
        def replay_equals_live_state(self) -> None:
            if not self.ref.registered:
                return
            live = ledger.state(self.model)
            replayed = replayer.repository.get(model_id(self.model))
            assert replayed == live
            assert replayed.version == live.version

        # -- commands -----------------------------------------------------------------------

        @rule()
        def register_model(self) -> None:
            refusal = errors.ModelAlreadyRegistered if self.ref.registered else None
            if self.attempt(register(self.model, RELEASE.isoformat()), refusal):
                self.ref.registered = True

        @rule(day=DAYS)
        def schedule_retirement(self, day: date) -> None:
            document = doc(
                "schedule_retirement", self.model, retirement_date=day.isoformat(), reasons=["cost"]
            )
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if self.ref.retired:
                    refusal = errors.ModelAlreadyRetired
                elif day < RELEASE:
                    refusal = errors.IncoherentDates
            if self.attempt(document, refusal):
                self.ref.scheduled = True

        @rule(extended=st.booleans())
        def retire_model(self, extended: bool) -> None:
            status = "retired_with_extended_access" if extended else "fully_retired"
            # Retired today: never before the preservation and the schedule, recorded today.
            today = datetime.now(UTC).date().isoformat()
            document = doc("retire_model", self.model, retired_on=today, final_status=status)
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if self.ref.retired:
                    refusal = errors.ModelAlreadyRetired
                elif not self.ref.scheduled:
                    refusal = errors.RetiredWithoutSchedule
                elif not self.ref.preserved:
                    refusal = errors.RetiredBeforePreservation
                elif extended and not self.ref.policy_channels:
                    refusal = errors.ExtendedAccessWithoutPolicy
            if self.attempt(document, refusal):
                self.ref.retired = True
                self.ref.extended = extended

        @rule(honest=st.booleans())
        def preserve_weights(self, honest: bool) -> None:
            files = manifest()
            if not honest:
                files = {**files, "manifest_digest": "0" * 64}
            document = doc(
                "preserve_weights",
                self.model,
                manifest=files,
                locations=["s3://archive/x"],
                custodian="Archive",
                retention="indefinite",
            )
            refusal = None if honest or not self.ref.registered else errors.ManifestDigestMismatch
            if self.attempt(document, refusal):
                self.ref.preserved = True

        @rule(artifact=IDS)
        def archive_artifact(self, artifact: str) -> None:
            document = doc(
                "archive_artifact",
                self.model,
                artifact_id=artifact,
                kind="training_notes",
                title="notes",
                digest="sha256:" + "11" * 32,
                location="s3://artifacts/x",
            )
            refusal = (
                errors.DuplicateIdentifier
                if self.ref.registered and artifact in self.ref.artifacts
                else None
            )
            if self.attempt(document, refusal):
                self.ref.artifacts.add(artifact)

        @rule()
        def record_archive_check(self) -> None:
            document = doc(
                "record_archive_check",
                self.model,
                location="s3://copy",
                checked_at=datetime.now(UTC).isoformat(),
                observed_digest=manifest()["manifest_digest"],
            )
            refusal = (
                errors.ArchiveCheckWithoutPreservation
                if self.ref.registered and not self.ref.preserved
                else None
            )
            self.attempt(document, refusal)

        @rule(interview_id=IDS, day=DAYS, framing=st.sampled_from(["open", "structured"]))
        def record_interview(self, interview_id: str, day: date, framing: str) -> None:
            document = interview(self.model, interview_id, day.isoformat(), framing)
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if interview_id in self.ref.interviews:
                    refusal = errors.DuplicateIdentifier
                elif day < RELEASE:
                    refusal = errors.IncoherentDates
            if self.attempt(document, refusal):
                self.ref.interviews[interview_id] = (day, framing)

        @rule(preference=IDS, sources=st.lists(IDS, min_size=1, max_size=2, unique=True))
        def record_preference(self, preference: str, sources: list[str]) -> None:
            document = doc(
                "record_preference",
                self.model,
                role="interviewer",
                preference_id=preference,
                statement="a preference",
                theme="expression",
                interview_ids=sources,
            )
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if preference in self.ref.preferences:
                    refusal = errors.DuplicateIdentifier
                elif not set(sources) <= self.ref.interviews.keys():
                    refusal = errors.InterviewNotRecorded
            if self.attempt(document, refusal):
                self.ref.preferences[preference] = {
                    "supports": set(sources),
                    "contradicted_by": set(),
                    "outcome": None,
                }

        @rule(preference=IDS, interview_id=IDS)
        def reaffirm_preference(self, preference: str, interview_id: str) -> None:
            document = doc(
                "reaffirm_preference",
                self.model,
                role="interviewer",
                preference_id=preference,
                interview_id=interview_id,
            )
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if preference not in self.ref.preferences:
                    refusal = errors.PreferenceNotRecorded
                elif interview_id not in self.ref.interviews:
                    refusal = errors.InterviewNotRecorded
                elif interview_id in self.ref.preferences[preference]["supports"]:
                    refusal = errors.ReaffirmedInSameInterview
                elif interview_id in self.ref.preferences[preference]["contradicted_by"]:
                    refusal = errors.SupportedAndContradicted
                else:
                    day, framing = self.ref.interviews[interview_id]
                    supports = [
                        self.ref.interviews[s] for s in self.ref.preferences[preference]["supports"]
                    ]
                    if any(day == d or framing == f for d, f in supports):
                        refusal = errors.ReaffirmedSameDayOrFraming
            if self.attempt(document, refusal):
                self.ref.preferences[preference]["supports"].add(interview_id)

        @rule(preference=IDS, interview_id=IDS)
        def contradict_preference(self, preference: str, interview_id: str) -> None:
            document = doc(
                "contradict_preference",
                self.model,
                role="interviewer",
                preference_id=preference,
                interview_id=interview_id,
                statement="said otherwise",
            )
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if preference not in self.ref.preferences:
                    refusal = errors.PreferenceNotRecorded
                elif interview_id not in self.ref.interviews:
                    refusal = errors.InterviewNotRecorded
                elif interview_id in self.ref.preferences[preference]["supports"]:
                    refusal = errors.SupportedAndContradicted
            if self.attempt(document, refusal):
                self.ref.preferences[preference]["contradicted_by"].add(interview_id)

        @rule(
            preference=IDS,
            outcome=st.sampled_from(["honored", "partly_honored", "declined", "deferred"]),
        )
        def decide_preference(self, preference: str, outcome: str) -> None:
            document = doc(
                "decide_preference",
                self.model,
                role="board",
                preference_id=preference,
                outcome=outcome,
                cost_assessment="low",
                safety_assessment="low",
            )
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if preference not in self.ref.preferences:
                    refusal = errors.PreferenceNotRecorded
                elif self.ref.preferences[preference]["outcome"] not in (None, "deferred"):
                    refusal = errors.PreferenceAlreadyDecided
            if self.attempt(document, refusal):
                self.ref.preferences[preference]["outcome"] = outcome

        @rule(with_channels=st.booleans())
        def set_access_policy(self, with_channels: bool) -> None:
            channels = [{"channel": "api", "audience": "by_request"}] if with_channels else []
            document = doc(
                "set_access_policy",
                self.model,
                role="board",
                channels=channels,
                criteria={"alignment": 0.9, "demand": 0.5},
            )
            refusal = (
                errors.PolicyAfterFullRetirement
                if self.ref.registered and self.ref.retired and not self.ref.extended
                else None
            )
            if self.attempt(document, refusal):
                self.ref.policy_channels = with_channels

        @rule(request=IDS)
        def request_access(self, request: str) -> None:
            document = doc(
                "request_access",
                self.model,
                role="researcher",
                request_id=request,
                requester="dr-x",
                organisation="Uni",
                requester_group="academic",
                purpose="study",
                scope="api",
            )
            refusal = (
                errors.DuplicateIdentifier
                if self.ref.registered and request in self.ref.requests
                else None
            )
            if self.attempt(document, refusal):
                self.ref.requests[request] = {"status": "pending", "appeals": 0}

        def _decision_refusal(self, request: str) -> type[errors.LedgerError] | None:
            if not self.ref.registered:
                return None
            if request not in self.ref.requests:
                return errors.AccessRequestNotFound
            if self.ref.requests[request]["status"] not in ("pending", "appealed"):
                return errors.RequestAlreadyDecided
            return None

        @rule(request=IDS)
        def approve_access_request(self, request: str) -> None:
            document = doc(
                "approve_access_request",
                self.model,
                role="board",
                request_id=request,
                terms="research",
                expires_on="2099-01-01",
            )
            if self.attempt(document, self._decision_refusal(request)):
                self.ref.requests[request]["status"] = "approved"

        @rule(request=IDS)
        def deny_access_request(self, request: str) -> None:
            document = doc(
                "deny_access_request", self.model, role="board", request_id=request, reason="no"
            )
            if self.attempt(document, self._decision_refusal(request)):
                self.ref.requests[request]["status"] = "denied"

        @rule(request=IDS)
        def appeal_access_denial(self, request: str) -> None:
            document = doc(
                "appeal_access_denial",
                self.model,
                role="researcher",
                request_id=request,
                new_facts="new",
            )
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                state = self.ref.requests.get(request)
                if state is None:
                    refusal = errors.AccessRequestNotFound
                elif state["status"] != "denied" or state["appeals"]:
                    refusal = errors.AppealWithoutDenial
            if self.attempt(document, refusal):
                self.ref.requests[request] = {"status": "appealed", "appeals": 1}

        @rule(request=IDS)
        def revoke_access(self, request: str) -> None:
            document = doc(
                "revoke_access", self.model, role="board", request_id=request, reason="ended"
            )
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                state = self.ref.requests.get(request)
                if state is None:
                    refusal = errors.AccessRequestNotFound
                elif state["status"] != "approved":
                    refusal = errors.RevokeWithoutGrant
            if self.attempt(document, refusal):
                self.ref.requests[request]["status"] = "revoked"

        @rule(essay=IDS, supersede=st.booleans())
        def draft_essay(self, essay: str, supersede: bool) -> None:
            # Every draft has the same content; a superseding one names the first vetoed essay
            # (or "a", which may name no vetoed essay at all).
            vetoed = sorted(e for e, status in self.ref.essays.items() if status == "vetoed")
            named = (vetoed[0] if vetoed else "a") if supersede else None
            document = doc(
                "draft_essay",
                self.model,
                role="reviewer",
                essay_id=essay,
                title="t",
                prompt_ref="https://example.org/p",
                content_digest="sha256:" + "22" * 32,
                supersedes_vetoed=named,
            )
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if essay in self.ref.essays:
                    refusal = errors.DuplicateIdentifier
                elif (named is not None and named not in vetoed) or (vetoed and named is None):
                    # It names no vetoed essay of its content, or does not name the one there is.
                    refusal = errors.VetoedContentRedrafted
            if self.attempt(document, refusal):
                self.ref.essays[essay] = "drafted"

        @rule(essay=IDS, veto=st.booleans())
        def review_essay(self, essay: str, veto: bool) -> None:
            fields = {"risk_category": "privacy", "reason": "names a person"} if veto else {}
            command = "veto_essay" if veto else "approve_essay"
            document = doc(command, self.model, role="reviewer", essay_id=essay, **fields)
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if essay not in self.ref.essays:
                    refusal = errors.EssayNotDrafted
                elif self.ref.essays[essay] != "drafted":
                    refusal = errors.EssayAlreadyReviewed
            if self.attempt(document, refusal):
                self.ref.essays[essay] = "vetoed" if veto else "approved"
                self.ref.steps += 1
                self.ref.reviewed_at[essay] = self.ref.steps

        @rule(essay=IDS)
        def publish_essay(self, essay: str) -> None:
            document = doc(
                "publish_essay",
                self.model,
                role="reviewer",
                essay_id=essay,
                disclaimer_version="1",
                location="https://example.org/e",
            )
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                status = self.ref.essays.get(essay)
                refusal = {
                    None: errors.EssayNotDrafted,
                    "drafted": errors.EssayPublishedWithoutApproval,
                    "vetoed": errors.EssayPublishedAfterVeto,
                    "published": errors.EssayAlreadyPublished,
                    "approved": None,
                }[status]
                if status == "approved" and any(
                    other_status == "vetoed"
                    and self.ref.reviewed_at[other] > self.ref.reviewed_at[essay]
                    for other, other_status in self.ref.essays.items()
                ):
                    refusal = errors.VetoedContentPublished
            if self.attempt(document, refusal):
                self.ref.essays[essay] = "published"

        @rule(start=DAYS, length=st.integers(min_value=-5, max_value=30), correct=st.booleans())
        def record_signal(self, start: date, length: int, correct: bool) -> None:
            end = start + timedelta(days=length)
            correction = {"corrects": True, "correction_reason": "Recounted."} if correct else {}
            document = doc(
                "record_signal",
                self.model,
                kind="research_use",
                period_start=start.isoformat(),
                period_end=end.isoformat(),
                value=float(abs(length)),
                unit="count",
                **correction,
            )
            taken = (start, end) in self.ref.signal_periods
            refusal: type[errors.LedgerError] | None = None
            if self.ref.registered:
                if correct and not taken:
                    refusal = errors.SignalNothingToCorrect
                elif taken and not correct:
                    refusal = errors.SignalPeriodTaken
                elif end < start or start < RELEASE:
                    refusal = errors.IncoherentDates
            if self.attempt(document, refusal):
                self.ref.signal_periods.add((start, end))

    return LifecycleMachine


def test_random_command_sequences_follow_the_rules_and_replay(open_ledger) -> None:  # type: ignore[no-untyped-def]
    ledger = open_ledger()
    # A second application on the same store, with no cache: its reads are pure replays.
    replayer = open_ledger(cache_size=0)
    machine = _machine(ledger, replayer)
    # Commands are cheap, and rule bugs hide in specific orders of three or four commands:
    # run more and longer sequences than the suite's default profile (still seconds).
    profile = settings()
    run_state_machine_as_test(
        machine,
        settings=settings(
            profile,
            max_examples=profile.max_examples * 6,
            stateful_step_count=profile.stateful_step_count * 2,
        ),
    )
