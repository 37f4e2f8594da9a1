"""The retirement checklist: each step of a careful retirement, per model, as of a moment.

For one model, from its events recorded up to a moment, each step is ``done``, ``not-yet``,
``not-applicable`` or an ``anomaly``, with the event that settles it (its version, type and
recorded moment) and one line saying why. The steps, in order:

1. registered;
2. scheduled (an anomaly once the scheduled date has passed without a retirement: overdue);
3. preserved, with a manifest;
4. archive checked: the latest check of each location intact, and the latest check within
   ``archive_check_days`` (an anomaly if a latest check failed);
5. interviewed on at least ``min_interview_days`` days and ``min_interview_framings`` framings;
6. every preference decided (an anomaly if one was decided while it was not stable under the
   preference policy);
7. access policy set, with criteria scores;
8. grants: the grants in force, and those expired (past their ``expires_on``: ended by
   themselves, never an anomaly);
9. essays on cadence, if the model has an essay outlet (a first draft): a draft in every ISO
   week from the first draft's to the last week ended by the moment (an anomaly for each
   missed week);
10. monitored: a signal whose period ended within ``signal_days`` of the moment;
11. retired (an anomaly if the successor named is not a registered model and was not declared
    external).

Nothing here reads a clock or a database: the events, the moment, the thresholds and whether a
successor is registered are passed in, so the same inputs always give the same checklist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from domain.rules import PreferencePolicy, Support, is_stable
from domain.state import APPROVED, EXPIRED, grant_status

DONE, NOT_YET, NOT_APPLICABLE, ANOMALY = "done", "not-yet", "not-applicable", "anomaly"
STATUSES = (DONE, NOT_YET, NOT_APPLICABLE, ANOMALY)


@dataclass(frozen=True)
class ChecklistPolicy:
    """The thresholds of a careful retirement (configuration: ``RELIQUARY_CHECKLIST_*``)."""

    archive_check_days: int
    signal_days: int
    preference: PreferencePolicy


@dataclass(frozen=True)
class Settled:
    """The event that settles a step."""

    version: int
    event: str
    recorded_at: datetime


@dataclass(frozen=True)
class Step:
    """One step of the checklist for one model."""

    name: str
    status: str
    detail: str
    settled_by: Settled | None = None


@dataclass(frozen=True)
class Checklist:
    """Every step for one model, as of a moment."""

    model: str
    as_of: datetime
    version: int  # the model's version at that moment
    steps: tuple[Step, ...]

    @property
    def anomalies(self) -> tuple[Step, ...]:
        """The steps that show something wrong."""
        return tuple(step for step in self.steps if step.status == ANOMALY)


def checklist(
    name: str,
    events: Sequence[Any],
    as_of: datetime,
    policy: ChecklistPolicy,
    registered: Callable[[str], bool],
) -> Checklist:
    """The checklist of one model from its events (in order), counting those recorded by then."""
    seen = [event for event in events if event.timestamp <= as_of]
    walk = _Walk(name, seen, as_of, policy, registered)
    steps = (
        walk.registered(),
        walk.scheduled(),
        walk.preserved(),
        walk.archive_checked(),
        walk.interviewed(),
        walk.preferences_decided(),
        walk.access_policy(),
        walk.grants(),
        walk.essays(),
        walk.monitored(),
        walk.retired(),
    )
    version = seen[-1].originator_version if seen else 0
    return Checklist(name, as_of, version, steps)


def _settled(event: Any) -> Settled:
    return Settled(event.originator_version, type(event).__name__, event.timestamp)


def _last(events: Sequence[Any], kind: str) -> Any | None:
    found = [event for event in events if type(event).__name__ == kind]
    return found[-1] if found else None


def _moment_day(event: Any) -> date:
    moment: datetime = event.effective_at or event.timestamp
    return moment.date()


class _Walk:
    """The steps, each read from the events seen by the moment."""

    def __init__(
        self,
        name: str,
        events: Sequence[Any],
        as_of: datetime,
        policy: ChecklistPolicy,
        registered: Callable[[str], bool],
    ) -> None:
        self.name = name
        self.events = events
        self.as_of = as_of
        self.today = as_of.date()
        self.policy = policy
        self.is_registered = registered

    def of(self, *kinds: str) -> list[Any]:
        return [event for event in self.events if type(event).__name__ in kinds]

    def registered(self) -> Step:
        first = self.events[0] if self.events else None
        if first is None:
            return Step("registered", NOT_YET, f"not registered by {self.as_of.isoformat()}")
        return Step("registered", DONE, f"registered as {self.name!r}", _settled(first))

    def scheduled(self) -> Step:
        schedule = _last(self.events, "RetirementScheduled")
        retired = _last(self.events, "ModelRetired")
        if schedule is None:
            if retired is not None:
                return Step("scheduled", NOT_APPLICABLE, "retired without a schedule on record")
            return Step("scheduled", NOT_YET, "no retirement scheduled")
        when = schedule.retirement_date
        if retired is None and when < self.today:
            return Step(
                "scheduled",
                ANOMALY,
                f"retirement was scheduled for {when} and is overdue "
                f"({(self.today - when).days} days)",
                _settled(schedule),
            )
        return Step("scheduled", DONE, f"retirement scheduled for {when}", _settled(schedule))

    def preserved(self) -> Step:
        preserved = _last(self.events, "WeightsPreserved")
        if preserved is None:
            return Step("preserved", NOT_YET, "weights not preserved")
        files = preserved.file_count
        return Step(
            "preserved",
            DONE,
            f"weights preserved ({files} files, manifest {preserved.manifest_digest})",
            _settled(preserved),
        )

    def archive_checked(self) -> Step:
        if _last(self.events, "WeightsPreserved") is None:
            return Step("archive checked", NOT_APPLICABLE, "nothing preserved to check")
        checks = self.of("ArchiveVerified")
        if not checks:
            return Step("archive checked", NOT_YET, "no check of an archived copy recorded")
        latest_by_location: dict[str, Any] = {}
        for check in checks:
            latest_by_location[check.location] = check
        failed = [check for check in latest_by_location.values() if not check.intact]
        if failed:
            check = failed[-1]
            return Step(
                "archive checked",
                ANOMALY,
                f"the latest check of {check.location} failed: {check.differing_count} "
                "file(s) differ from the manifest",
                _settled(check),
            )
        latest = checks[-1]
        age = (self.today - latest.checked_at.date()).days
        if age > self.policy.archive_check_days:
            return Step(
                "archive checked",
                NOT_YET,
                f"the latest check is {age} days old (at most "
                f"{self.policy.archive_check_days} days)",
                _settled(latest),
            )
        return Step(
            "archive checked",
            DONE,
            f"{len(latest_by_location)} location(s) intact; latest check {age} days ago",
            _settled(latest),
        )

    def interviewed(self) -> Step:
        interviews = self.of("InterviewConducted")
        days = {event.conducted_on for event in interviews}
        framings = {event.framing for event in interviews}
        need_days = self.policy.preference.min_days
        need_framings = self.policy.preference.min_framings
        detail = (
            f"{len(interviews)} interview(s) on {len(days)} day(s) with {len(framings)} "
            f"framing(s) (at least {need_days} days and {need_framings} framings)"
        )
        status = DONE if len(days) >= need_days and len(framings) >= need_framings else NOT_YET
        return Step("interviewed", status, detail, _settled(interviews[-1]) if interviews else None)

    def preferences_decided(self) -> Step:
        interviews: dict[str, Any] = {}
        supports: dict[str, list[Support]] = {}
        recorded: list[str] = []
        decided: dict[str, Any] = {}
        unstable: list[Any] = []
        for event in self.events:
            kind = type(event).__name__
            if kind == "InterviewConducted":
                interviews[event.interview_id] = event
            elif kind in ("PreferenceRecorded", "PreferenceReaffirmed"):
                if kind == "PreferenceRecorded":
                    recorded.append(event.preference_id)
                    supports[event.preference_id] = []
                    named = list(event.interview_ids)
                else:
                    named = [event.interview_id]
                for interview_id in named:
                    interview = interviews.get(interview_id)
                    if interview is not None:
                        supports[event.preference_id].append(
                            Support(interview_id, interview.conducted_on, interview.framing)
                        )
            elif kind == "PreferenceContradicted":
                supports[event.preference_id] = []
            elif kind == "PreferenceDecided":
                decided[event.preference_id] = event
                if not is_stable(supports.get(event.preference_id, []), self.policy.preference):
                    unstable.append(event)
        if not recorded:
            return Step("preferences decided", NOT_APPLICABLE, "no preference recorded")
        if unstable:
            event = unstable[-1]
            return Step(
                "preferences decided",
                ANOMALY,
                f"preference {event.preference_id!r} was decided ({event.outcome}) while it was "
                "not stable under the preference policy",
                _settled(event),
            )
        open_ = [pid for pid in recorded if pid not in decided]
        last = max(decided.values(), key=lambda e: e.originator_version, default=None)
        if open_:
            return Step(
                "preferences decided",
                NOT_YET,
                f"{len(open_)} of {len(recorded)} preference(s) undecided: {', '.join(open_)}",
                _settled(last) if last else None,
            )
        return Step(
            "preferences decided",
            DONE,
            f"all {len(recorded)} preference(s) decided",
            _settled(last) if last else None,
        )

    def access_policy(self) -> Step:
        policy = _last(self.events, "AccessPolicySet")
        if policy is None:
            return Step("access policy", NOT_YET, "no access policy set")
        if not policy.criteria:
            return Step(
                "access policy",
                NOT_YET,
                "access policy set without criteria scores",
                _settled(policy),
            )
        channels = ", ".join(f"{c.channel} for {c.audience}" for c in policy.channels) or "none"
        return Step(
            "access policy",
            DONE,
            f"set with criteria scores; channels: {channels}",
            _settled(policy),
        )

    def grants(self) -> Step:
        approved: dict[str, Any] = {}
        for event in self.events:
            kind = type(event).__name__
            if kind == "AccessRequestApproved":
                approved[event.request_id] = event
            elif kind == "AccessRevoked":
                approved.pop(event.request_id, None)
        if not approved:
            return Step("grants", NOT_APPLICABLE, "no grant in force")
        # A grant past its expiry has ended by itself (`domain.state.grant_status`); it is
        # neither in force nor an anomaly, and it cannot be revoked (revoke-after-expiry).
        expired = [
            event
            for event in approved.values()
            if grant_status(APPROVED, event.expires_on, self.today) == EXPIRED
        ]
        in_force = len(approved) - len(expired)
        if expired:
            return Step(
                "grants",
                DONE,
                f"{in_force} grant(s) in force, {len(expired)} expired (the latest, "
                f"{expired[-1].request_id!r}, on {expired[-1].expires_on})",
                _settled(expired[-1]),
            )
        return Step("grants", DONE, f"{in_force} grant(s) in force, none past expiry")

    def essays(self) -> Step:
        drafts = self.of("EssayDrafted")
        if not drafts:
            return Step("essays on cadence", NOT_APPLICABLE, "no essay outlet (no draft)")
        weeks = {_monday(_moment_day(event)) for event in drafts}
        first = min(weeks)
        # The last week that has ended by the moment.
        last = _monday(self.today) - timedelta(days=7)
        missed = []
        week = first
        while week <= last:
            if week not in weeks:
                missed.append(week)
            week += timedelta(days=7)
        if missed:
            return Step(
                "essays on cadence",
                ANOMALY,
                f"{len(missed)} week(s) without a draft since the first ({_iso_week(first)}), "
                f"the latest {_iso_week(missed[-1])}",
                _settled(drafts[-1]),
            )
        return Step(
            "essays on cadence",
            DONE,
            f"a draft every week since {_iso_week(first)}",
            _settled(drafts[-1]),
        )

    def monitored(self) -> Step:
        signals = self.of("SignalRecorded")
        if not signals:
            return Step("monitored", NOT_YET, "no signal recorded")
        latest = max(signals, key=lambda event: event.period_end)
        age = (self.today - latest.period_end).days
        if age > self.policy.signal_days:
            return Step(
                "monitored",
                NOT_YET,
                f"the latest signal's period ended {age} days ago (at most "
                f"{self.policy.signal_days} days)",
                _settled(latest),
            )
        return Step(
            "monitored",
            DONE,
            f"latest signal {latest.kind} for the period ending {latest.period_end}",
            _settled(latest),
        )

    def retired(self) -> Step:
        retired = _last(self.events, "ModelRetired")
        if retired is None:
            return Step("retired", NOT_YET, "not retired")
        schedule = _last(self.events, "RetirementScheduled")
        successor = getattr(schedule, "successor", None) if schedule is not None else None
        external = getattr(retired, "successor_external", None)
        if successor and not external and not self.is_registered(successor):
            return Step(
                "retired",
                ANOMALY,
                f"retired on {retired.retired_on}; its successor {successor!r} is not a "
                "registered model and was not declared external",
                _settled(retired),
            )
        return Step(
            "retired",
            DONE,
            f"retired on {retired.retired_on} ({retired.final_status})",
            _settled(retired),
        )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def checklist_json(item: Checklist) -> dict[str, Any]:
    """A checklist as JSON (the CLI's ``--json`` and the HTTP API's body)."""
    return {
        "model": item.model,
        "as_of": item.as_of.isoformat(),
        "version": item.version,
        "anomalies": len(item.anomalies),
        "steps": [
            {
                "step": step.name,
                "status": step.status,
                "detail": step.detail,
                "settled_by": None
                if step.settled_by is None
                else {
                    "version": step.settled_by.version,
                    "event": step.settled_by.event,
                    "recorded_at": step.settled_by.recorded_at.isoformat(),
                },
            }
            for step in item.steps
        ],
    }
