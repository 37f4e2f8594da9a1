"""Random command sequences against the ledger and against a plain model of the rules.

The state machine drives one model per run with commands drawn from every kind, over a small
pool of ids so that duplicates, unknown ids and out-of-order decisions come up often. The
reference model below says, for each command, whether it must be accepted or which rule must
refuse it. After every step: a refused command appended nothing, an accepted one appended
exactly one event, replaying the stored events in a ledger with no cache gives exactly the live
state, and the stored events keep the cross-event date rules.

Every command carries a random ``effective_at``: absent, on or after what it decides (valid),
before it (`decision-before-its-subject`), before the model's release (`incoherent-dates`), or
more than a day after it is recorded (`effective-after-recorded`). Generated moments are the
real clock, the release, or the subject's own moment, moved by whole hours, so the few
milliseconds between the reference's clock reading and the ledger's never decide a rule. Rules
that compare calendar days read "today", so a step never starts within seconds of midnight UTC.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from domain import errors
from domain.decisions import DENIAL_REASONS
from domain.identity import model_id
from domain.ledger import Ledger
from domain.lifecycle import ModelLifecycle
from domain.rules import day_of, instant
from tests.support import doc, interview, manifest, parse, register, unique

RELEASE = date(2024, 3, 4)
IDS = st.sampled_from(["a", "b"])
# Which id a decision names: mostly one already on the record (so sequences reach the later
# decisions), sometimes "a" or "b" whether or not it is (unknown ids, wrong order).
PICK = st.integers(min_value=0, max_value=4)


def pick(known: dict[str, Any], choice: int) -> str:
    """The id a PICK choice names among the known ones."""
    ids = sorted(known)
    if choice >= 3 or not ids:
        return ["a", "b"][choice % 2]
    return ids[choice % len(ids)]


DAYS = st.integers(min_value=-3, max_value=400).map(lambda n: RELEASE + timedelta(days=n))
# The slack the domain allows: a decision takes effect no later than a day after it is recorded.
SLACK = timedelta(days=1)
Refusal = type[errors.LedgerError] | None

# When a decision takes effect: None (when recorded), or an anchor moved by whole hours. The
# anchor is the real clock ("now"), what the decision decides ("subject"; the clock for a
# decision without one), or midnight UTC at the start of the release day ("release"). Mostly
# valid; sometimes before the subject, before the release, or beyond the day of slack.
Spec = tuple[str, int] | None
EFFECTIVE: st.SearchStrategy[Spec] = st.sampled_from(
    [
        None,
        None,
        None,
        ("now", 0),
        ("now", -1),
        ("now", -30),
        ("now", 2),
        ("now", 20),
        ("subject", 0),
        ("subject", 1),
        ("subject", 3),
        ("subject", -1),
        ("subject", -25),
        ("now", 26),
        ("now", 72),
        ("release", -1),
    ]
)
# Calendar days relative to today (UTC) for dates that must not lie in the future.
NEAR_DAYS = st.sampled_from([0, 0, 0, -1, 1, 2])


def step_clock() -> datetime:
    """The reference's reading of the clock, never within seconds of midnight UTC."""
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
    if midnight - now < timedelta(seconds=10):
        clock.sleep((midnight - now).total_seconds() + 0.05)
        now = datetime.now(UTC)
    return now


def resolve(spec: Spec, now: datetime, subject: datetime | None = None) -> datetime | None:
    """The effective_at a spec names (None: absent)."""
    if spec is None:
        return None
    anchor, hours = spec
    base = {
        "now": now,
        "subject": subject or now,
        "release": datetime.combine(RELEASE, time(), UTC),
    }[anchor]
    return base + timedelta(hours=hours)


@dataclass
class Reference:
    """The rules, written as plainly as possible, over just the facts they need."""

    registered: bool = False
    scheduled_at: datetime | None = None
    retired: bool = False
    extended: bool = False
    preserved_at: datetime | None = None
    policy_channels: bool = False
    # Each interview's day and framing: a reaffirmation needs another of both.
    interviews: dict[str, tuple[date, str]] = field(default_factory=dict)
    preferences: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Each request's status, appeals, expiry and the moment its latest step took effect.
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    essays: dict[str, str] = field(default_factory=dict)
    # When each essay's draft and review took effect (every draft here has the same content,
    # so a veto of one bars the others unless they are approved after it).
    drafted_at: dict[str, datetime] = field(default_factory=dict)
    reviewed_at: dict[str, datetime] = field(default_factory=dict)
    artifacts: set[str] = field(default_factory=set)
    signal_periods: set[tuple[date, date]] = field(default_factory=set)


