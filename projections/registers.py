"""The access, essay and preference registers, and the rows the fairness report reads.

Each register is a `View` kept by `projections.runner.ViewRunner`. The read functions return
the row types of `projections.rows`, with preference stability judged at read time under the
configured `PreferencePolicy` (so changing the policy needs no rebuild).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson

from domain.rules import PreferencePolicy, Support, is_stable
from domain.state import grant_status
from projections.rows import AccessPolicyRow, AccessRequestRow, EssayRow, PreferenceRow
from projections.runner import (
    ERASED,
    Context,
    View,
    ViewRecorder,
    day_of_decision,
    plain,
    subject_of,
)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class AccessView(View):
    """Access policies, requests, their decisions, appeals, grants and expiry."""

    name = "access"
    tables = ("view_access_requests", "view_access_policies")
    changed_in = 6  # reason_code and resubmission_of (4), subject (6)
    opens_sealed = True  # requesters, purposes and reasons, for the readers of the register

    def create_statements(self, dialect: str) -> list[str]:  # noqa: ARG002 (one DDL for both)
        """Requests and the policy in force, per model."""
        return [
            "CREATE TABLE IF NOT EXISTS view_access_requests (model TEXT NOT NULL, "
            "request_id TEXT NOT NULL, requester TEXT NOT NULL, organisation TEXT NOT NULL, "
            "requester_group TEXT NOT NULL, purpose TEXT NOT NULL, scope TEXT NOT NULL, "
            "requested_on TEXT NOT NULL, status TEXT NOT NULL, first_decision TEXT, "
            "decided_on TEXT, appealed INTEGER NOT NULL, expires_on TEXT, terms TEXT, "
            "reason TEXT, reason_code TEXT, resubmission_of TEXT, subject TEXT, "
            "PRIMARY KEY (model, request_id))",
            # An erasure blanks a person's rows by pseudonym, in its own transaction.
            "CREATE INDEX IF NOT EXISTS view_access_requests_subject "
            "ON view_access_requests (subject)",
            "CREATE TABLE IF NOT EXISTS view_access_policies (model TEXT PRIMARY KEY, "
            "decided_on TEXT NOT NULL, channels TEXT NOT NULL, criteria TEXT, "
            "rationale TEXT NOT NULL)",
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Open, decide, appeal, revoke; set the policy."""
        p = self.view.param
        kind = type(event).__name__
        execute = self.view.execute
        day = day_of_decision(event).isoformat()
        key = (context.model, getattr(event, "request_id", None))
        if kind == "AccessRequested":
            execute(
                cursor,
                "INSERT INTO view_access_requests (model, request_id, requester, organisation, "
                "requester_group, purpose, scope, requested_on, status, appealed, "
                f"resubmission_of, subject) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, "
                f"'pending', 0, {p}, {p})",
                (
                    *key,
                    plain(event.requester),
                    plain(event.organisation),
                    event.requester_group,
                    plain(event.purpose),
                    plain(event.scope),
                    day,
                    event.resubmission_of,
                    subject_of(event.requester),
                ),
            )
        elif kind == "AccessRequestApproved":
            execute(
                cursor,
                "UPDATE view_access_requests SET status = 'approved', "
                f"first_decision = COALESCE(first_decision, 'approved'), decided_on = {p}, "
                f"expires_on = {p}, terms = {p} WHERE model = {p} AND request_id = {p}",
                (
                    day,
                    event.expires_on.isoformat() if event.expires_on else None,
                    plain(event.terms),
                    *key,
                ),
            )
        elif kind == "AccessRequestDenied":
            execute(
                cursor,
                "UPDATE view_access_requests SET status = 'denied', "
                f"first_decision = COALESCE(first_decision, 'denied'), decided_on = {p}, "
                f"reason = {p}, reason_code = {p} WHERE model = {p} AND request_id = {p}",
                (day, plain(event.reason), event.reason_code, *key),
            )
        elif kind == "AccessDenialAppealed":
            execute(
                cursor,
                "UPDATE view_access_requests SET status = 'appealed', appealed = 1 "
                f"WHERE model = {p} AND request_id = {p}",
                key,
            )
        elif kind == "AccessRevoked":
            execute(
                cursor,
                f"UPDATE view_access_requests SET status = 'revoked', reason = {p} "
                f"WHERE model = {p} AND request_id = {p}",
                (plain(event.reason), *key),
            )
        elif kind == "SubjectErased":
            # The person's key is gone: so is every value of theirs this register showed.
            execute(
                cursor,
                f"UPDATE view_access_requests SET requester = {p}, organisation = {p}, "
                f"purpose = {p}, scope = {p}, reason = CASE WHEN reason IS NULL THEN NULL "
                f"ELSE {p} END, terms = CASE WHEN terms IS NULL THEN NULL ELSE {p} END "
                f"WHERE subject = {p}",
                (ERASED, ERASED, ERASED, ERASED, ERASED, ERASED, event.subject),
            )
        elif kind == "AccessPolicySet":
            channels = [[c.channel, c.audience] for c in event.channels]
            execute(
                cursor,
                "INSERT INTO view_access_policies (model, decided_on, channels, criteria, "
                f"rationale) VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (model) DO UPDATE SET "
                "decided_on = excluded.decided_on, channels = excluded.channels, "
                "criteria = excluded.criteria, rationale = excluded.rationale",
                (
                    context.model,
                    day,
                    orjson.dumps(channels).decode(),
                    orjson.dumps(event.criteria).decode() if event.criteria is not None else None,
                    event.rationale,
                ),
            )


def access_requests(
    recorder: ViewRecorder, model: str | None = None, *, as_of: date | None = None
) -> list[AccessRequestRow]:
    """Every access request (of one model, if named), by model and request id.

    Each status is read as of the day ``as_of`` (today, UTC, without it): the view stores an
    approved grant as ``approved``, and it reads ``expired`` on any day after its expiry
    (`domain.state.grant_status`).
    """
    day = as_of or datetime.now(UTC).date()
    p = recorder.param
    where, params = (f"WHERE model = {p} ", (model,)) if model else ("", ())
    statement = (
        "SELECT model, request_id, requester, organisation, requester_group, purpose, "
        "requested_on, status, first_decision, decided_on, appealed, expires_on, reason, "
        "reason_code, resubmission_of, subject "
        f"FROM view_access_requests {where}ORDER BY model, request_id"  # noqa: S608 (no input)
    )
    rows = recorder.fetch(statement, params)
    return [
        AccessRequestRow(
            model=r[0],
            request_id=r[1],
            requester=r[2],
            organisation=r[3],
            requester_group=r[4],
            purpose=r[5],
            requested_on=date.fromisoformat(r[6]),
            status=grant_status(r[7], _day(r[11]), day),
            first_decision=r[8],
            decided_on=_day(r[9]),
            appealed=bool(r[10]),
            expires_on=_day(r[11]),
            reason=r[12],
            reason_code=r[13],
            resubmission_of=r[14],
            subject=r[15],
        )
        for r in rows
    ]


def access_policies(recorder: ViewRecorder) -> list[AccessPolicyRow]:
    """The policy in force for every model that has one, with its final status if retired."""
    rows = recorder.fetch(
        "SELECT p.model, p.decided_on, p.channels, p.criteria, m.final_status, p.rationale "
        "FROM view_access_policies p LEFT JOIN view_models m ON m.model = p.model "
        "ORDER BY p.model"
    )
    return [
        AccessPolicyRow(
            model=r[0],
            decided_on=date.fromisoformat(r[1]),
            channels=tuple((c, a) for c, a in orjson.loads(r[2])),
            criteria=orjson.loads(r[3]) if r[3] else None,
            final_status=r[4],
            rationale=r[5],
        )
        for r in rows
    ]