@dataclass
class Stored:
    """What the invariant has read of the stored events: the moments decisions follow."""

    version: int = 0
    steps: dict[str, datetime] = field(default_factory=dict)  # each request's latest step
    drafted: dict[str, datetime] = field(default_factory=dict)
    reviewed: dict[str, datetime] = field(default_factory=dict)
    preserved: datetime | None = None
    scheduled: datetime | None = None


def too_late(effective: datetime | None, now: datetime) -> bool:
    """`_refuse_too_late`: the decision takes effect more than the slack after it is recorded."""
    return effective is not None and instant(effective) > instant(now) + SLACK


def dates_refusal(effective: datetime | None, now: datetime, *days: date) -> Refusal:
    """`_check_dates`: effective-after-recorded first, then any day before the release."""
    if too_late(effective, now):
        return errors.EffectiveAfterRecorded
    named = [day_of(effective)] if effective is not None else []
    if any(day < RELEASE for day in [*named, *days]):
        return errors.IncoherentDates
    return None


def after_refusal(effective: datetime | None, now: datetime, subject: datetime | None) -> Refusal:
    """`_check_after`: a decision takes effect on or after what it decides."""
    if subject is not None and instant(effective or now) < instant(subject):
        return errors.DecisionBeforeItsSubject
    return None


def with_effective(document: dict[str, Any], effective: datetime | None) -> dict[str, Any]:
    """The document, with its effective_at when there is one."""
    if effective is not None:
        document["effective_at"] = effective.isoformat()
    return document