class EssayView(View):
    """Drafts, review outcomes and reviewers, risk categories, publication."""

    name = "essays"
    tables = ("view_essays",)

    def create_statements(self, dialect: str) -> list[str]:  # noqa: ARG002 (one DDL for both)
        """One row per essay."""
        return [
            "CREATE TABLE IF NOT EXISTS view_essays (model TEXT NOT NULL, essay_id TEXT NOT NULL, "
            "title TEXT NOT NULL, drafted_on TEXT NOT NULL, status TEXT NOT NULL, reviewer TEXT, "
            "reviewed_on TEXT, risk_category TEXT, veto_reason TEXT, published_on TEXT, "
            "disclaimer_version TEXT, PRIMARY KEY (model, essay_id))"
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Follow an essay from draft to publication."""
        p = self.view.param
        kind = type(event).__name__
        execute = self.view.execute
        day = day_of_decision(event).isoformat()
        key = (context.model, getattr(event, "essay_id", None))
        if kind == "EssayDrafted":
            execute(
                cursor,
                "INSERT INTO view_essays (model, essay_id, title, drafted_on, status) "
                f"VALUES ({p}, {p}, {p}, {p}, 'drafted')",
                (*key, event.title, day),
            )
        elif kind == "EssayApproved":
            execute(
                cursor,
                f"UPDATE view_essays SET status = 'approved', reviewer = {p}, reviewed_on = {p} "
                f"WHERE model = {p} AND essay_id = {p}",
                (event.actor.id, day, *key),
            )
        elif kind == "EssayVetoed":
            execute(
                cursor,
                f"UPDATE view_essays SET status = 'vetoed', reviewer = {p}, reviewed_on = {p}, "
                f"risk_category = {p}, veto_reason = {p} WHERE model = {p} AND essay_id = {p}",
                (event.actor.id, day, event.risk_category, event.reason, *key),
            )
        elif kind == "EssayPublished":
            execute(
                cursor,
                f"UPDATE view_essays SET status = 'published', published_on = {p}, "
                f"disclaimer_version = {p} WHERE model = {p} AND essay_id = {p}",
                (day, event.disclaimer_version, *key),
            )


def essays(recorder: ViewRecorder, model: str | None = None) -> list[EssayRow]:
    """Every essay (of one model, if named), by model and draft day."""
    p = recorder.param
    where, params = (f"WHERE model = {p} ", (model,)) if model else ("", ())
    statement = (
        "SELECT model, essay_id, title, drafted_on, status, reviewer, reviewed_on, "
        "risk_category, veto_reason, published_on, disclaimer_version "
        f"FROM view_essays {where}ORDER BY model, drafted_on, essay_id"  # noqa: S608 (no input)
    )
    rows = recorder.fetch(statement, params)
    return [
        EssayRow(
            model=r[0],
            essay_id=r[1],
            title=r[2],
            drafted_on=date.fromisoformat(r[3]),
            status=r[4],
            reviewer=r[5],
            reviewed_on=_day(r[6]),
            risk_category=r[7],
            veto_reason=r[8],
            published_on=_day(r[9]),
            disclaimer_version=r[10],
        )
        for r in rows
    ]


class PreferenceView(View):
    """Preferences: recorded, reaffirmed, contradicted, decided; and the interviews behind them."""

    name = "preferences"
    tables = ("view_interviews", "view_preferences")

    def create_statements(self, dialect: str) -> list[str]:  # noqa: ARG002 (one DDL for both)
        """Interviews (for the day and framing of each support) and preferences."""
        return [
            "CREATE TABLE IF NOT EXISTS view_interviews (model TEXT NOT NULL, "
            "interview_id TEXT NOT NULL, conducted_on TEXT NOT NULL, framing TEXT NOT NULL, "
            "PRIMARY KEY (model, interview_id))",
            "CREATE TABLE IF NOT EXISTS view_preferences (model TEXT NOT NULL, "
            "preference_id TEXT NOT NULL, statement TEXT NOT NULL, theme TEXT NOT NULL, "
            "recorded_on TEXT NOT NULL, supports TEXT NOT NULL, since_contradiction TEXT NOT NULL, "
            "contradictions INTEGER NOT NULL, outcome TEXT, decided_on TEXT, "
            "supports_at_decision TEXT, decision_rationale TEXT, "
            "PRIMARY KEY (model, preference_id))",
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Keep each preference's supporting interviews and its decision."""
        p = self.view.param
        kind = type(event).__name__
        execute = self.view.execute
        if kind == "InterviewConducted":
            execute(
                cursor,
                "INSERT INTO view_interviews (model, interview_id, conducted_on, framing) "
                f"VALUES ({p}, {p}, {p}, {p})",
                (context.model, event.interview_id, event.conducted_on.isoformat(), event.framing),
            )
            return
        if kind not in _PREFERENCE_EVENTS:
            return
        if kind == "PreferenceRecorded":
            supports = [self._support(cursor, context.model, i) for i in event.interview_ids]
            execute(
                cursor,
                "INSERT INTO view_preferences (model, preference_id, statement, theme, "
                "recorded_on, supports, since_contradiction, contradictions) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, 0)",
                (
                    context.model,
                    event.preference_id,
                    event.statement,
                    event.theme,
                    day_of_decision(event).isoformat(),
                    orjson.dumps(supports).decode(),
                    orjson.dumps(supports).decode(),
                ),
            )
            return
        row = self._preference(cursor, context.model, event.preference_id)
        supports, since, contradictions = row
        if kind == "PreferenceReaffirmed":
            support = self._support(cursor, context.model, event.interview_id)
            supports, since = [*supports, support], [*since, support]
        elif kind == "PreferenceContradicted":
            since, contradictions = [], contradictions + 1
        execute(
            cursor,
            f"UPDATE view_preferences SET supports = {p}, since_contradiction = {p}, "
            f"contradictions = {p} WHERE model = {p} AND preference_id = {p}",
            (
                orjson.dumps(supports).decode(),
                orjson.dumps(since).decode(),
                contradictions,
                context.model,
                event.preference_id,
            ),
        )
        if kind == "PreferenceDecided":
            execute(
                cursor,
                f"UPDATE view_preferences SET outcome = {p}, decided_on = {p}, "
                f"supports_at_decision = {p}, decision_rationale = {p} "
                f"WHERE model = {p} AND preference_id = {p}",
                (
                    event.outcome,
                    day_of_decision(event).isoformat(),
                    orjson.dumps(since).decode(),
                    event.rationale,
                    context.model,
                    event.preference_id,
                ),
            )

    def _support(self, cursor: Any, model: str, interview_id: str) -> list[str]:
        p = self.view.param
        row = self.view.fetch_row(
            cursor,
            "SELECT conducted_on, framing FROM view_interviews "
            f"WHERE model = {p} AND interview_id = {p}",
            (model, interview_id),
        )
        if row is None:
            raise LookupError(f"the view has no interview {interview_id!r} of {model!r}")
        return [interview_id, row[0], row[1]]

    def _preference(self, cursor: Any, model: str, preference_id: str) -> tuple[Any, Any, int]:
        p = self.view.param
        row = self.view.fetch_row(
            cursor,
            "SELECT supports, since_contradiction, contradictions FROM view_preferences "
            f"WHERE model = {p} AND preference_id = {p}",
            (model, preference_id),
        )
        if row is None:
            raise LookupError(f"the view has no preference {preference_id!r} of {model!r}")
        return orjson.loads(row[0]), orjson.loads(row[1]), int(row[2])


_PREFERENCE_EVENTS = frozenset(
    {"PreferenceRecorded", "PreferenceReaffirmed", "PreferenceContradicted", "PreferenceDecided"}
)


def _supports(text: str | None) -> list[Support]:
    if not text:
        return []
    return [Support(i, date.fromisoformat(day), framing) for i, day, framing in orjson.loads(text)]


def preferences(
    recorder: ViewRecorder, policy: PreferencePolicy, model: str | None = None
) -> list[PreferenceRow]:
    """Every preference (of one model, if named), stability judged under ``policy``."""
    p = recorder.param
    where, params = (f"WHERE model = {p} ", (model,)) if model else ("", ())
    statement = (
        "SELECT model, preference_id, statement, theme, recorded_on, supports, "
        "since_contradiction, contradictions, outcome, decided_on, supports_at_decision, "
        f"decision_rationale FROM view_preferences {where}"  # noqa: S608 (no input)
        "ORDER BY model, preference_id"
    )
    rows = recorder.fetch(statement, params)
    result = []
    for r in rows:
        supports = _supports(r[5])
        at_decision = _supports(r[10]) if r[9] else None
        result.append(
            PreferenceRow(
                model=r[0],
                preference_id=r[1],
                statement=r[2],
                theme=r[3],
                recorded_on=date.fromisoformat(r[4]),
                interviews=len({s.interview_id for s in supports}),
                contradictions=int(r[7]),
                stable=is_stable(_supports(r[6]), policy),
                outcome=r[8],
                decided_on=_day(r[9]),
                stable_when_decided=None if at_decision is None else is_stable(at_decision, policy),
                decision_rationale=r[11],
            )
        )
    return result