def _machine(ledger: Ledger, replayer: Ledger) -> type[RuleBasedStateMachine]:
    class LifecycleMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = unique("machine")
            self.ref = Reference()
            self.stored = Stored()
            self.version = 0  # the model's version as the reference counts accepted commands

        # -- the check every step makes ---------------------------------------------------

        def attempt(self, document: dict[str, Any], refusal: Refusal) -> datetime | None:
            """Run a command; assert it was accepted or refused as the reference says.

            Returns, for an accepted command, the moment its event took effect (its
            effective_at, else the moment the ledger recorded it); None when refused.
            """
            before = self.version
            if not self.ref.registered and document["command"] != "register_model":
                refusal = errors.ModelNotFound
            if refusal is None:
                recorded = ledger.execute(parse(document))
                # Exactly one event is stored after the version the model had.
                (stored,) = ledger.events.get(model_id(self.model), gt=before)
                event = cast(ModelLifecycle.Event, stored)
                assert event.originator_version == recorded.version == before + 1
                self.version = recorded.version
                return event.effective_at or event.timestamp
            with pytest.raises(refusal):
                ledger.execute(parse(document))
            assert ledger.version_of(self.model) == before
            return None

        @invariant()
        def replay_equals_live_state(self) -> None:
            if not self.ref.registered:
                return
            live = ledger.state(self.model)
            replayed: ModelLifecycle = replayer.repository.get(model_id(self.model))
            assert replayed == live
            assert replayed.version == live.version

        @invariant()
        def stored_decisions_keep_the_date_rules(self) -> None:
            """No event takes effect beyond the slack; no decision precedes what it decides.

            Reads the events stored since the last step (the earlier ones were read then),
            keeping the moments the later decisions are compared with.
            """
            if not self.ref.registered:
                return
            seen = self.stored
            for stored in replayer.events.get(model_id(self.model), gt=seen.version):
                event = cast(ModelLifecycle.Event, stored)
                seen.version = event.originator_version
                kind = type(event).__name__
                effective_at = event.effective_at
                moment = instant(effective_at or event.timestamp)
                if effective_at is not None:
                    assert moment <= instant(event.timestamp) + SLACK, kind
                facts = vars(event)
                if kind == "AccessRequested":
                    if facts["resubmission_of"] is not None:  # after the denial it answers
                        assert moment >= seen.steps[facts["resubmission_of"]], kind
                    seen.steps[facts["request_id"]] = moment
                elif kind in (
                    "AccessRequestApproved",
                    "AccessRequestDenied",
                    "AccessDenialAppealed",
                    "AccessRevoked",
                ):
                    assert moment >= seen.steps[facts["request_id"]], kind
                    if kind != "AccessRevoked":
                        seen.steps[facts["request_id"]] = moment
                elif kind == "EssayDrafted":
                    seen.drafted[facts["essay_id"]] = moment
                elif kind in ("EssayApproved", "EssayVetoed"):
                    assert moment >= seen.drafted[facts["essay_id"]], kind
                    seen.reviewed[facts["essay_id"]] = moment
                elif kind == "EssayPublished":
                    assert moment >= seen.reviewed[facts["essay_id"]], kind
                elif kind == "WeightsPreserved":
                    seen.preserved = moment
                elif kind == "RetirementScheduled":
                    seen.scheduled = moment
                elif kind == "ArchiveVerified":
                    assert seen.preserved is not None
                    assert moment >= seen.preserved, kind
                    assert day_of(facts["checked_at"]) >= day_of(seen.preserved), kind
                elif kind == "ModelRetired":
                    assert seen.preserved is not None
                    assert seen.scheduled is not None
                    assert facts["retired_on"] >= day_of(seen.preserved), kind
                    assert facts["retired_on"] >= day_of(seen.scheduled), kind
                    assert moment >= max(seen.preserved, seen.scheduled), kind

        # -- commands -----------------------------------------------------------------------

        @initialize(first=st.sampled_from([True, True, True, False]), when=EFFECTIVE)
        def start(self, first: bool, when: Spec) -> None:
            """Most runs register the model first, so their steps reach the later decisions."""
            if first:
                self.register_model(when)

        @rule(when=EFFECTIVE)
        def register_model(self, when: Spec) -> None:
            now = step_clock()
            effective = resolve(when, now)
            # ModelLifecycle.register checks the dates before the name is found taken.
            refusal: Refusal = None
            if effective is not None and day_of(effective) < RELEASE:
                refusal = errors.IncoherentDates
            elif effective is not None and instant(effective) > now + SLACK:
                refusal = errors.EffectiveAfterRecorded
            elif self.ref.registered:
                refusal = errors.ModelAlreadyRegistered
            document = with_effective(register(self.model, RELEASE.isoformat()), effective)
            if self.attempt(document, refusal):
                self.ref.registered = True

        @rule(day=DAYS, when=EFFECTIVE)
        def schedule_retirement(self, day: date, when: Spec) -> None:
            now = step_clock()
            effective = resolve(when, now)
            document = doc(
                "schedule_retirement", self.model, retirement_date=day.isoformat(), reasons=["cost"]
            )
            refusal: Refusal = None
            if self.ref.retired:
                refusal = errors.ModelAlreadyRetired
            else:
                refusal = dates_refusal(effective, now, day)
            moment = self.attempt(with_effective(document, effective), refusal)
            if moment:
                self.ref.scheduled_at = moment

        @rule(extended=st.booleans(), days=NEAR_DAYS, when=EFFECTIVE)
        def retire_model(self, extended: bool, days: int, when: Spec) -> None:
            now = step_clock()
            today = now.date()
            retired_on = today + timedelta(days=days)
            effective = resolve(when, now, self.ref.preserved_at)
            status = "retired_with_extended_access" if extended else "fully_retired"
            document = doc(
                "retire_model", self.model, retired_on=retired_on.isoformat(), final_status=status
            )
            refusal: Refusal = None
            if self.ref.retired:
                refusal = errors.ModelAlreadyRetired
            elif self.ref.scheduled_at is None:
                refusal = errors.RetiredWithoutSchedule
            elif self.ref.preserved_at is None:
                refusal = errors.RetiredBeforePreservation
            elif extended and not self.ref.policy_channels:
                refusal = errors.ExtendedAccessWithoutPolicy
            elif refusal := dates_refusal(effective, now, retired_on):
                pass
            elif retired_on > today + timedelta(days=1):
                refusal = errors.IncoherentDates
            elif any(
                retired_on < day_of(subject) or after_refusal(effective, now, subject)
                for subject in (self.ref.preserved_at, self.ref.scheduled_at)
            ):
                # Both retired_on and the retirement's own effective moment follow them.
                refusal = errors.DecisionBeforeItsSubject
            if self.attempt(with_effective(document, effective), refusal):
                self.ref.retired = True
                self.ref.extended = extended

        @rule(honest=st.booleans(), when=EFFECTIVE)
        def preserve_weights(self, honest: bool, when: Spec) -> None:
            now = step_clock()
            effective = resolve(when, now)
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
            refusal = dates_refusal(effective, now) if honest else errors.ManifestDigestMismatch
            moment = self.attempt(with_effective(document, effective), refusal)
            if moment:
                self.ref.preserved_at = moment

        @rule(artifact=IDS, when=EFFECTIVE)
        def archive_artifact(self, artifact: str, when: Spec) -> None:
            now = step_clock()
            effective = resolve(when, now)
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
                if artifact in self.ref.artifacts
                else dates_refusal(effective, now)
            )
            if self.attempt(with_effective(document, effective), refusal):
                self.ref.artifacts.add(artifact)

        @rule(days=NEAR_DAYS, when=EFFECTIVE)
        def record_archive_check(self, days: int, when: Spec) -> None:
            now = step_clock()
            checked_at = now + timedelta(days=days)
            preserved_at = self.ref.preserved_at
            effective = resolve(when, now, preserved_at)
            document = doc(
                "record_archive_check",
                self.model,
                location="s3://copy",
                checked_at=checked_at.isoformat(),
                observed_digest=manifest()["manifest_digest"],
            )
            refusal: Refusal = None
            if preserved_at is None:
                refusal = errors.ArchiveCheckWithoutPreservation
            elif refusal := dates_refusal(effective, now, checked_at.date()):
                pass
            elif checked_at.date() > now.date() + timedelta(days=1):
                refusal = errors.IncoherentDates  # checked in the future
            elif checked_at.date() < day_of(preserved_at):
                refusal = errors.IncoherentDates  # checked before the weights were preserved
            else:
                refusal = after_refusal(effective, now, preserved_at)
            self.attempt(with_effective(document, effective), refusal)

        @rule(
            interview_id=IDS,
            day=DAYS,
            framing=st.sampled_from(["open", "structured"]),
            when=EFFECTIVE,
        )
        def record_interview(self, interview_id: str, day: date, framing: str, when: Spec) -> None:
            now = step_clock()
            effective = resolve(when, now)
            document = interview(self.model, interview_id, day.isoformat(), framing)
            refusal: Refusal = None
            if interview_id in self.ref.interviews:
                refusal = errors.DuplicateIdentifier
            else:
                refusal = dates_refusal(effective, now, day)
            if self.attempt(with_effective(document, effective), refusal):
                self.ref.interviews[interview_id] = (day, framing)

        @rule(
            preference=IDS,
            sources=st.lists(IDS, min_size=1, max_size=2, unique=True),
            when=EFFECTIVE,
        )
        def record_preference(self, preference: str, sources: list[str], when: Spec) -> None:
            now = step_clock()
            effective = resolve(when, now)
            document = doc(
                "record_preference",
                self.model,
                role="interviewer",
                preference_id=preference,
                statement="a preference",
                theme="expression",
                interview_ids=sources,
            )
            refusal: Refusal = None
            if preference in self.ref.preferences:
                refusal = errors.DuplicateIdentifier
            elif not set(sources) <= self.ref.interviews.keys():
                refusal = errors.InterviewNotRecorded
            else:
                refusal = dates_refusal(effective, now)
            if self.attempt(with_effective(document, effective), refusal):
                self.ref.preferences[preference] = {
                    "supports": set(sources),
                    "contradicted_by": set(),
                    "outcome": None,
                }

        @rule(preference_choice=PICK, interview_id_choice=PICK, when=EFFECTIVE)
        def reaffirm_preference(
            self, preference_choice: int, interview_id_choice: int, when: Spec
        ) -> None:
            preference = pick(self.ref.preferences, preference_choice)
            interview_id = pick(self.ref.interviews, interview_id_choice)
            now = step_clock()
            effective = resolve(when, now)
            document = doc(
                "reaffirm_preference",
                self.model,
                role="interviewer",
                preference_id=preference,
                interview_id=interview_id,
            )
            refusal: Refusal = None
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
                else:
                    refusal = dates_refusal(effective, now)
            if self.attempt(with_effective(document, effective), refusal):
                self.ref.preferences[preference]["supports"].add(interview_id)

        @rule(preference_choice=PICK, interview_id_choice=PICK, when=EFFECTIVE)
        def contradict_preference(
            self, preference_choice: int, interview_id_choice: int, when: Spec
        ) -> None:
            preference = pick(self.ref.preferences, preference_choice)
            interview_id = pick(self.ref.interviews, interview_id_choice)
            now = step_clock()
            effective = resolve(when, now)
            document = doc(
                "contradict_preference",
                self.model,
                role="interviewer",
                preference_id=preference,
                interview_id=interview_id,
                statement="said otherwise",
            )
            refusal: Refusal = None
            if preference not in self.ref.preferences:
                refusal = errors.PreferenceNotRecorded
            elif interview_id not in self.ref.interviews:
                refusal = errors.InterviewNotRecorded
            elif interview_id in self.ref.preferences[preference]["supports"]:
                refusal = errors.SupportedAndContradicted
            else:
                refusal = dates_refusal(effective, now)
            if self.attempt(with_effective(document, effective), refusal):
                self.ref.preferences[preference]["contradicted_by"].add(interview_id)

        @rule(
            preference_choice=PICK,
            outcome=st.sampled_from(["honored", "partly_honored", "declined", "deferred"]),
            when=EFFECTIVE,
        )
        def decide_preference(self, preference_choice: int, outcome: str, when: Spec) -> None:
            preference = pick(self.ref.preferences, preference_choice)
            now = step_clock()
            effective = resolve(when, now)
            document = doc(
                "decide_preference",
                self.model,
                role="board",
                preference_id=preference,
                outcome=outcome,
                cost_assessment="low",
                safety_assessment="low",
            )
            refusal: Refusal = None
            if preference not in self.ref.preferences:
                refusal = errors.PreferenceNotRecorded
            elif self.ref.preferences[preference]["outcome"] not in (None, "deferred"):
                refusal = errors.PreferenceAlreadyDecided
            else:
                refusal = dates_refusal(effective, now)
            if self.attempt(with_effective(document, effective), refusal):
                self.ref.preferences[preference]["outcome"] = outcome

        @rule(with_channels=st.booleans(), when=EFFECTIVE)
        def set_access_policy(self, with_channels: bool, when: Spec) -> None:
            now = step_clock()
            effective = resolve(when, now)
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
                if self.ref.retired and not self.ref.extended
                else dates_refusal(effective, now)
            )
            if self.attempt(with_effective(document, effective), refusal):
                self.ref.policy_channels = with_channels

        @rule(request=IDS, resubmits=st.none() | PICK, when=EFFECTIVE)
        def request_access(self, request: str, resubmits: int | None, when: Spec) -> None:
            now = step_clock()
            earlier = None if resubmits is None else pick(self.ref.requests, resubmits)
            effective = resolve(when, now, self._last_step(earlier) if earlier else None)
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
                resubmission_of=earlier,
            )
            refusal: Refusal = None
            before = self.ref.requests.get(earlier) if earlier else None
            if request in self.ref.requests:
                refusal = errors.DuplicateIdentifier
            elif earlier is not None and before is None:
                refusal = errors.AccessRequestNotFound
            elif before is not None and before["resubmitted_as"] is not None:
                refusal = errors.ResubmissionRepeated
            elif before is not None and before["status"] != "denied":
                refusal = errors.ResubmissionWithoutDenial
            elif before is not None:
                refusal = after_refusal(effective, now, before["last_step"])
            refusal = refusal or dates_refusal(effective, now)
            moment = self.attempt(with_effective(document, effective), refusal)
            if moment:
                self.ref.requests[request] = {
                    "status": "pending",
                    "appeals": 0,
                    "expires_on": None,
                    "last_step": moment,
                    "resubmitted_as": None,
                }
                if before is not None:
                    before["resubmitted_as"] = request

        def _last_step(self, request: str) -> datetime | None:
            state = self.ref.requests.get(request)
            return state["last_step"] if state else None

        def _decision_refusal(self, request: str) -> Refusal:
            if request not in self.ref.requests:
                return errors.AccessRequestNotFound
            if self.ref.requests[request]["status"] not in ("pending", "appealed"):
                return errors.RequestAlreadyDecided
            return None

        @rule(
            request_choice=PICK,
            expires=st.sampled_from([None, "far", "far", 0, 1, 3]),
            when=EFFECTIVE,
        )
        def approve_access_request(
            self, request_choice: int, expires: str | int | None, when: Spec
        ) -> None:
            request = pick(self.ref.requests, request_choice)
            now = step_clock()
            effective = resolve(when, now, self._last_step(request))
            if expires is None:
                expires_on = None
            elif expires == "far":
                expires_on = date(2099, 1, 1)
            else:
                expires_on = now.date() + timedelta(days=int(expires))
            document = doc(
                "approve_access_request",
                self.model,
                role="board",
                request_id=request,
                terms="research",
                expires_on=expires_on.isoformat() if expires_on else None,
            )
            refusal = self._decision_refusal(request)
            if refusal is None:
                decided_on = day_of(effective or now)
                if too_late(effective, now):
                    refusal = errors.EffectiveAfterRecorded
                elif expires_on is not None and expires_on <= decided_on:
                    refusal = errors.IncoherentDates
                else:
                    refusal = after_refusal(
                        effective, now, self._last_step(request)
                    ) or dates_refusal(effective, now)
            moment = self.attempt(with_effective(document, effective), refusal)
            if moment:
                self.ref.requests[request].update(
                    status="approved", expires_on=expires_on, last_step=moment
                )

        @rule(request_choice=PICK, code=st.sampled_from(sorted(DENIAL_REASONS)), when=EFFECTIVE)
        def deny_access_request(self, request_choice: int, code: str, when: Spec) -> None:
            request = pick(self.ref.requests, request_choice)
            now = step_clock()
            effective = resolve(when, now, self._last_step(request))
            document = doc(
                "deny_access_request",
                self.model,
                role="board",
                request_id=request,
                reason_code=code,
                reason="no",
            )
            refusal = (
                self._decision_refusal(request)
                or after_refusal(effective, now, self._last_step(request))
                or dates_refusal(effective, now)
            )
            moment = self.attempt(with_effective(document, effective), refusal)
            if moment:
                self.ref.requests[request].update(status="denied", last_step=moment)

        @rule(request_choice=PICK, when=EFFECTIVE)
        def appeal_access_denial(self, request_choice: int, when: Spec) -> None:
            request = pick(self.ref.requests, request_choice)
            now = step_clock()
            effective = resolve(when, now, self._last_step(request))
            document = doc(
                "appeal_access_denial",
                self.model,
                role="researcher",
                request_id=request,
                new_facts="new",
            )
            refusal: Refusal = None
            state = self.ref.requests.get(request)
            if state is None:
                refusal = errors.AccessRequestNotFound
            elif state["status"] != "denied" or state["appeals"] or state["resubmitted_as"]:
                refusal = errors.AppealWithoutDenial
            else:
                refusal = after_refusal(effective, now, state["last_step"]) or dates_refusal(
                    effective, now
                )
            moment = self.attempt(with_effective(document, effective), refusal)
            if moment:
                self.ref.requests[request].update(status="appealed", appeals=1, last_step=moment)

        @rule(request_choice=PICK, when=EFFECTIVE)
        def revoke_access(self, request_choice: int, when: Spec) -> None:
            request = pick(self.ref.requests, request_choice)
            now = step_clock()
            effective = resolve(when, now, self._last_step(request))
            document = doc(
                "revoke_access", self.model, role="board", request_id=request, reason="ended"
            )
            refusal: Refusal = None
            state = self.ref.requests.get(request)
            if state is None:
                refusal = errors.AccessRequestNotFound
            elif state["status"] != "approved":
                refusal = errors.RevokeWithoutGrant
            elif too_late(effective, now):
                refusal = errors.EffectiveAfterRecorded
            elif state["expires_on"] is not None and state["expires_on"] < day_of(effective or now):
                refusal = errors.RevokeAfterExpiry
            else:
                refusal = after_refusal(effective, now, state["last_step"]) or dates_refusal(
                    effective, now
                )
            if self.attempt(with_effective(document, effective), refusal):
                # A revocation is not a step a later decision is compared with.
                self.ref.requests[request]["status"] = "revoked"

        @rule(essay=IDS, supersede=st.booleans(), when=EFFECTIVE)
        def draft_essay(self, essay: str, supersede: bool, when: Spec) -> None:
            now = step_clock()
            effective = resolve(when, now)
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
            refusal: Refusal = None
            if essay in self.ref.essays:
                refusal = errors.DuplicateIdentifier
            elif (named is not None and named not in vetoed) or (vetoed and named is None):
                # It names no vetoed essay of its content, or does not name the one there is.
                refusal = errors.VetoedContentRedrafted
            else:
                refusal = dates_refusal(effective, now)
            moment = self.attempt(with_effective(document, effective), refusal)
            if moment:
                self.ref.essays[essay] = "drafted"
                self.ref.drafted_at[essay] = moment

        @rule(essay_choice=PICK, veto=st.booleans(), when=EFFECTIVE)
        def review_essay(self, essay_choice: int, veto: bool, when: Spec) -> None:
            essay = pick(self.ref.essays, essay_choice)
            now = step_clock()
            drafted_at = self.ref.drafted_at.get(essay)
            effective = resolve(when, now, drafted_at)
            fields = {"risk_category": "privacy", "reason": "names a person"} if veto else {}
            command = "veto_essay" if veto else "approve_essay"
            document = doc(command, self.model, role="reviewer", essay_id=essay, **fields)
            refusal: Refusal = None
            if essay not in self.ref.essays:
                refusal = errors.EssayNotDrafted
            elif self.ref.essays[essay] != "drafted":
                refusal = errors.EssayAlreadyReviewed
            else:
                refusal = after_refusal(effective, now, drafted_at) or dates_refusal(effective, now)
            moment = self.attempt(with_effective(document, effective), refusal)
            if moment:
                self.ref.essays[essay] = "vetoed" if veto else "approved"
                self.ref.reviewed_at[essay] = moment

        @rule(essay_choice=PICK, when=EFFECTIVE)
        def publish_essay(self, essay_choice: int, when: Spec) -> None:
            essay = pick(self.ref.essays, essay_choice)
            now = step_clock()
            reviewed_at = self.ref.reviewed_at.get(essay)
            effective = resolve(when, now, reviewed_at)
            document = doc(
                "publish_essay",
                self.model,
                role="reviewer",
                essay_id=essay,
                disclaimer_version="1",
                location="https://example.org/e",
            )
            status = self.ref.essays.get(essay)
            refusal: Refusal = {
                None: errors.EssayNotDrafted,
                "drafted": errors.EssayPublishedWithoutApproval,
                "vetoed": errors.EssayPublishedAfterVeto,
                "published": errors.EssayAlreadyPublished,
                "approved": None,
            }[status]
            if status == "approved":
                assert reviewed_at is not None
                if any(
                    other_status == "vetoed"
                    and instant(self.ref.reviewed_at[other]) >= instant(reviewed_at)
                    for other, other_status in self.ref.essays.items()
                ):
                    # Vetoed content is published only if approved after the veto took effect.
                    refusal = errors.VetoedContentPublished
                else:
                    refusal = after_refusal(effective, now, reviewed_at) or dates_refusal(
                        effective, now
                    )
            if self.attempt(with_effective(document, effective), refusal):
                self.ref.essays[essay] = "published"

        @rule(
            start=DAYS,
            length=st.integers(min_value=-5, max_value=30),
            correct=st.booleans(),
            when=EFFECTIVE,
        )
        def record_signal(self, start: date, length: int, correct: bool, when: Spec) -> None:
            now = step_clock()
            effective = resolve(when, now)
            end = start + timedelta(days=length)
            correction: dict[str, Any] = (
                {"corrects": True, "correction_reason": "Recounted."} if correct else {}
            )
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
            refusal: Refusal = None
            if correct and not taken:
                refusal = errors.SignalNothingToCorrect
            elif taken and not correct:
                refusal = errors.SignalPeriodTaken
            elif end < start:
                refusal = errors.IncoherentDates
            else:
                refusal = dates_refusal(effective, now, start)
            if self.attempt(with_effective(document, effective), refusal):
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
